/*
 * queue.h - the job queue as honeydue-fcgi sees it (DESIGN §8): the API
 * enqueues side effects (email, notifications) that honeydue-worker runs;
 * /metrics, the admin API and the worker's CLI read its sizes and counters;
 * the admin API and the CLI list and retry or discard jobs through the same
 * functions here. The worker's side is jobs/consumer.h.
 *
 * A job is one JSON object:
 *   {"id": "<32 hex>", "type": "email.welcome", "queue": "default",
 *    "payload": {...}, "attempt": 0, "max_attempts": 10, "timeout": 30,
 *    "enqueued_at": "2026-11-23T10:00:00Z", "unique_key": null, "run_at": null}
 * Its type, queue, attempts and timeout come from jobs/types.def. Redis
 * keys (keys.h builds them, all under hd:):
 *   hd:queue:<queue>   list of ready jobs; producers LPUSH, workers take from
 *                      the right (FIFO).
 *   hd:scheduled       sorted set of jobs whose run_at (score, Unix seconds)
 *                      is in the future; promoted to their queue when due.
 *   hd:unique:<key>    held (SET NX EX) while a unique job waits to start.
 * Enqueueing is one EVAL. When Redis cannot take the job, it is written to
 * the Postgres table queue_outbox instead, which the worker drains into
 * Redis: a side effect is never lost because the cache server was down.
 */
#ifndef HD_QUEUE_H
#define HD_QUEUE_H

#include <json-c/json.h>

#include "redis.h"

/* What each job type is: its queue, attempts before the dead list, and how
 * long one run may take (jobs/types.def). */
typedef struct {
    const char *type;
    const char *queue;
    int max_attempts;
    int timeout_s;
} queue_type;

extern const queue_type queue_types[]; /* ends with a NULL type */

/* The entry for TYPE, or NULL when TYPE is not a known job type. */
const queue_type *queue_type_find(const char *type);

/* A queue, most urgent first (jobs/types.def): its name, its weight when a
 * worker orders the queues for a take, and whether it takes a job document
 * that names no queue. */
typedef struct {
    const char *name;
    int weight;
    int fallback;
} queue_def;

#define QUEUE_MAX 8
extern const queue_def queue_defs[];
extern const int queue_defs_n;

/* The queue that takes a job document naming none. */
const char *queue_fallback(void);

/* Enqueue a job of TYPE with PAYLOAD (taken, freed here). UNIQUE_KEY (or
 * NULL) makes the job unique while pending, for UNIQUE_TTL seconds; RUN_AT
 * (Unix seconds, 0 for now) schedules it. Returns 0 when queued (in Redis
 * or, failing that, in the Postgres outbox), 1 when a pending job already
 * holds UNIQUE_KEY, -1 when both stores failed (logged without the payload,
 * which may hold a secret such as a reset code). US, when not NULL, is
 * increased by the time spent in Redis. */
int queue_enqueue(const char *type, json_object *payload, const char *unique_key, int unique_ttl,
                  long long run_at, long *us);

/* Build the job document (pure, for tests and the outbox drain): the JSON
 * text in OUT (malloc'd, caller frees) for the given fields. Returns 0. */
int queue_job_json(const char *id, const queue_type *t, json_object *payload,
                   const char *unique_key, long long run_at, long long now, char **out);

/* What the job queue holds, read in one script. */
typedef struct {
    long long queued[QUEUE_MAX]; /* ready jobs, per queue_defs entry */
    long long scheduled;         /* waiting for their run_at or a retry */
    long long active;            /* running, under a lease */
    long long dead;
    json_object *counters; /* hd:stats: "outcome:type" -> count, in Redis's
                              order; the caller puts it */
    /* hd:documents, what documents.reconcile keeps (0 before its first run):
     * rows whose file its last complete run did not find, orphaned files it
     * removed in all, and when its last complete run ended (Unix seconds). */
    long long doc_missing, doc_orphans_removed, doc_reconciled_at;
    json_object *push; /* hd:push: "outcome:provider" -> count; the caller puts it */
} queue_stats;

/* Read the queue's sizes and counters over connection C into *OUT.
 * Returns 0, or -1 when Redis is unavailable (*OUT is then zeroed). US as
 * for queue_enqueue. */
int queue_stats_read(redis_conn *c, queue_stats *out, long *us);

/* ---- the dead list (hd:dead, newest first), and what is scheduled or
 * running: the one implementation behind `honeydue-worker jobs
 * dead|retry|delete` (jobs/cli.c) and the admin API (handlers/admin_jobs.c).
 * Each takes the connection to use (the worker's consumer connection, or
 * the API's shared one); US as for queue_enqueue. ---- */

/* The newest N dead jobs (N of 0: all of them), newest first, as a JSON
 * array of their texts, payloads included (the operator's CLI). The caller
 * puts it; NULL when Redis is unavailable. */
json_object *queue_dead_texts(redis_conn *c, long n, long *us);

/* Look before acting. With ID: *N is 1 when dead job ID is in the list
 * (and its type, "?" when it has none, is copied to TYPE, CAP bytes), else
 * 0. With ID NULL: *N is how many dead jobs there are (TYPE gets "").
 * Returns 0, or -1 when Redis is unavailable. */
int queue_dead_peek(redis_conn *c, const char *id, long long *n, char *type, size_t cap, long *us);

typedef enum {
    QUEUE_DEAD_RETRY,   /* back to its queue, attempts and error reset */
    QUEUE_DEAD_DISCARD, /* dropped */
} queue_dead_op;

/* Apply OP to dead job ID, or to every dead job when ID is NULL, in one
 * script. Returns 0 with *COUNT set to how many left the dead list (0 when
 * ID was not there), or -1 when Redis is unavailable. */
int queue_dead_apply(redis_conn *c, const char *id, queue_dead_op op, long long *count, long *us);

/* The jobs waiting for their run time (or a retry), running under a lease,
 * and dead, as the admin API lists them: JSON arrays of at most LIMIT
 * objects each, built from a few fields of each job and never its payload
 * (which can hold a password-reset code). The caller puts the three. */
typedef struct {
    json_object *scheduled; /* {id, type, queue, attempt, max_attempts, run_at,
                               last_error|null}, soonest first */
    json_object *running;   /* {id, type, queue, attempt, lease_until}, soonest
                               lease expiry first */
    json_object *dead;      /* {id, type, queue, attempt, max_attempts, last_error,
                               failed_at}, newest first */
} queue_jobs;

/* Read them over C into *OUT in one script. Returns 0, or -1 when Redis is
 * unavailable (*OUT is then all NULL). */
int queue_jobs_read(redis_conn *c, int limit, queue_jobs *out, long *us);

#endif
