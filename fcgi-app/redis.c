/*
 * redis.c - the Redis connection of redis.h: URL, AUTH and SELECT,
 * timeouts, back-off, reconnect and the outage log, in one place.
 */
#include "redis.h"
#include "log.h"
#include "scoreboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_AFTER_MS 1000
#define LOG_EVERY_MS 10000
#define EVAL_STACK_ARGS 32 /* more than this: the argument vector is malloc'd */

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

int redis_parse_url(const char *url, char *h, size_t host_cap, int *p, int *d, char *pw,
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

int redis_init(redis_conn *c, const char *who, const char *meantime, const char *url,
               long timeout_ms)
{
    redis_close(c);
    memset(c, 0, sizeof(*c));
    c->who = who;
    c->meantime = meantime;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    if (url == NULL || redis_parse_url(url, c->host, sizeof(c->host), &c->port, &c->db, c->password,
                                       sizeof(c->password), &c->is_unix) != 0) {
        log_line(LOG_ERROR, who,
                 "REDIS_URL is missing or not a redis:// or unix:// URL; "
                 "redis is off");
        c->host[0] = '\0';
        return -1;
    }
    return 0;
}

void redis_close(redis_conn *c)
{
    if (c->ctx != NULL)
        redisFree(c->ctx);
    c->ctx = NULL;
}

/* The connection failed (WHY): count it, log it once per interval, drop the
 * context and back off. */
static void fail(redis_conn *c, const char *why)
{
    sb_dep_error(SB_DEP_REDIS);
    long long now = now_ms();
    if (now - c->last_log_ms >= LOG_EVERY_MS) {
        log_line(LOG_WARN, c->who, "redis unavailable (%s); %s", why, c->meantime);
        c->last_log_ms = now;
    }
    redis_close(c);
    c->next_try_ms = now + RETRY_AFTER_MS;
}

static void fail_ctx(redis_conn *c)
{
    fail(c, c->ctx != NULL && c->ctx->errstr[0] ? c->ctx->errstr : "i/o error");
}

/* One command of a new connection (AUTH, SELECT): 1 when Redis accepted it,
 * else 0 after fail() with WHAT. */
static int setup_command(redis_conn *c, int argc, const char **argv, const char *what)
{
    redisReply *r = redisCommandArgv(c->ctx, argc, argv, NULL);
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r != NULL)
        freeReplyObject(r);
    if (!ok)
        fail(c, what);
    return ok;
}

int redis_ready(redis_conn *c)
{
    if (c->ctx != NULL)
        return 1;
    if (c->host[0] == '\0' || now_ms() < c->next_try_ms)
        return 0;
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    c->ctx = c->is_unix ? redisConnectUnixWithTimeout(c->host, tv)
                        : redisConnectWithTimeout(c->host, c->port, tv);
    if (c->ctx == NULL || c->ctx->err) {
        fail(c, c->ctx ? c->ctx->errstr : "out of memory");
        return 0;
    }
    redisSetTimeout(c->ctx, tv);
    int ok = 1;
    if (c->password[0] != '\0') {
        const char *argv[] = {"AUTH", c->password};
        ok = setup_command(c, 2, argv, "AUTH failed");
    }
    if (ok && c->db != 0) {
        char dbs[8];
        snprintf(dbs, sizeof(dbs), "%d", c->db);
        const char *argv[] = {"SELECT", dbs};
        ok = setup_command(c, 2, argv, "SELECT failed");
    }
    if (!ok)
        return 0;
    if (c->last_log_ms != 0) {
        log_line(LOG_INFO, c->who, "redis reachable again");
        c->last_log_ms = 0;
    }
    return 1;
}

redisReply *redis_command(redis_conn *c, int argc, const char *const *argv, const size_t *lens)
{
    if (!redis_ready(c))
        return NULL;
    redisReply *r = redisCommandArgv(c->ctx, argc, (const char **)argv, lens);
    if (r == NULL) {
        /* An established connection that broke: reconnect once at once,
         * and send the command again; back off only when that fails. */
        redis_close(c);
        c->next_try_ms = 0;
        if (redis_ready(c)) {
            r = redisCommandArgv(c->ctx, argc, (const char **)argv, lens);
            if (r == NULL)
                fail_ctx(c);
        }
    }
    return r;
}

redisReply *redis_eval(redis_conn *c, const char *script, int nkeys, int argc,
                       const char *const *argv, const size_t *lens)
{
    const char *stack_av[EVAL_STACK_ARGS + 3];
    size_t stack_lens[EVAL_STACK_ARGS + 3];
    const char **av = stack_av;
    size_t *al = stack_lens;
    if (argc < 0)
        return NULL;
    if (argc > EVAL_STACK_ARGS) {
        av = malloc(sizeof(*av) * (size_t)(argc + 3));
        al = malloc(sizeof(*al) * (size_t)(argc + 3));
        if (av == NULL || al == NULL) {
            free(av);
            free(al);
            return NULL;
        }
    }
    char nk[16];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    av[0] = "EVAL";
    av[1] = script;
    av[2] = nk;
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        al[3 + i] = lens != NULL ? lens[i] : strlen(argv[i]);
    }
    al[0] = 4;
    al[1] = strlen(script);
    al[2] = strlen(nk);
    redisReply *r = redis_command(c, argc + 3, av, al);
    if (av != stack_av) {
        free(av);
        free(al);
    }
    return r;
}

redisReply *redis_eval_checked(redis_conn *c, const char *script, int nkeys, int argc,
                               const char *const *argv)
{
    redisReply *r = redis_eval(c, script, nkeys, argc, argv, NULL);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        log_line(LOG_WARN, c->who, "script refused: %s", r->str);
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* redis_eval_checked for a reply of type WANT; another is logged and NULL.
 * Adds the time spent to *US. */
static redisReply *eval_want(redis_conn *c, int want, const char *script, int nkeys, int argc,
                             const char *const *argv, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    redisReply *r = redis_eval_checked(c, script, nkeys, argc, argv);
    if (r != NULL && r->type != want) {
        log_line(LOG_WARN, c->who, "script refused: unexpected reply");
        freeReplyObject(r);
        r = NULL;
    }
    if (us)
        *us += elapsed_us(&t0);
    return r;
}

int redis_eval_int(redis_conn *c, const char *script, int nkeys, int argc, const char *const *argv,
                   long long *result, long *us)
{
    redisReply *r = eval_want(c, REDIS_REPLY_INTEGER, script, nkeys, argc, argv, us);
    if (r == NULL)
        return -1;
    *result = r->integer;
    freeReplyObject(r);
    return 0;
}

char *redis_eval_text(redis_conn *c, arena *a, const char *script, int nkeys, int argc,
                      const char *const *argv, size_t *len, long *us)
{
    redisReply *r = eval_want(c, REDIS_REPLY_STRING, script, nkeys, argc, argv, us);
    if (r == NULL)
        return NULL;
    char *out = arena_strndup(a, r->str, r->len);
    *len = r->len;
    freeReplyObject(r);
    return out;
}

const char *redis_status(redis_conn *c)
{
    const char *argv[] = {"PING"};
    redisReply *r = redis_command(c, 1, argv, NULL);
    if (r == NULL)
        return "degraded";
    freeReplyObject(r);
    return "ok";
}
