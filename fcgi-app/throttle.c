/*
 * throttle.c - the counters of throttle.h: two small Lua scripts over the
 * shared Redis connection, so a count and its window are set in one round
 * trip.
 */
#include "throttle.h"
#include "cache.h"
#include "crypto.h"
#include "keys.h"
#include "log.h"

#include <stdio.h>
#include <time.h>

#define LOG_EVERY_S 10

/* KEYS: counters. Each one's count and TTL (at least 1), in one flat list. */
static const char peek_lua[] =
    "local out = {} for i, k in ipairs(KEYS) do "
    "out[2 * i - 1] = tonumber(redis.call('GET', k) or '0') or 0 "
    "local t = redis.call('TTL', k) if t < 1 then t = 1 end out[2 * i] = t end return out";

/* KEYS: counters; ARGV: limit and window of each. INCR each (a new one, or
 * one that somehow lost its expiry, gets its window); the largest TTL among
 * counters now over their limit, else 0. */
static const char hit_lua[] =
    "local m = 0 for i, k in ipairs(KEYS) do local c = redis.call('INCR', k) "
    "local t = redis.call('TTL', k) "
    "if t < 0 then t = tonumber(ARGV[2 * i]) redis.call('EXPIRE', k, t) end "
    "if t < 1 then t = 1 end "
    "if c > tonumber(ARGV[2 * i - 1]) and t > m then m = t end end return m";

static const char clear_lua[] = "return redis.call('DEL', KEYS[1])";

/* Fail open, and say so (once per interval per process). */
static void fail_open(void)
{
    static time_t last;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    time_t now = ts.tv_sec;
    if (last == 0 || now - last >= LOG_EVERY_S) {
        log_line(LOG_WARN, "throttle", "redis unavailable; requests are not throttled");
        last = now;
    }
}

const char *throttle_ip_key(arena *a, const char *scope, const char *addr)
{
    return keys_throttle_ip(a, scope, addr != NULL && *addr != '\0' ? addr : "unknown");
}

void throttle_normalize(const char *ident, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return;
    while (*ident == ' ' || *ident == '\t' || *ident == '\r' || *ident == '\n')
        ident++;
    for (; *ident != '\0' && n + 1 < cap; ident++) {
        char c = *ident;
        out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    while (n > 0 &&
           (out[n - 1] == ' ' || out[n - 1] == '\t' || out[n - 1] == '\r' || out[n - 1] == '\n'))
        n--;
    out[n] = '\0';
}

const char *throttle_account_key(arena *a, const char *scope, const char *ident)
{
    char norm[512], mac[TOKEN_HASH_LEN + 1];
    throttle_normalize(ident, norm, sizeof(norm));
    const char *parts[] = {"throttle-account", norm};
    crypto_mac(parts, 2, mac);
    return keys_throttle_account(a, scope, mac);
}

const char *throttle_account_ip_key(arena *a, const char *scope, const char *ident,
                                    const char *addr)
{
    char norm[512], mac[TOKEN_HASH_LEN + 1];
    throttle_normalize(ident, norm, sizeof(norm));
    const char *parts[] = {"throttle-account-ip", norm,
                           addr != NULL && *addr != '\0' ? addr : "unknown"};
    crypto_mac(parts, 3, mac);
    return keys_throttle_account_ip(a, scope, mac);
}

/* EVAL SCRIPT over C[0..N): KEYS the counters, ARGV their rules. */
static int run(const char *script, const throttle_counter *c, int n, long *us)
{
    char nums[THROTTLE_MAX][2][16];
    const char *argv[3 * THROTTLE_MAX];
    if (n < 1 || n > THROTTLE_MAX)
        return 0;
    for (int i = 0; i < n; i++) {
        argv[i] = c[i].key;
        snprintf(nums[i][0], sizeof(nums[i][0]), "%d", c[i].limit);
        snprintf(nums[i][1], sizeof(nums[i][1]), "%d", c[i].window_s);
        argv[n + 2 * i] = nums[i][0];
        argv[n + 2 * i + 1] = nums[i][1];
    }
    long long wait;
    if (redis_eval_int(cache_redis(), script, n, 3 * n, argv, &wait, us) != 0) {
        fail_open();
        return 0;
    }
    return (int)wait;
}

int throttle_peek(const char *const *keys, int n, int *count, int *ttl, long *us)
{
    for (int i = 0; i < n; i++)
        count[i] = ttl[i] = 0;
    if (n < 1 || n > THROTTLE_MAX)
        return 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    redisReply *rep = redis_eval_checked(cache_redis(), peek_lua, n, n, keys);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (us != NULL)
        *us += (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    int ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 * (size_t)n;
    for (int i = 0; ok && i < n; i++) {
        const redisReply *c = rep->element[2 * (size_t)i], *t = rep->element[2 * (size_t)i + 1];
        ok = c->type == REDIS_REPLY_INTEGER && t->type == REDIS_REPLY_INTEGER;
        if (ok) {
            count[i] = (int)c->integer;
            ttl[i] = (int)t->integer;
        }
    }
    if (rep != NULL)
        freeReplyObject(rep);
    if (!ok) {
        for (int i = 0; i < n; i++)
            count[i] = ttl[i] = 0;
        fail_open();
        return -1;
    }
    return 0;
}

int throttle_wait(const throttle_counter *c, int n, long *us)
{
    const char *keys[THROTTLE_MAX];
    int count[THROTTLE_MAX], ttl[THROTTLE_MAX], wait = 0;
    if (n < 1 || n > THROTTLE_MAX)
        return 0;
    for (int i = 0; i < n; i++)
        keys[i] = c[i].key;
    if (throttle_peek(keys, n, count, ttl, us) != 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (count[i] >= c[i].limit && ttl[i] > wait)
            wait = ttl[i];
    return wait;
}

int throttle_hit(const throttle_counter *c, int n, long *us)
{
    return run(hit_lua, c, n, us);
}

void throttle_clear(const char *key, long *us)
{
    long long deleted;
    if (redis_eval_int(cache_redis(), clear_lua, 1, 1, &key, &deleted, us) != 0)
        fail_open();
}
