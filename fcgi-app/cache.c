/*
 * cache.c - hiredis with timeouts, back-off and remembered invalidations.
 */
#include "cache.h"
#include "config.h"
#include "log.h"
#include "scoreboard.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PENDING_MAX 256
#define RETRY_AFTER_MS 1000
#define LOG_EVERY_MS 10000

static redisContext *ctx;
static char host[256], password[256];
static int port, db, is_unix;
static long timeout_ms;
static int ttl_s = 300;
static long long next_try_ms, last_log_ms;
static char *pending[PENDING_MAX];
static int npending, pending_overflow;
static int in_connect; /* AUTH/SELECT of a new connection: no retry */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long elapsed_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

int cache_parse_url(const char *url, char *h, size_t host_cap, int *p, int *d, char *pw,
                    size_t pw_cap, int *unix_sock)
{
    *p = 6379;
    *d = 0;
    *unix_sock = 0;
    pw[0] = '\0';
    if (strncmp(url, "unix://", 7) == 0) {
        *unix_sock = 1;
        snprintf(h, host_cap, "%s", url + 7);
        return h[0] == '/' ? 0 : -1;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *s = url + 8;
    const char *at = strrchr(s, '@');
    if (at != NULL) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        const char *pws = colon ? colon + 1 : s;
        size_t n = (size_t)(at - pws);
        if (n >= pw_cap)
            return -1;
        memcpy(pw, pws, n);
        pw[n] = '\0';
        s = at + 1;
    }
    size_t hlen = strcspn(s, ":/");
    if (hlen == 0 || hlen >= host_cap)
        return -1;
    memcpy(h, s, hlen);
    h[hlen] = '\0';
    s += hlen;
    if (*s == ':') {
        char *end;
        long v = strtol(s + 1, &end, 10);
        if (end == s + 1 || v <= 0 || v > 65535)
            return -1;
        *p = (int)v;
        s = end;
    }
    if (*s == '/' && s[1] != '\0') {
        char *end;
        long v = strtol(s + 1, &end, 10);
        if (*end != '\0' || v < 0 || v > 15)
            return -1;
        *d = (int)v;
    }
    return 0;
}

int cache_setup(void)
{
    const char *url = config_get("REDIS_URL");
    timeout_ms = config_int("REDIS_TIMEOUT_MS", 200);
    ttl_s = (int)config_int("HONEYDUE_CACHE_TTL", 300);
    if (url == NULL || cache_parse_url(url, host, sizeof(host), &port, &db, password,
                                       sizeof(password), &is_unix) != 0) {
        log_line(LOG_ERROR, "cache", "REDIS_URL is not a redis:// or unix:// URL; cache disabled");
        host[0] = '\0';
    }
    return 0;
}

static void cache_fail(const char *what)
{
    sb_dep_error(SB_DEP_REDIS);
    long long now = now_ms();
    if (now - last_log_ms >= LOG_EVERY_MS) {
        log_line(LOG_WARN, "cache", "redis unavailable (%s); serving from postgres", what);
        last_log_ms = now;
    }
    if (ctx != NULL) {
        redisFree(ctx);
        ctx = NULL;
    }
    next_try_ms = now + RETRY_AFTER_MS;
}

static redisReply *command_argv(int argc, const char **argv, const size_t *lens);
static int connect_setup(void);
static redisContext *cache_conn(void);

/* Connected context or NULL; honours the back-off. */
static redisContext *cache_conn(void)
{
    if (ctx != NULL)
        return ctx;
    if (host[0] == '\0' || now_ms() < next_try_ms)
        return NULL;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ctx = is_unix ? redisConnectUnixWithTimeout(host, tv) : redisConnectWithTimeout(host, port, tv);
    if (ctx == NULL || ctx->err) {
        cache_fail(ctx ? ctx->errstr : "out of memory");
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    in_connect = 1;
    int ready = connect_setup();
    in_connect = 0;
    if (!ready)
        return NULL;
    if (last_log_ms != 0) {
        log_line(LOG_INFO, "cache", "redis reachable again");
        last_log_ms = 0;
    }
    return ctx;
}

/* AUTH and SELECT on a fresh connection; 1 when it is ready. */
static int connect_setup(void)
{
    if (password[0] != '\0') {
        const char *argv[] = {"AUTH", password};
        redisReply *r = command_argv(2, argv, NULL);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            cache_fail("AUTH failed");
            return 0;
        }
    }
    if (db != 0) {
        char dbs[8];
        snprintf(dbs, sizeof(dbs), "%d", db);
        const char *argv[] = {"SELECT", dbs};
        redisReply *r = command_argv(2, argv, NULL);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            cache_fail("SELECT failed");
            return 0;
        }
    }
    return 1;
}

static redisReply *command_argv(int argc, const char **argv, const size_t *lens)
{
    if (ctx == NULL)
        return NULL;
    redisReply *r = redisCommandArgv(ctx, argc, argv, lens);
    if (r == NULL && !in_connect) {
        /* An established connection that broke (Redis restarted while this
         * worker was idle): reconnect once at once; back off only when the
         * reconnect itself fails. */
        redisFree(ctx);
        ctx = NULL;
        next_try_ms = 0;
        if (cache_conn() != NULL)
            r = redisCommandArgv(ctx, argc, argv, lens);
        if (r == NULL && ctx != NULL)
            cache_fail(ctx->errstr[0] ? ctx->errstr : "i/o error");
    } else if (r == NULL) {
        cache_fail(ctx->errstr[0] ? ctx->errstr : "i/o error");
    }
    return r;
}

/* KEYS: the entries; ARGV[1]: TTL. Drops each body and bumps its gen. */
static const char invalidate_lua[] =
    "for _,k in ipairs(KEYS) do redis.call('HDEL',k,'body') redis.call('HINCRBY',k,'gen',1) "
    "redis.call('EXPIRE',k,ARGV[1]) end return #KEYS";
/* KEYS[1]: entry; ARGV: gen, body, ttl. Stores only when gen is unchanged. */
static const char fill_lua[] =
    "if (redis.call('HGET',KEYS[1],'gen') or '0') ~= ARGV[1] then return 0 end "
    "redis.call('HSET',KEYS[1],'body',ARGV[2]) redis.call('EXPIRE',KEYS[1],ARGV[3]) return 1";

static int pending_ttl = 300;

/* EVAL invalidate_lua over KEYS[0..N). 0 on success. */
static int run_invalidate(const char *const *keys, int n, int ttl)
{
    char nkeys[16], ttls[16];
    snprintf(nkeys, sizeof(nkeys), "%d", n);
    snprintf(ttls, sizeof(ttls), "%d", ttl);
    const char **argv = malloc(sizeof(char *) * (size_t)(n + 4));
    if (argv == NULL)
        return -1;
    argv[0] = "EVAL";
    argv[1] = invalidate_lua;
    argv[2] = nkeys;
    for (int i = 0; i < n; i++)
        argv[3 + i] = keys[i];
    argv[3 + n] = ttls;
    redisReply *r = command_argv(n + 4, argv, NULL);
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
    if (cache_conn() == NULL)
        return -1;
    if (pending_overflow) {
        /* Too many lost invalidations to track: drop every per-user entry. */
        const char *argv[] = {
            "EVAL",
            "local n=0 for _,p in ipairs({'tasks:user:*','residences:user:*','auth:*'}) do "
            "local c='0' repeat local r=redis.call('SCAN',c,'MATCH',p,'COUNT',1000) "
            "c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) n=n+1 end "
            "until c=='0' end return n",
            "0"};
        redisReply *r = command_argv(3, argv, NULL);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
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
    if (flush_pending() != 0 || cache_conn() == NULL)
        goto done;
    const char *argv[] = {"HMGET", key, "body", "gen"};
    redisReply *r = command_argv(4, argv, NULL);
    if (r == NULL)
        goto done;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        redisReply *b = r->element[0], *g = r->element[1];
        snprintf(gen, 24, "%s", g->type == REDIS_REPLY_STRING ? g->str : "0");
        if (b->type == REDIS_REPLY_STRING) {
            out = arena_strndup(a, b->str, b->len);
            *len = b->len;
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        /* e.g. WRONGTYPE from an older release's plain string: treat as a miss
         * that cannot be filled */
        gen[0] = '\0';
    }
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
    if (flush_pending() != 0 || cache_conn() == NULL)
        goto done;
    const char *argv[] = {"EVAL", auth_list_lua, "1", auth_key, list_prefix};
    redisReply *r = command_argv(5, argv, NULL);
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
    if (gen[0] == '\0' || cache_conn() == NULL)
        goto done;
    char ttls[16];
    snprintf(ttls, sizeof(ttls), "%d", ttl);
    const char *argv[] = {"EVAL", fill_lua, "1", key, gen, body, ttls};
    size_t lens[] = {4, sizeof(fill_lua) - 1, 1, strlen(key), strlen(gen), len, strlen(ttls)};
    redisReply *r = command_argv(7, argv, lens);
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
    if (n > 0 && (cache_conn() == NULL || run_invalidate(keys, n, ttl) != 0)) {
        for (int i = 0; i < n; i++)
            remember(keys[i]);
        rc = -1;
    }
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

/* EVAL SCRIPT over ARGV; a reply of type WANT, or NULL (logged when Redis
 * answered something else). Adds the time spent to *US. */
static redisReply *eval_reply(const char *script, int nkeys, int argc, const char *const *argv,
                              int want, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    redisReply *r = NULL;
    if (argc <= 16 && cache_conn() != NULL) {
        char nk[16];
        snprintf(nk, sizeof(nk), "%d", nkeys);
        const char *av[19] = {"EVAL", script, nk};
        for (int i = 0; i < argc; i++)
            av[3 + i] = argv[i];
        r = command_argv(argc + 3, av, NULL);
    }
    if (r != NULL && r->type != want) {
        log_line(LOG_WARN, "cache", "script refused: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        r = NULL;
    }
    if (us)
        *us += elapsed_us(&t0);
    return r;
}

char *cache_eval_text(arena *a, const char *script, int nkeys, int argc, const char *const *argv,
                      size_t *len, long *us)
{
    redisReply *r = eval_reply(script, nkeys, argc, argv, REDIS_REPLY_STRING, us);
    if (r == NULL)
        return NULL;
    char *out = arena_strndup(a, r->str, r->len);
    *len = r->len;
    freeReplyObject(r);
    return out;
}

int cache_eval(const char *script, int nkeys, int argc, const char *const *argv, long long *result,
               long *us)
{
    redisReply *r = eval_reply(script, nkeys, argc, argv, REDIS_REPLY_INTEGER, us);
    if (r == NULL)
        return -1;
    *result = r->integer;
    freeReplyObject(r);
    return 0;
}

int cache_ttl(void)
{
    return ttl_s;
}

const char *cache_status(void)
{
    if (cache_conn() == NULL)
        return "degraded";
    const char *argv[] = {"PING"};
    redisReply *r = command_argv(1, argv, NULL);
    if (r == NULL)
        return "degraded";
    freeReplyObject(r);
    return "ok";
}

void cache_close(void)
{
    if (ctx != NULL)
        redisFree(ctx);
    ctx = NULL;
    while (npending > 0)
        free(pending[--npending]);
}
