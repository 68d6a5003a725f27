/*
 * queue.c - enqueue jobs for honeydue-worker (see queue.h for the format),
 * and read what the queue holds.
 *
 * One EVAL puts a job on its queue (or the scheduled set) and claims its
 * unique key in the same step, so two requests racing to enqueue the same
 * unique job cannot both succeed. When Redis is unavailable the job goes to
 * the Postgres outbox (sql/queue.sql); the worker moves it to Redis later.
 */
#include "queue.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "db.h"
#include "keys.h"
#include "log.h"

/* The tables of jobs/types.def. */
#define JOB_QUEUE(name, weight, fallback)
#define JOB_TYPE(type, handler, queue, max_attempts, timeout_s)                                    \
    {type, queue, max_attempts, timeout_s},
const queue_type queue_types[] = {
#include "types.def"
    {NULL, NULL, 0, 0},
};
#undef JOB_TYPE
#undef JOB_QUEUE

#define JOB_QUEUE(name, weight, fallback) {name, weight, fallback},
#define JOB_TYPE(type, handler, queue, max_attempts, timeout_s)
const queue_def queue_defs[] = {
#include "types.def"
};
#undef JOB_TYPE
#undef JOB_QUEUE
const int queue_defs_n = (int)(sizeof(queue_defs) / sizeof(queue_defs[0]));
_Static_assert(sizeof(queue_defs) / sizeof(queue_defs[0]) <= QUEUE_MAX,
               "more queues in jobs/types.def than QUEUE_MAX");

const queue_type *queue_type_find(const char *type)
{
    for (const queue_type *t = queue_types; t->type != NULL; t++)
        if (strcmp(t->type, type) == 0)
            return t;
    return NULL;
}

const char *queue_fallback(void)
{
    for (int i = 0; i < queue_defs_n; i++)
        if (queue_defs[i].fallback)
            return queue_defs[i].name;
    return queue_defs[0].name;
}

static void rfc3339(long long t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int queue_job_json(const char *id, const queue_type *t, json_object *payload,
                   const char *unique_key, long long run_at, long long now, char **out)
{
    char ts[32];
    json_object *job = json_object_new_object();
    json_object_object_add(job, "id", json_object_new_string(id));
    json_object_object_add(job, "type", json_object_new_string(t->type));
    json_object_object_add(job, "queue", json_object_new_string(t->queue));
    json_object_object_add(job, "payload", json_object_get(payload));
    json_object_object_add(job, "attempt", json_object_new_int(0));
    json_object_object_add(job, "max_attempts", json_object_new_int(t->max_attempts));
    json_object_object_add(job, "timeout", json_object_new_int(t->timeout_s));
    rfc3339(now, ts, sizeof(ts));
    json_object_object_add(job, "enqueued_at", json_object_new_string(ts));
    json_object_object_add(job, "unique_key",
                           unique_key ? json_object_new_string(unique_key) : NULL);
    json_object_object_add(job, "run_at", run_at > 0 ? json_object_new_int64(run_at) : NULL);
    *out = strdup(json_object_to_json_string_ext(job, JSON_C_TO_STRING_PLAIN));
    json_object_put(job);
    return *out ? 0 : -1;
}

/* KEYS: queue list, scheduled set, unique key ("" for none).
 * ARGV: job, run_at (0 = now), unique TTL, job id. 1 queued, 0 duplicate. */
static const char enqueue_lua[] =
    "if KEYS[3] ~= '' and not redis.call('SET',KEYS[3],ARGV[4],'NX','EX',ARGV[3]) then "
    "return 0 end "
    "if tonumber(ARGV[2]) > 0 then redis.call('ZADD',KEYS[2],ARGV[2],ARGV[1]) "
    "else redis.call('LPUSH',KEYS[1],ARGV[1]) end return 1";

int queue_enqueue(const char *type, json_object *payload, const char *unique_key, int unique_ttl,
                  long long run_at, long *us)
{
    const queue_type *t = queue_type_find(type);
    char *job = NULL;
    int rc = -1;
    if (t == NULL) {
        log_line(LOG_ERROR, "queue", "unknown job type %s", type);
        goto done;
    }
    unsigned char raw[16];
    char id[33];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(id, sizeof(id), raw, sizeof(raw));
    long long now = (long long)time(NULL);
    if (run_at <= now)
        run_at = 0;
    if (queue_job_json(id, t, payload, unique_key, run_at, now, &job) != 0)
        goto done;

    char qkey[KEYS_JOB_MAX], ukey[KEYS_JOB_MAX] = "", runs[24], ttls[16];
    keys_job_queue(qkey, sizeof(qkey), t->queue);
    if (unique_key != NULL && keys_job_unique(ukey, sizeof(ukey), unique_key) == NULL) {
        log_line(LOG_ERROR, "queue", "job %s (%s) not queued: its unique key is too long", id,
                 type);
        goto done;
    }
    snprintf(runs, sizeof(runs), "%lld", run_at);
    snprintf(ttls, sizeof(ttls), "%d", unique_ttl > 0 ? unique_ttl : 86400);
    const char *argv[] = {qkey, keys_job_scheduled, ukey, job, runs, ttls, id};
    long long result;
    if (redis_eval_int(cache_redis(), enqueue_lua, 3, 7, argv, &result, us) == 0) {
        rc = result == 1 ? 0 : 1;
        goto done;
    }

    /* Redis could not take it: the outbox keeps it until the worker can. */
    char state[6];
    const char *params[] = {job};
    PGresult *res = db_exec("queue_outbox_insert", 1, params, state, NULL);
    if (res != NULL) {
        log_line(LOG_WARN, "queue", "redis unavailable; job %s (%s) kept in the outbox", id, type);
        PQclear(res);
        rc = 0;
    } else {
        log_line(LOG_ERROR, "queue", "job %s (%s) lost: redis and postgres both failed", id, type);
    }
done:
    free(job);
    json_object_put(payload);
    return rc;
}

/* KEYS: the queues, then hd:scheduled, hd:active, hd:dead, hd:stats,
 * hd:documents, hd:push. {size of each queue, scheduled, active, dead,
 * {counter, value, ...}, {field, value, ...}, {field, value, ...}}. */
static const char stats_lua[] = "local n = #KEYS - 6 local out = {} "
                                "for i = 1, n do out[i] = redis.call('LLEN', KEYS[i]) end "
                                "out[n + 1] = redis.call('ZCARD', KEYS[n + 1]) "
                                "out[n + 2] = redis.call('HLEN', KEYS[n + 2]) "
                                "out[n + 3] = redis.call('LLEN', KEYS[n + 3]) "
                                "out[n + 4] = redis.call('HGETALL', KEYS[n + 4]) "
                                "out[n + 5] = redis.call('HGETALL', KEYS[n + 5]) "
                                "out[n + 6] = redis.call('HGETALL', KEYS[n + 6]) "
                                "return out";

/* A flat HGETALL reply as {field: integer}. */
static json_object *counters(const redisReply *h)
{
    json_object *o = json_object_new_object();
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            json_object_object_add(o, h->element[i]->str,
                                   json_object_new_int64(strtoll(h->element[i + 1]->str, NULL, 10)));
    return o;
}

static long long int_at(const redisReply *r, int i)
{
    return r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
}

int queue_stats_read(redis_conn *c, queue_stats *out, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char keys[QUEUE_MAX][KEYS_JOB_MAX];
    const char *argv[QUEUE_MAX + 6];
    int n = queue_defs_n;
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < n; i++)
        argv[i] = keys_job_queue(keys[i], sizeof(keys[i]), queue_defs[i].name);
    argv[n] = keys_job_scheduled;
    argv[n + 1] = keys_job_active;
    argv[n + 2] = keys_job_dead;
    argv[n + 3] = keys_job_stats;
    argv[n + 4] = keys_job_documents;
    argv[n + 5] = keys_push_stats;
    redisReply *r = redis_eval_checked(c, stats_lua, n + 6, n + 6, argv);
    int rc = -1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)n + 6 ||
        r->element[n + 3]->type != REDIS_REPLY_ARRAY ||
        r->element[n + 4]->type != REDIS_REPLY_ARRAY || r->element[n + 5]->type != REDIS_REPLY_ARRAY)
        goto done;
    for (int i = 0; i < n; i++)
        out->queued[i] = int_at(r, i);
    out->scheduled = int_at(r, n);
    out->active = int_at(r, n + 1);
    out->dead = int_at(r, n + 2);
    out->counters = counters(r->element[n + 3]);
    out->push = counters(r->element[n + 5]);
    const redisReply *d = r->element[n + 4];
    for (size_t i = 0; i + 1 < d->elements; i += 2) {
        if (d->element[i]->type != REDIS_REPLY_STRING ||
            d->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        long long v = strtoll(d->element[i + 1]->str, NULL, 10);
        if (strcmp(d->element[i]->str, "missing") == 0)
            out->doc_missing = v;
        else if (strcmp(d->element[i]->str, "orphans_removed") == 0)
            out->doc_orphans_removed = v;
        else if (strcmp(d->element[i]->str, "reconciled_at") == 0)
            out->doc_reconciled_at = v;
    }
    rc = 0;
done:
    if (r != NULL)
        freeReplyObject(r);
    if (us) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        *us += (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    }
    return rc;
}
