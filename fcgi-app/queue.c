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

/* Add the microseconds since T0 (monotonic) to *US, when US is not NULL. */
static void add_us(long *us, const struct timespec *t0)
{
    if (us == NULL)
        return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *us += (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

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
    add_us(us, &t0);
    return rc;
}

/* ---- the dead list, and what is scheduled or running ----
 * One implementation for `honeydue-worker jobs dead|retry|delete` (over the
 * consumer's connection) and the admin API (over the cache's). */

json_object *queue_dead_texts(redis_conn *c, long n, long *us)
{
    char last[24];
    snprintf(last, sizeof(last), "%ld", n - 1);
    const char *argv[] = {"LRANGE", keys_job_dead, "0", last};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    redisReply *r = redis_command(c, 4, argv, NULL);
    add_us(us, &t0);
    if (r == NULL)
        return NULL;
    json_object *a = NULL;
    if (r->type == REDIS_REPLY_ARRAY) {
        a = json_object_new_array();
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                json_object_array_add(
                    a, json_object_new_string_len(r->element[i]->str, (int)r->element[i]->len));
    }
    freeReplyObject(r);
    return a;
}

/* KEYS: hd:dead. ARGV: "one" or "all", the id (for "one"). {n, type}: for
 * "all", the dead list's length; for "one", 1 and the job's type when it is
 * there, else 0. */
static const char dead_peek_lua[] =
    "if ARGV[1] == 'all' then return {redis.call('LLEN', KEYS[1]), false} end "
    "for _, job in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do "
    "  local ok, j = pcall(cjson.decode, job) "
    "  if ok and type(j) == 'table' and j.id == ARGV[2] then "
    "    return {1, type(j.type) == 'string' and j.type or '?'} end "
    "end return {0, false}";

int queue_dead_peek(redis_conn *c, const char *id, long long *n, char *type, size_t cap, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *argv[] = {keys_job_dead, id ? "one" : "all", id ? id : ""};
    redisReply *r = redis_eval_checked(c, dead_peek_lua, 1, 3, argv);
    int rc = -1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER)
        goto done;
    *n = r->element[0]->integer;
    if (type != NULL && cap > 0) {
        type[0] = '\0';
        if (r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING)
            snprintf(type, cap, "%s", r->element[1]->str);
    }
    rc = 0;
done:
    if (r != NULL)
        freeReplyObject(r);
    add_us(us, &t0);
    return rc;
}

/* KEYS: hd:dead. ARGV: "one" or "all", the id (for "one"), "retry" or
 * "discard", the queues' key prefix, the fallback queue. How many left the
 * dead list. A retried job starts over: back on its queue with no attempt
 * made and no error. An entry that is not a job document (the consumer
 * puts what it cannot parse there as it is) can be discarded, not retried. */
static const char dead_apply_lua[] =
    "local n = 0 "
    "for _, job in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do "
    "  local ok, j = pcall(cjson.decode, job) "
    "  if not ok or type(j) ~= 'table' then j = nil end "
    "  if ARGV[1] == 'all' or (j and j.id == ARGV[2]) then "
    "    redis.call('LREM', KEYS[1], 1, job) n = n + 1 "
    "    if ARGV[3] == 'retry' and j then "
    "      j.attempt = 0 j.last_error = nil j.failed_at = nil "
    "      local q = type(j.queue) == 'string' and j.queue or ARGV[5] "
    "      redis.call('LPUSH', ARGV[4] .. q, cjson.encode(j)) end "
    "  end "
    "end return n";

int queue_dead_apply(redis_conn *c, const char *id, queue_dead_op op, long long *count, long *us)
{
    const char *argv[] = {keys_job_dead,         id ? "one" : "all",
                          id ? id : "",          op == QUEUE_DEAD_RETRY ? "retry" : "discard",
                          keys_job_queue_prefix, queue_fallback()};
    return redis_eval_int(c, dead_apply_lua, 1, 6, argv, count, us);
}

/* KEYS: hd:scheduled, hd:active, hd:lease, hd:dead. ARGV: the most of each
 * to list. Three arrays: the scheduled jobs (soonest first), the running
 * ones (soonest lease expiry first), the dead ones (newest first); each job
 * {id, type, queue, attempt, max_attempts, last_error, at} where at is its
 * run time, its lease's expiry or when it died (Unix seconds), and a field
 * the document lacks is nil. Only these fields leave Redis, never a
 * payload; an entry that is not a job document with an id is left out. */
static const char jobs_list_lua[] =
    "local lim = tonumber(ARGV[1]) "
    "local function str(v) if type(v) == 'string' then return v end return false end "
    "local function num(v) if type(v) == 'number' then return math.floor(v) end return false end "
    "local function job(text, at) "
    "  local ok, j = pcall(cjson.decode, text) "
    "  if not ok or type(j) ~= 'table' or type(j.id) ~= 'string' then return nil end "
    "  return {j.id, str(j.type), str(j.queue), num(j.attempt), num(j.max_attempts), "
    "          str(j.last_error), at or num(j.failed_at)} "
    "end "
    "local out = {{}, {}, {}} "
    "local s = redis.call('ZRANGE', KEYS[1], 0, lim - 1, 'WITHSCORES') "
    "for i = 1, #s, 2 do "
    "  local x = job(s[i], math.floor(tonumber(s[i + 1]))) "
    "  if x then table.insert(out[1], x) end "
    "end "
    "local l = redis.call('ZRANGE', KEYS[3], 0, lim - 1, 'WITHSCORES') "
    "for i = 1, #l, 2 do "
    "  local text = redis.call('HGET', KEYS[2], l[i]) "
    "  if text then "
    "    local x = job(text, math.floor(tonumber(l[i + 1]))) "
    "    if x then table.insert(out[2], x) end "
    "  end "
    "end "
    "for _, text in ipairs(redis.call('LRANGE', KEYS[4], 0, lim - 1)) do "
    "  local x = job(text, nil) "
    "  if x then table.insert(out[3], x) end "
    "end "
    "return out";

/* Field I of a job's reply: a string, or DEF when it is nil. */
static json_object *job_str_at(const redisReply *j, size_t i, const char *def)
{
    if (i < j->elements && j->element[i]->type == REDIS_REPLY_STRING)
        return json_object_new_string_len(j->element[i]->str, (int)j->element[i]->len);
    return def != NULL ? json_object_new_string(def) : NULL;
}

static json_object *job_int_at(const redisReply *j, size_t i, long long def)
{
    if (i < j->elements && j->element[i]->type == REDIS_REPLY_INTEGER)
        return json_object_new_int64(j->element[i]->integer);
    return json_object_new_int64(def);
}

enum { JOB_ID, JOB_TYPE, JOB_QUEUE, JOB_ATTEMPT, JOB_MAX, JOB_ERROR, JOB_AT };

/* One listed job as the admin API shows it. KIND: 0 scheduled, 1 running,
 * 2 dead. */
static json_object *job_entry(const redisReply *j, int kind)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", job_str_at(j, JOB_ID, ""));
    json_object_object_add(o, "type", job_str_at(j, JOB_TYPE, "?"));
    json_object_object_add(o, "queue", job_str_at(j, JOB_QUEUE, queue_fallback()));
    json_object_object_add(o, "attempt", job_int_at(j, JOB_ATTEMPT, 0));
    if (kind != 1)
        json_object_object_add(o, "max_attempts", job_int_at(j, JOB_MAX, 1));
    if (kind == 0) {
        json_object_object_add(o, "run_at", job_int_at(j, JOB_AT, 0));
        json_object_object_add(o, "last_error", job_str_at(j, JOB_ERROR, NULL));
    } else if (kind == 1) {
        json_object_object_add(o, "lease_until", job_int_at(j, JOB_AT, 0));
    } else {
        json_object_object_add(o, "last_error", job_str_at(j, JOB_ERROR, ""));
        json_object_object_add(o, "failed_at", job_int_at(j, JOB_AT, 0));
    }
    return o;
}

int queue_jobs_read(redis_conn *c, int limit, queue_jobs *out, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *argv[] = {keys_job_scheduled, keys_job_active, keys_job_lease, keys_job_dead, lim};
    memset(out, 0, sizeof(*out));
    redisReply *r = redis_eval_checked(c, jobs_list_lua, 4, 5, argv);
    int rc = -1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        goto done;
    json_object *lists[3];
    for (int k = 0; k < 3; k++) {
        lists[k] = json_object_new_array();
        const redisReply *l = r->element[k];
        for (size_t i = 0; l->type == REDIS_REPLY_ARRAY && i < l->elements; i++)
            if (l->element[i]->type == REDIS_REPLY_ARRAY)
                json_object_array_add(lists[k], job_entry(l->element[i], k));
    }
    out->scheduled = lists[0];
    out->running = lists[1];
    out->dead = lists[2];
    rc = 0;
done:
    if (r != NULL)
        freeReplyObject(r);
    add_us(us, &t0);
    return rc;
}
