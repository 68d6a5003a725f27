/*
 * periodic.c - the periodic jobs, and the outbox drain.
 *
 * Every worker process calls periodic_tick() once a second, but only the
 * holder of the Redis lock hd:scheduler (renewed while held, taken over when
 * its holder stops renewing) enqueues: for each periodic job and each
 * period ("slot"), a marker hd:periodic:<type>:<slot> is claimed in the same
 * script, so even a lock that changes hands mid-slot never enqueues a slot
 * twice. Several replicas are therefore safe.
 */
#include "jobs.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "consumer.h"
#include "db.h"
#include "log.h"
#include "queue.h"

typedef struct {
    const char *type;
    const char *every_key; /* configuration key holding the period, seconds */
    long every_def;
} periodic_job;

static const periodic_job periodic[] = {
    {"reminders.daily", "HONEYDUE_REMINDER_EVERY_SECONDS", 600},
};

#define LOCK_MS "5000" /* renewed every second; a dead holder is replaced within 5 s */

/* KEYS: lock, marker. ARGV: me, lock ms, marker seconds. 1: enqueue now. */
static const char tick_lua[] =
    "local holder = redis.call('GET', KEYS[1]) "
    "if holder and holder ~= ARGV[1] then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[3]) then return 1 end "
    "return 0";

void periodic_tick(void)
{
    static char me[40];
    if (me[0] == '\0') {
        unsigned char raw[8];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(me, sizeof(me), raw, sizeof(raw));
    }
    long long now = (long long)time(NULL);
    for (size_t i = 0; i < sizeof(periodic) / sizeof(periodic[0]); i++) {
        long every = config_int(periodic[i].every_key, periodic[i].every_def);
        if (every < 1)
            every = 1;
        char marker[128], ttl[24];
        snprintf(marker, sizeof(marker), "hd:periodic:%s:%lld", periodic[i].type, now / every);
        snprintf(ttl, sizeof(ttl), "%ld", every * 2 + 60);
        const char *args[] = {"hd:scheduler", marker, me, LOCK_MS, ttl};
        char *r = consumer_eval_json(tick_lua, 2, 5, args);
        if (r != NULL && strcmp(r, "1") == 0) {
            json_object *p = json_object_new_object();
            json_object_object_add(p, "slot", json_object_new_int64(now / every));
            queue_enqueue(periodic[i].type, p, NULL, 0, 0, NULL);
        }
        free(r);
    }
}

/* KEYS: none. ARGV: a job. Queued by its run_at, as queue_enqueue does. */
static const char push_lua[] =
    "local t = redis.call('TIME') local j = cjson.decode(ARGV[1]) "
    "if type(j.run_at) == 'number' and j.run_at > tonumber(t[1]) then "
    "  redis.call('ZADD', 'hd:scheduled', j.run_at, ARGV[1]) "
    "else redis.call('LPUSH', 'hd:queue:' .. (j.queue or 'default'), ARGV[1]) end "
    "return 1";

/* Move what the API parked in the Postgres outbox (Redis was down) to
 * Redis. A job that cannot be queued goes back to the outbox. */
void drain_outbox(void)
{
    char state[6];
    PGresult *res = db_exec("jobs_outbox_take", 0, NULL, state, NULL);
    if (res == NULL)
        return;
    int n = PQntuples(res), moved = 0;
    for (int i = 0; i < n; i++) {
        const char *job = PQgetvalue(res, i, 0);
        const char *args[] = {job};
        char *r = moved == i ? consumer_eval_json(push_lua, 0, 1, args) : NULL;
        if (r != NULL && strcmp(r, "1") == 0) {
            moved++;
        } else {
            PGresult *b = db_exec("jobs_outbox_put_back", 1, args, state, NULL);
            if (b == NULL)
                log_line(LOG_ERROR, "jobs", "an outbox job was lost: redis and postgres failed");
            else
                PQclear(b);
        }
        free(r);
    }
    if (moved > 0)
        log_line(LOG_INFO, "jobs", "moved %d job(s) from the postgres outbox to redis", moved);
    PQclear(res);
}
