/*
 * redis.c - the Redis connection of redis.h: URL, AUTH and SELECT,
 * timeouts, back-off, reconnect and the outage log, in one place.
 */
#include "redis.h"
#include "log.h"
#include "scoreboard.h"

#include <ctype.h>
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

/* Copy [S, S+N) to OUT (CAP bytes), %XX-decoded. 0, or -1 when it does not
 * fit or holds a malformed escape or a NUL. */
static int url_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2]))
                return -1;
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            ch = (int)strtol(hex, NULL, 16);
            i += 2;
        }
        if (ch == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

int redis_parse_url(const char *url, redis_conn *c)
{
    c->port = 6379;
    c->db = 0;
    c->is_unix = 0;
    c->user[0] = c->password[0] = '\0';
    if (strncmp(url, "unix://", 7) == 0) {
        c->is_unix = 1;
        snprintf(c->host, sizeof(c->host), "%s", url + 7);
        return c->host[0] == '/' ? 0 : -1;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *s = url + 8;
    const char *at = strrchr(s, '@');
    if (at != NULL) {
        /* [user]:password, or a password alone (the older form) */
        const char *colon = memchr(s, ':', (size_t)(at - s));
        const char *pws = colon ? colon + 1 : s;
        if (colon != NULL && url_decode(s, (size_t)(colon - s), c->user, sizeof(c->user)) != 0)
            return -1;
        if (url_decode(pws, (size_t)(at - pws), c->password, sizeof(c->password)) != 0)
            return -1;
        if (c->user[0] != '\0' && c->password[0] == '\0')
            return -1; /* an ACL user needs its password */
        s = at + 1;
    }
    size_t hlen = strcspn(s, ":/");
    if (hlen == 0 || hlen >= sizeof(c->host))
        return -1;
    memcpy(c->host, s, hlen);
    c->host[hlen] = '\0';
    s += hlen;
    if (*s == ':') {
        char *end;
        long v = strtol(s + 1, &end, 10);
        if (end == s + 1 || v <= 0 || v > 65535)
            return -1;
        c->port = (int)v;
        s = end;
    }
    if (*s == '/' && s[1] != '\0') {
        char *end;
        long v = strtol(s + 1, &end, 10);
        if (*end != '\0' || v < 0 || v > 15)
            return -1;
        c->db = (int)v;
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
    if (url == NULL || redis_parse_url(url, c) != 0) {
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

/* One command of a new connection (AUTH, PING, SELECT): 1 when Redis
 * accepted it, else 0 after fail() with WHAT and Redis's error (an error
 * never quotes the password). An AUTH refused, or a NOAUTH, is the
 * configuration's fault, not an outage: C->auth_refused says so. */
static int setup_command(redis_conn *c, int argc, const char **argv, const char *what)
{
    redisReply *r = redisCommandArgv(c->ctx, argc, argv, NULL);
    if (r != NULL && r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return 1;
    }
    char why[160];
    if (r == NULL) {
        snprintf(why, sizeof(why), "%s: %s", what,
                 c->ctx->errstr[0] ? c->ctx->errstr : "i/o error");
    } else {
        c->auth_refused = strncmp(r->str, "WRONGPASS", 9) == 0 ||
                          strncmp(r->str, "NOAUTH", 6) == 0 || strcmp(argv[0], "AUTH") == 0;
        snprintf(why, sizeof(why), "%s: %.100s", what, r->str);
        freeReplyObject(r);
    }
    fail(c, why);
    return 0;
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
        c->auth_refused = 0; /* not known: nothing answered */
        fail(c, c->ctx ? c->ctx->errstr : "out of memory");
        return 0;
    }
    redisSetTimeout(c->ctx, tv);
    /* Before anything else: AUTH (with the ACL user when the URL names
     * one), or, with no password, a PING that tells a Redis which requires
     * one (NOAUTH) from one which does not. */
    int ok;
    if (c->password[0] != '\0') {
        const char *argv[] = {"AUTH", c->user[0] ? c->user : c->password, c->password};
        ok = c->user[0] ? setup_command(c, 3, argv, "AUTH refused")
                        : setup_command(c, 2, argv, "AUTH refused");
    } else {
        const char *argv[] = {"PING"};
        ok = setup_command(c, 1, argv, "REDIS_URL has no password");
    }
    if (ok && c->db != 0) {
        char dbs[8];
        snprintf(dbs, sizeof(dbs), "%d", c->db);
        const char *argv[] = {"SELECT", dbs};
        ok = setup_command(c, 2, argv, "SELECT failed");
    }
    if (!ok)
        return 0;
    c->auth_refused = 0;
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

int redis_command2(redis_conn *c, int argc1, const char *const *argv1, int argc2,
                   const char *const *argv2, redisReply **r1, redisReply **r2)
{
    *r1 = *r2 = NULL;
    if (!redis_ready(c))
        return -1;
    void *a = NULL, *b = NULL;
    if (redisAppendCommandArgv(c->ctx, argc1, (const char **)argv1, NULL) != REDIS_OK ||
        redisAppendCommandArgv(c->ctx, argc2, (const char **)argv2, NULL) != REDIS_OK ||
        redisGetReply(c->ctx, &a) != REDIS_OK || redisGetReply(c->ctx, &b) != REDIS_OK) {
        freeReplyObject(a);
        redis_close(c); /* whatever was sent, its answers are lost with it */
        c->next_try_ms = 0;
        return -1;
    }
    *r1 = a;
    *r2 = b;
    return 0;
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
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r != NULL)
        freeReplyObject(r);
    if (ok)
        return "ok";
    return c->auth_refused ? "refused" : "degraded";
}
