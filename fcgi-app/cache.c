/*
 * cache.c - generation-checked entries and remembered invalidations over
 * the shared connection (redis.h does the connecting, back-off and outage
 * log).
 */
#include "cache.h"
#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PENDING_MAX 256
#define PATTERNS_MAX 16

static redis_conn conn;
static int ttl_s = 300;
static char *pending[PENDING_MAX];
static int npending, pending_overflow;
static int pending_ttl = 300;
static char *patterns[PATTERNS_MAX];
static int npatterns;

static long elapsed_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

int cache_setup(void)
{
    ttl_s = (int)config_int("HONEYDUE_CACHE_TTL", 300);
    redis_init(&conn, "cache", "serving from postgres", config_get("REDIS_URL"),
               config_int("REDIS_TIMEOUT_MS", 200));
    return 0;
}

redis_conn *cache_redis(void)
{
    return &conn;
}

int cache_overflow_patterns(const char *const *p, int n)
{
    while (npatterns > 0)
        free(patterns[--npatterns]);
    if (n > PATTERNS_MAX) {
        log_line(LOG_ERROR, "cache", "%d cache key patterns; at most %d are kept", n, PATTERNS_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        patterns[npatterns] = strdup(p[i]);
        if (patterns[npatterns] == NULL)
            return -1;
        npatterns++;
    }
    return 0;
}

/* KEYS: the entries; ARGV[1]: TTL. Drops each body and bumps its gen. */
static const char invalidate_lua[] =
    "for _,k in ipairs(KEYS) do redis.call('HDEL',k,'body') redis.call('HINCRBY',k,'gen',1) "
    "redis.call('EXPIRE',k,ARGV[1]) end return #KEYS";
/* KEYS[1]: entry; ARGV: gen, body, ttl. Stores only when gen is unchanged. */
static const char fill_lua[] =
    "if (redis.call('HGET',KEYS[1],'gen') or '0') ~= ARGV[1] then return 0 end "
    "redis.call('HSET',KEYS[1],'body',ARGV[2]) redis.call('EXPIRE',KEYS[1],ARGV[3]) return 1";
/* ARGV: key patterns. Deletes every key matching one. */
static const char drop_matching_lua[] =
    "local n=0 for _,p in ipairs(ARGV) do "
    "local c='0' repeat local r=redis.call('SCAN',c,'MATCH',p,'COUNT',1000) "
    "c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) n=n+1 end "
    "until c=='0' end return n";

/* EVAL invalidate_lua over KEYS[0..N). 0 on success. */
static int run_invalidate(const char *const *keys, int n, int ttl)
{
    char ttls[16];
    snprintf(ttls, sizeof(ttls), "%d", ttl);
    const char **argv = malloc(sizeof(char *) * (size_t)(n + 1));
    if (argv == NULL)
        return -1;
    memcpy(argv, keys, sizeof(char *) * (size_t)n);
    argv[n] = ttls;
    redisReply *r = redis_eval(&conn, invalidate_lua, n, n + 1, argv, NULL);
    free(argv);
    if (r == NULL)
        return -1;
    int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    if (rc != 0)
        log_line(LOG_WARN, "cache", "invalidation refused: %s", r->str);
    freeReplyObject(r);
    return rc;
}

/* Retry remembered invalidations; returns 0 when none is left. */
static int flush_pending(void)
{
    if (npending == 0 && !pending_overflow)
        return 0;
    if (!redis_ready(&conn))
        return -1;
    if (pending_overflow) {
        /* Too many lost invalidations to track: drop every entry of the
         * kinds this process invalidates. */
        if (npatterns > 0) {
            redisReply *r = redis_eval(&conn, drop_matching_lua, 0, npatterns,
                                       (const char *const *)patterns, NULL);
            if (r == NULL)
                return -1;
            freeReplyObject(r);
        }
        pending_overflow = 0;
    }
    if (npending > 0) {
        if (run_invalidate((const char *const *)pending, npending, pending_ttl) != 0)
            return -1;
        while (npending > 0)
            free(pending[--npending]);
    }
    return 0;
}

char *cache_lookup(arena *a, const char *key, size_t *len, char *gen, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *out = NULL;
    gen[0] = '\0';
    if (flush_pending() != 0)
        goto done;
    const char *argv[] = {"HMGET", key, "body", "gen"};
    redisReply *r = redis_command(&conn, 4, argv, NULL);
    if (r == NULL)
        goto done;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        redisReply *b = r->element[0], *g = r->element[1];
        snprintf(gen, 24, "%s", g->type == REDIS_REPLY_STRING ? g->str : "0");
        if (b->type == REDIS_REPLY_STRING) {
            out = arena_strndup(a, b->str, b->len);
            *len = b->len;
        }
    }
    /* An error reply (e.g. WRONGTYPE from an older release's plain string)
     * is a miss that cannot be filled: gen stays "". */
    freeReplyObject(r);
done:
    if (us)
        *us += elapsed_us(&t0);
    return out;
}

/* KEYS[1]: the token entry; ARGV[1]: the list key prefix. Returns
 * {auth body, auth gen, list body, list gen} (nil for absent). The list key
 * is derived from the token entry, so it cannot be declared in KEYS: fine
 * on a standalone Redis, which is what the service uses. */
static const char auth_list_lua[] = "local a = redis.call('HMGET', KEYS[1], 'body', 'gen') "
                                    "if not a[1] then return {false, a[2] or '0', false, ''} end "
                                    "local uid = string.match(a[1], '^(%d+):') "
                                    "if not uid then return {false, a[2] or '0', false, ''} end "
                                    "local t = redis.call('HMGET', ARGV[1] .. uid, 'body', 'gen') "
                                    "return {a[1], a[2] or '0', t[1], t[2] or '0'}";

static char *reply_str(arena *a, redisReply *e, size_t *len)
{
    if (e->type != REDIS_REPLY_STRING)
        return NULL;
    if (len)
        *len = e->len;
    return arena_strndup(a, e->str, e->len);
}

int cache_lookup_auth_list(arena *a, const char *auth_key, const char *list_prefix,
                           char **auth_body, char *auth_gen, char **list_body, size_t *list_len,
                           char *list_gen, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = -1;
    *auth_body = *list_body = NULL;
    auth_gen[0] = list_gen[0] = '\0';
    if (flush_pending() != 0)
        goto done;
    const char *argv[] = {auth_key, list_prefix};
    redisReply *r = redis_eval(&conn, auth_list_lua, 1, 2, argv, NULL);
    if (r == NULL)
        goto done;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        *auth_body = reply_str(a, r->element[0], NULL);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            snprintf(auth_gen, 24, "%s", r->element[1]->str);
        *list_body = reply_str(a, r->element[2], list_len);
        if (r->element[3]->type == REDIS_REPLY_STRING)
            snprintf(list_gen, 24, "%s", r->element[3]->str);
        rc = 0;
    }
    freeReplyObject(r);
done:
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

int cache_fill(const char *key, const char *gen, const char *body, size_t len, int ttl, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = -1;
    if (gen[0] == '\0')
        goto done;
    char ttls[16];
    snprintf(ttls, sizeof(ttls), "%d", ttl);
    const char *argv[] = {key, gen, body, ttls};
    size_t lens[] = {strlen(key), strlen(gen), len, strlen(ttls)};
    redisReply *r = redis_eval(&conn, fill_lua, 1, 4, argv, lens);
    if (r == NULL)
        goto done;
    /* An error here is typically OOM at maxmemory: not fatal, just not cached. */
    rc = r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? 0 : -1;
    freeReplyObject(r);
done:
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

static void remember(const char *key)
{
    for (int i = 0; i < npending; i++)
        if (strcmp(pending[i], key) == 0)
            return;
    if (npending == PENDING_MAX) {
        pending_overflow = 1;
        return;
    }
    pending[npending] = strdup(key);
    if (pending[npending] == NULL)
        pending_overflow = 1;
    else
        npending++;
}

int cache_invalidate(const char *const *keys, int n, int ttl, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = 0;
    pending_ttl = ttl;
    if (n > 0 && run_invalidate(keys, n, ttl) != 0) {
        for (int i = 0; i < n; i++)
            remember(keys[i]);
        rc = -1;
    }
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

int cache_pending(void)
{
    return npending > 0 || pending_overflow;
}

int cache_replay_pending(void)
{
    return flush_pending();
}

int cache_ttl(void)
{
    return ttl_s;
}

void cache_close(void)
{
    redis_close(&conn);
    while (npending > 0)
        free(pending[--npending]);
    while (npatterns > 0)
        free(patterns[--npatterns]);
}
