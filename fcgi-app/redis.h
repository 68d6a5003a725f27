/*
 * redis.h - one Redis connection, for every user of Redis in every binary:
 * the cache, the job queue's producer and consumer, throttling, metrics.
 *
 * A redis_conn holds its settings (from a redis:// or unix:// URL, plus a
 * timeout for connecting and for each command) and its state: the hiredis
 * context, the back-off and the outage log. A process keeps one redis_conn
 * per independent connection it needs (honeydue-worker has two: the cache's
 * and the consumer's, with a longer timeout), each allocated at start-up
 * and connected lazily.
 *
 * Redis is never waited for in a loop. When it is down a call fails fast
 * (NULL), a new connection is tried only after a back-off of one second,
 * and the outage is logged at most once per ten seconds, with one "redis
 * reachable again" line when it ends. An established connection that broke
 * (Redis restarted while this process was idle) is re-opened at once, once,
 * and the command sent again; only a failed connect backs off. Every
 * connection, a re-opened one too, starts with AUTH (AUTH user password
 * with an ACL user) when the URL has a password, else with a PING, then
 * SELECT: a refused AUTH, a NOAUTH (Redis wants a password the URL lacks)
 * or a refused SELECT is a failed connect, logged with Redis's error and
 * never with the password; redis_status() then answers "refused". Every
 * failure counts in the scoreboard's Redis dependency errors (a process
 * without one ignores it).
 */
#ifndef HD_REDIS_H
#define HD_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "arena.h"

typedef struct {
    /* settings (redis_init) */
    const char *who;      /* the log lines' event: "cache", "jobs" */
    const char *meantime; /* what the outage line says happens meanwhile */
    char host[256];       /* or the socket's path */
    char user[128];       /* an ACL user, or "" (the default user) */
    char password[256];   /* "" when the URL has none */
    int port, db, is_unix;
    long timeout_ms;
    /* state (redis.c's alone) */
    redisContext *ctx;
    long long next_try_ms; /* no connect attempt before (monotonic ms) */
    long long last_log_ms; /* the last outage line; 0 once reachable again */
    int auth_refused;      /* the last connect failed on AUTH or NOAUTH */
} redis_conn;

/* Parse a redis:// or unix:// URL into C's host, user, password, port, db
 * and is_unix: redis://[[user]:password@]host[:port][/db] (user and
 * password percent-decoded; a bare redis://password@host is a password
 * too), unix:///path. Pure, for tests. Returns 0 or -1. */
int redis_parse_url(const char *url, redis_conn *c);

/* Set C (zeroed, or set up before) up for URL (NULL counts as malformed) with TIMEOUT_MS for the
 * connect and each command; WHO and MEANTIME are string literals for the log
 * lines ("redis unavailable (why); MEANTIME"). Connects lazily. Returns 0,
 * or -1 after logging when URL is malformed: C then stays unavailable. */
int redis_init(redis_conn *c, const char *who, const char *meantime, const char *url,
               long timeout_ms);

/* Close C's connection (redis_init's settings stay). */
void redis_close(redis_conn *c);

/* 1 when C is connected (connecting now when the back-off allows), else 0. */
int redis_ready(redis_conn *c);

/* Send one command (LENS, when not NULL, the lengths of ARGV's binary-safe
 * arguments). Returns the reply, which the caller frees with
 * freeReplyObject (an error reply too: the caller decides what it means);
 * NULL when Redis is unavailable. */
redisReply *redis_command(redis_conn *c, int argc, const char *const *argv, const size_t *lens);

/* Two commands in one round trip (a pipeline): 0 with *R1 and *R2 set
 * (the caller frees both), or -1 with neither (Redis unavailable or the
 * connection broke: closed, so that the next command reconnects at once;
 * no retry here, the caller has a slower path). */
int redis_command2(redis_conn *c, int argc1, const char *const *argv1, int argc2,
                   const char *const *argv2, redisReply **r1, redisReply **r2);

/* EVAL SCRIPT with NKEYS keys; ARGV[0..ARGC) holds the keys then the
 * arguments (LENS as for redis_command). The reply as redis_command's. */
redisReply *redis_eval(redis_conn *c, const char *script, int nkeys, int argc,
                       const char *const *argv, const size_t *lens);

/* As redis_eval, but an error reply (a script that failed, a write refused
 * at maxmemory) is logged, freed and answered as NULL. */
redisReply *redis_eval_checked(redis_conn *c, const char *script, int nkeys, int argc,
                               const char *const *argv);

/* EVAL for a script that answers an integer: 0 with *RESULT set, or -1
 * (Redis unavailable, the script failed, or another kind of answer: logged).
 * The time spent is added to *US when US is not NULL. */
int redis_eval_int(redis_conn *c, const char *script, int nkeys, int argc, const char *const *argv,
                   long long *result, long *us);

/* EVAL for a script that answers a string: a copy in A (*LEN bytes), or
 * NULL as for redis_eval_int. */
char *redis_eval_text(redis_conn *c, arena *a, const char *script, int nkeys, int argc,
                      const char *const *argv, size_t *len, long *us);

/* "ok", "degraded" (unavailable) or "refused" (AUTH refused, or NOAUTH:
 * REDIS_URL's credentials are wrong), after a PING (for /api/ready/). */
const char *redis_status(redis_conn *c);

#endif
