/*
 * consumer.c - take, extend, acknowledge, fail, promote and recover jobs
 * (see consumer.h), and the queue's numbers for the jobs CLI (its dead-list
 * operations are fcgi-app/queue.c's, shared with the admin API). Every move
 * between Redis keys is one Lua script, which gets its keys and key
 * prefixes from keys.h in KEYS and ARGV; the scripts use Redis's own clock
 * (TIME) so that several workers agree on what "expired" and "due" mean.
 */
#include "consumer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "keys.h"
#include "queue.h"
#include "redis.h"

#define DEAD_MAX 10000
#define TIMEOUT_MS 5000

static redis_conn conn;
static long base_ms = 10000;

int consumer_setup(void)
{
    base_ms = config_int("HONEYDUE_JOB_RETRY_BASE_MS", 10000);
    return redis_init(&conn, "jobs", "retrying", config_get("REDIS_URL"), TIMEOUT_MS);
}

void consumer_close(void)
{
    redis_close(&conn);
}

/* EVAL for an integer answer: the integer, or -1 on error. */
static long long eval_int(const char *script, int nkeys, int argc, const char *const *args)
{
    long long v;
    return redis_eval_int(&conn, script, nkeys, argc, args, &v, NULL) == 0 ? v : -1;
}

/* The clock every script uses. */
#define LUA_NOW "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1e6 "

/* KEYS: queues..., hd:active, hd:lease, hd:dead. ARGV[1]: lease seconds.
 * A job that is not valid JSON with an id can never run: it goes to the
 * dead list as it is. */
static const char take_lua[] =
    LUA_NOW "local n = #KEYS - 3 "
            "for i = 1, n do "
            "  while true do "
            "    local job = redis.call('RPOP', KEYS[i]) "
            "    if not job then break end "
            "    local ok, j = pcall(cjson.decode, job) "
            "    if ok and type(j) == 'table' and type(j.id) == 'string' then "
            "      redis.call('HSET', KEYS[n + 1], j.id, job) "
            "      redis.call('ZADD', KEYS[n + 2], now + tonumber(ARGV[1]), j.id) "
            "      return job "
            "    end "
            "    redis.call('LPUSH', KEYS[n + 3], job) "
            "  end "
            "end "
            "return false";

/* The queues' order for one take: each place drawn at random among the
 * queues left, by their weights. ORDER receives queue_defs_n indexes. */
static void take_order(int *order)
{
    int used[QUEUE_MAX] = {0};
    for (int k = 0; k < queue_defs_n; k++) {
        int total = 0, chosen = -1;
        for (int i = 0; i < queue_defs_n; i++)
            total += used[i] ? 0 : queue_defs[i].weight;
        int pick = total > 0 ? (int)(random() % total) : 0;
        for (int i = 0; i < queue_defs_n && chosen < 0; i++) {
            if (used[i])
                continue;
            if (pick < queue_defs[i].weight || total <= 0)
                chosen = i;
            else
                pick -= queue_defs[i].weight;
        }
        for (int i = queue_defs_n - 1; chosen < 0; i--) /* not reached: weights add up */
            if (!used[i])
                chosen = i;
        used[chosen] = 1;
        order[k] = chosen;
    }
}

int consumer_take(int lease_s, char **job)
{
    char keys[QUEUE_MAX][KEYS_JOB_MAX], lease[16];
    const char *args[QUEUE_MAX + 4];
    int order[QUEUE_MAX], n = queue_defs_n;
    take_order(order);
    for (int i = 0; i < n; i++)
        args[i] = keys_job_queue(keys[i], sizeof(keys[i]), queue_defs[order[i]].name);
    args[n] = keys_job_active;
    args[n + 1] = keys_job_lease;
    args[n + 2] = keys_job_dead;
    snprintf(lease, sizeof(lease), "%d", lease_s);
    args[n + 3] = lease;
    redisReply *r = redis_eval_checked(&conn, take_lua, n + 3, n + 4, args);
    if (r == NULL)
        return -1;
    int got = 0;
    *job = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        *job = strndup(r->str, r->len);
        got = *job != NULL;
    }
    freeReplyObject(r);
    return got;
}

/* KEYS: hd:lease. ARGV: id, lease seconds. */
static const char extend_lua[] =
    LUA_NOW "if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end "
            "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) return 1";

int consumer_extend(const char *id, int lease_s)
{
    char lease[16];
    snprintf(lease, sizeof(lease), "%d", lease_s);
    const char *args[] = {keys_job_lease, id, lease};
    return (int)eval_int(extend_lua, 1, 3, args);
}

static const char *job_str(json_object *job, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(job, key, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

static int job_int(json_object *job, const char *key, int def)
{
    json_object *v;
    if (!json_object_object_get_ex(job, key, &v) || !json_object_is_type(v, json_type_int))
        return def;
    return json_object_get_int(v);
}

/* KEYS: hd:active, hd:lease, hd:stats, hd:unique:<key> (or "").
 * ARGV: id, type. The unique key is released only if this job holds it. */
static const char ack_lua[] = "local gone = redis.call('HDEL', KEYS[1], ARGV[1]) "
                              "redis.call('ZREM', KEYS[2], ARGV[1]) "
                              "redis.call('HINCRBY', KEYS[3], 'processed:' .. ARGV[2], 1) "
                              "if KEYS[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[1] then "
                              "redis.call('DEL', KEYS[4]) end "
                              "return gone";

/* The key JOB's unique_key claims, or "" when it has none. */
static const char *unique_key(json_object *job, char *out, size_t cap)
{
    const char *u = job_str(job, "unique_key");
    const char *k = u[0] != '\0' ? keys_job_unique(out, cap, u) : NULL;
    return k != NULL ? k : "";
}

/* KEYS: hd:unique:<key>. ARGV: id. */
static const char release_lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                  "return redis.call('DEL', KEYS[1]) end return 0";

int consumer_started(json_object *job)
{
    char ukey[KEYS_JOB_MAX];
    const char *k = unique_key(job, ukey, sizeof(ukey));
    if (k[0] == '\0')
        return 0;
    const char *args[] = {k, job_str(job, "id")};
    return eval_int(release_lua, 1, 2, args) < 0 ? -1 : 0;
}

int consumer_ack(json_object *job)
{
    char ukey[KEYS_JOB_MAX];
    const char *args[] = {keys_job_active,    keys_job_lease,
                          keys_job_stats,     unique_key(job, ukey, sizeof(ukey)),
                          job_str(job, "id"), job_str(job, "type")};
    return (int)eval_int(ack_lua, 4, 6, args);
}

double consumer_backoff(int attempt, long base, double r)
{
    double d = (double)base / 1000.0 * pow(2.0, attempt > 1 ? attempt - 1 : 0);
    if (d > 3600.0)
        d = 3600.0;
    return d / 2.0 + d / 2.0 * r;
}

/* KEYS: hd:active, hd:lease, hd:scheduled, hd:dead, hd:stats, unique key.
 * ARGV: id, type, the job as it is now, delay seconds (-1: dead), dead max. */
static const char fail_lua[] =
    LUA_NOW "redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1]) "
            "if tonumber(ARGV[4]) < 0 then "
            "  redis.call('LPUSH', KEYS[4], ARGV[3]) "
            "  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1) "
            "  redis.call('HINCRBY', KEYS[5], 'dead:' .. ARGV[2], 1) "
            "  if KEYS[6] ~= '' and redis.call('GET', KEYS[6]) == ARGV[1] then "
            "    redis.call('DEL', KEYS[6]) end "
            "  return 2 "
            "end "
            "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3]) "
            "redis.call('HINCRBY', KEYS[5], 'failed:' .. ARGV[2], 1) "
            "return 1";

int consumer_fail(json_object *job, const char *error, int fatal, double min_delay)
{
    int attempt = job_int(job, "attempt", 0) + 1;
    int max = job_int(job, "max_attempts", 1);
    json_object_object_add(job, "attempt", json_object_new_int(attempt));
    json_object_object_add(job, "last_error", json_object_new_string(error));
    json_object_object_add(job, "failed_at", json_object_new_int64((long long)time(NULL)));
    int dead = fatal || attempt >= max;
    char delay[32], deadmax[16], ukey[KEYS_JOB_MAX];
    double d = consumer_backoff(attempt, base_ms, (double)random() / RAND_MAX);
    snprintf(delay, sizeof(delay), "%.3f", dead ? -1.0 : d > min_delay ? d : min_delay);
    snprintf(deadmax, sizeof(deadmax), "%d", DEAD_MAX);
    const char *args[] = {keys_job_active,
                          keys_job_lease,
                          keys_job_scheduled,
                          keys_job_dead,
                          keys_job_stats,
                          unique_key(job, ukey, sizeof(ukey)),
                          job_str(job, "id"),
                          job_str(job, "type"),
                          json_object_to_json_string_ext(job, JSON_C_TO_STRING_PLAIN),
                          delay,
                          deadmax};
    return (int)eval_int(fail_lua, 6, 11, args);
}

/* KEYS: hd:scheduled. ARGV: the queues' key prefix, the fallback queue.
 * Due jobs go to the queue their document names. */
static const char promote_lua[] =
    LUA_NOW "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 500) "
            "for _, job in ipairs(due) do "
            "  local ok, j = pcall(cjson.decode, job) "
            "  local q = (ok and type(j) == 'table' and j.queue) or ARGV[2] "
            "  redis.call('LPUSH', ARGV[1] .. q, job) "
            "  redis.call('ZREM', KEYS[1], job) "
            "end "
            "return #due";

int consumer_promote(void)
{
    const char *args[] = {keys_job_scheduled, keys_job_queue_prefix, queue_fallback()};
    return (int)eval_int(promote_lua, 1, 3, args);
}

/* KEYS: hd:active, hd:lease, hd:dead, hd:stats. ARGV: dead max, the
 * queues' key prefix, the fallback queue. A job whose lease expired counts
 * as a failed attempt: queued again at once, or dead. */
static const char recover_lua[] =
    LUA_NOW "local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100) "
            "for _, id in ipairs(ids) do "
            "  local job = redis.call('HGET', KEYS[1], id) "
            "  redis.call('HDEL', KEYS[1], id) redis.call('ZREM', KEYS[2], id) "
            "  if job then "
            "    local j = cjson.decode(job) "
            "    j.attempt = (tonumber(j.attempt) or 0) + 1 "
            "    j.last_error = 'lease expired: the worker running it died or stalled' "
            "    j.failed_at = math.floor(now) "
            "    local t = j.type or '?' "
            "    if j.attempt >= (tonumber(j.max_attempts) or 1) then "
            "      redis.call('LPUSH', KEYS[3], cjson.encode(j)) "
            "      redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[1]) - 1) "
            "      redis.call('HINCRBY', KEYS[4], 'dead:' .. t, 1) "
            "    else "
            "      redis.call('LPUSH', ARGV[2] .. (j.queue or ARGV[3]), cjson.encode(j)) "
            "      redis.call('HINCRBY', KEYS[4], 'recovered:' .. t, 1) "
            "    end "
            "  end "
            "end "
            "return #ids";

int consumer_recover(void)
{
    char deadmax[16];
    snprintf(deadmax, sizeof(deadmax), "%d", DEAD_MAX);
    const char *args[] = {keys_job_active, keys_job_lease,        keys_job_dead,   keys_job_stats,
                          deadmax,         keys_job_queue_prefix, queue_fallback()};
    return (int)eval_int(recover_lua, 4, 7, args);
}

/* KEYS: hd:scheduled. ARGV: a job, the queues' key prefix, the fallback
 * queue. Queued by its run_at, as queue_enqueue does. */
static const char push_lua[] =
    "local t = redis.call('TIME') local j = cjson.decode(ARGV[1]) "
    "if type(j.run_at) == 'number' and j.run_at > tonumber(t[1]) then "
    "  redis.call('ZADD', KEYS[1], j.run_at, ARGV[1]) "
    "else redis.call('LPUSH', ARGV[2] .. (j.queue or ARGV[3]), ARGV[1]) end "
    "return 1";

int consumer_push(const char *job)
{
    const char *args[] = {keys_job_scheduled, job, keys_job_queue_prefix, queue_fallback()};
    return eval_int(push_lua, 1, 4, args) == 1 ? 1 : -1;
}

/* KEYS: lock, marker. ARGV: me, lock ms, marker seconds. 1: enqueue now. */
static const char claim_lua[] =
    "local holder = redis.call('GET', KEYS[1]) "
    "if holder and holder ~= ARGV[1] then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[3]) then return 1 end "
    "return 0";

#define LOCK_MS "5000" /* renewed every second; a dead holder is replaced within 5 s */

int consumer_claim_periodic(const char *me, const char *type, long long slot, long ttl_s)
{
    char marker[KEYS_JOB_MAX], ttl[24];
    if (keys_job_periodic(marker, sizeof(marker), type, slot) == NULL)
        return -1;
    snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
    const char *args[] = {keys_job_scheduler, marker, me, LOCK_MS, ttl};
    return (int)eval_int(claim_lua, 2, 5, args);
}

/* KEYS: hd:documents. ARGV: removed, complete (1/0), missing, at. */
static const char documents_lua[] =
    "redis.call('HINCRBY', KEYS[1], 'orphans_removed', ARGV[1]) "
    "if ARGV[2] == '1' then "
    "  redis.call('HSET', KEYS[1], 'missing', ARGV[3], 'reconciled_at', ARGV[4]) end "
    "return 1";

int consumer_documents_record(long long removed, int complete, long long missing, long long at)
{
    char r[24], m[24], t[24];
    snprintf(r, sizeof(r), "%lld", removed);
    snprintf(m, sizeof(m), "%lld", missing);
    snprintf(t, sizeof(t), "%lld", at);
    const char *args[] = {keys_job_documents, r, complete ? "1" : "0", m, t};
    return eval_int(documents_lua, 1, 5, args) == 1 ? 0 : -1;
}

/* ---- the jobs CLI ---- */

json_object *consumer_stats(void)
{
    queue_stats st;
    if (queue_stats_read(&conn, &st, NULL) != 0)
        return NULL;
    json_object *o = json_object_new_object();
    char name[64];
    for (int i = 0; i < queue_defs_n; i++) {
        snprintf(name, sizeof(name), "queue:%s", queue_defs[i].name);
        json_object_object_add(o, name, json_object_new_int64(st.queued[i]));
    }
    json_object_object_add(o, "scheduled", json_object_new_int64(st.scheduled));
    json_object_object_add(o, "active", json_object_new_int64(st.active));
    json_object_object_add(o, "dead", json_object_new_int64(st.dead));
    struct json_object_iterator it = json_object_iter_begin(st.counters);
    struct json_object_iterator end = json_object_iter_end(st.counters);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
        json_object_object_add(o, json_object_iter_peek_name(&it),
                               json_object_get(json_object_iter_peek_value(&it)));
    json_object_put(st.counters);
    json_object_object_add(o, "push", st.push); /* "outcome:provider" -> count */
    return o;
}

redis_conn *consumer_redis(void)
{
    return &conn;
}

void consumer_count(const char *key, const char *field)
{
    const char *argv[] = {"HINCRBY", key, field, "1"};
    redisReply *r = redis_command(&conn, 4, argv, NULL);
    if (r != NULL)
        freeReplyObject(r);
}
