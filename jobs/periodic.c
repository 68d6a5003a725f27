/*
 * periodic.c - the periodic jobs, and the outbox drain.
 *
 * Every worker process calls periodic_tick() once a second, but only the
 * holder of the Redis lock hd:scheduler (renewed while held, taken over when
 * its holder stops renewing) enqueues: for each periodic job and each
 * period ("slot"), a marker hd:periodic:<type>:<slot> is claimed in the same
 * script (consumer_claim_periodic), so even a lock that changes hands
 * mid-slot never enqueues a slot twice. Several replicas are therefore safe.
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
    {"documents.sweep", "HONEYDUE_DOCUMENT_SWEEP_EVERY_SECONDS", 300},
    {"documents.reconcile", "HONEYDUE_DOCUMENT_RECONCILE_EVERY_SECONDS", 86400},
};

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
        if (consumer_claim_periodic(me, periodic[i].type, now / every, every * 2 + 60) == 1) {
            json_object *p = json_object_new_object();
            json_object_object_add(p, "slot", json_object_new_int64(now / every));
            queue_enqueue(periodic[i].type, p, NULL, 0, 0, NULL);
        }
    }
}

/* Move what the API parked in the Postgres outbox (Redis was down) to
 * Redis. A job that cannot be queued goes back to the outbox. */
void periodic_drain_outbox(void)
{
    char state[6];
    PGresult *res = db_exec("jobs_outbox_take", 0, NULL, state, NULL);
    if (res == NULL)
        return;
    int n = PQntuples(res), moved = 0;
    for (int i = 0; i < n; i++) {
        const char *args[] = {PQgetvalue(res, i, 0)};
        if (moved == i && consumer_push(args[0]) == 1) {
            moved++;
        } else {
            PGresult *b = db_exec("jobs_outbox_put_back", 1, args, state, NULL);
            if (b == NULL)
                log_line(LOG_ERROR, "jobs", "an outbox job was lost: redis and postgres failed");
            else
                PQclear(b);
        }
    }
    if (moved > 0)
        log_line(LOG_INFO, "jobs", "moved %d job(s) from the postgres outbox to redis", moved);
    PQclear(res);
}
