/*
 * consumer.c - take, extend, acknowledge, fail, promote and recover jobs
 * (see consumer.h). Every move between Redis keys is one Lua script; the
 * scripts use Redis's own clock (TIME) so that several workers agree on
 * what "expired" and "due" mean. The connection is redis.h's, with a 5 s
 * timeout: separate from the cache's, which the same process uses to
 * enqueue.
 */
#include "consumer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
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

/* One command; an error reply is logged and answered as NULL. */
static redisReply *command(int argc, const char **argv)
{
    redisReply *r = redis_command(&conn, argc, argv, NULL);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        log_line(LOG_ERROR, "jobs", "redis refused a command: %s", r->str);
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* EVAL; the reply or NULL. */
static redisReply *eval(const char *script, int nkeys, int argc, const char **args)
{
    return redis_eval_checked(&conn, script, nkeys, argc, args);
}

static long long eval_int(const char *script, int nkeys, int argc, const char **args)
{
    redisReply *r = eval(script, nkeys, argc, args);
    if (r == NULL)
        return -1;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
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
    const char *args[QUEUE_MAX + 4];
    char keys[QUEUE_MAX][64], lease[16];
    int order[QUEUE_MAX], n = queue_defs_n;
    take_order(order);
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "hd:queue:%s", queue_defs[order[i]].name);
        args[i] = keys[i];
    }
    args[n] = "hd:active";
    args[n + 1] = "hd:lease";
    args[n + 2] = "hd:dead";
    snprintf(lease, sizeof(lease), "%d", lease_s);
    args[n + 3] = lease;
    redisReply *r = eval(take_lua, n + 3, n + 4, args);
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
    const char *args[] = {"hd:lease", id, lease};
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

static void unique_key(json_object *job, char *out, size_t cap)
{
    const char *u = job_str(job, "unique_key");
    if (u[0] != '\0')
        snprintf(out, cap, "hd:unique:%s", u);
    else
        out[0] = '\0';
}

int consumer_ack(json_object *job)
{
    char ukey[300];
    unique_key(job, ukey, sizeof(ukey));
    const char *args[] = {"hd:active", "hd:lease",         "hd:stats",
                          ukey,        job_str(job, "id"), job_str(job, "type")};
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

int consumer_fail(json_object *job, const char *error, int fatal)
{
    int attempt = job_int(job, "attempt", 0) + 1;
    int max = job_int(job, "max_attempts", 1);
    json_object_object_add(job, "attempt", json_object_new_int(attempt));
    json_object_object_add(job, "last_error", json_object_new_string(error));
    json_object_object_add(job, "failed_at", json_object_new_int64((long long)time(NULL)));
    int dead = fatal || attempt >= max;
    char delay[32], deadmax[16], ukey[300];
    snprintf(delay, sizeof(delay), "%.3f",
             dead ? -1.0 : consumer_backoff(attempt, base_ms, (double)random() / RAND_MAX));
    snprintf(deadmax, sizeof(deadmax), "%d", DEAD_MAX);
    unique_key(job, ukey, sizeof(ukey));
    const char *args[] = {"hd:active",
                          "hd:lease",
                          "hd:scheduled",
                          "hd:dead",
                          "hd:stats",
                          ukey,
                          job_str(job, "id"),
                          job_str(job, "type"),
                          json_object_to_json_string_ext(job, JSON_C_TO_STRING_PLAIN),
                          delay,
                          deadmax};
    return (int)eval_int(fail_lua, 6, 11, args);
}

/* KEYS: hd:scheduled. Due jobs go to the queue their document names. */
static const char promote_lua[] =
    LUA_NOW "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 500) "
            "for _, job in ipairs(due) do "
            "  local ok, j = pcall(cjson.decode, job) "
            "  local q = (ok and type(j) == 'table' and j.queue) or 'default' "
            "  redis.call('LPUSH', 'hd:queue:' .. q, job) "
            "  redis.call('ZREM', KEYS[1], job) "
            "end "
            "return #due";

int consumer_promote(void)
{
    const char *args[] = {"hd:scheduled"};
    return (int)eval_int(promote_lua, 1, 1, args);
}

/* KEYS: hd:active, hd:lease, hd:dead, hd:stats. ARGV: dead max. A job whose
 * lease expired counts as a failed attempt: queued again at once, or dead. */
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
            "      redis.call('LPUSH', 'hd:queue:' .. (j.queue or 'default'), cjson.encode(j)) "
            "      redis.call('HINCRBY', KEYS[4], 'recovered:' .. t, 1) "
            "    end "
            "  end "
            "end "
            "return #ids";

int consumer_recover(void)
{
    char deadmax[16];
    snprintf(deadmax, sizeof(deadmax), "%d", DEAD_MAX);
    const char *args[] = {"hd:active", "hd:lease", "hd:dead", "hd:stats", deadmax};
    return (int)eval_int(recover_lua, 4, 5, args);
}

static json_object *reply_json(redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        return json_object_new_string_len(r->str, (int)r->len);
    case REDIS_REPLY_INTEGER:
        return json_object_new_int64(r->integer);
    case REDIS_REPLY_ARRAY: {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < r->elements; i++)
            json_object_array_add(a, reply_json(r->element[i]));
        return a;
    }
    default:
        return NULL;
    }
}

static char *reply_text(redisReply *r)
{
    if (r == NULL)
        return NULL;
    json_object *j = reply_json(r);
    freeReplyObject(r);
    char *out = strdup(j ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN) : "null");
    json_object_put(j);
    return out;
}

char *consumer_command_json(int argc, const char **argv)
{
    return reply_text(command(argc, argv));
}

char *consumer_eval_json(const char *script, int nkeys, int argc, const char **argv)
{
    return reply_text(eval(script, nkeys, argc, argv));
}
