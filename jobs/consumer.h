/*
 * consumer.h - the worker's side of the job queue (the producer is
 * fcgi-app/queue.h, which documents the job document; fcgi-app/keys.h
 * builds the Redis keys).
 *
 * Delivery is at-least-once. consumer_take moves a job atomically from its
 * queue into hd:active (id -> job) with a lease in hd:lease (id -> expiry);
 * the worker extends the lease while the job runs and acknowledges it when
 * done. A job whose lease expires (its worker was killed, or stalled) is
 * recovered by any worker: counted as a failed attempt and queued again, or
 * moved to the dead list when it has no attempt left. A failed job waits in
 * hd:scheduled for its back-off; after max_attempts it goes to hd:dead with
 * its last error. All moves are single Lua scripts, so a crash between two
 * steps cannot lose or duplicate a job.
 *
 * The consumer has a Redis connection of its own (redis.h), with a 5 s
 * timeout: separate from the cache's, which the same process uses to
 * enqueue.
 */
#ifndef HD_CONSUMER_H
#define HD_CONSUMER_H

#include <json-c/json.h>

#include "redis.h"

/* Set up the connection to REDIS_URL (connected lazily). Returns 0, or -1
 * when REDIS_URL is malformed (logged; every call then fails). */
int consumer_setup(void);
void consumer_close(void);

/* Take the next job under a lease of LEASE_S seconds, trying the queues in
 * an order drawn at random by their weights (jobs/types.def). Returns 1
 * with *JOB (malloc'd JSON text, caller frees), 0 when every queue is
 * empty, -1 when Redis is unavailable. */
int consumer_take(int lease_s, char **job);

/* Extend job ID's lease to LEASE_S seconds from now. Returns 1, 0 when the
 * lease was lost (the job was recovered by another worker), -1 on error. */
int consumer_extend(const char *id, int lease_s);

/* The job is about to run: release its unique key (if it still holds it),
 * so the same unique job can be queued again while this one runs: unique
 * while pending, not while running, or a wake-up enqueued during a run
 * (documents.sweep's) would be dropped. Returns 0, or -1 on error. */
int consumer_started(json_object *job);

/* The job ran: drop it from the active set, count it, release its unique
 * key if it still holds it (a retried job's key went at its start). Returns
 * 1, 0 when its lease had already been lost, -1 on error. */
int consumer_ack(json_object *job);

/* The job failed with ERROR: schedule its next attempt after the back-off
 * (at least MIN_DELAY seconds: what a service asked for with Retry-After),
 * or move it to the dead list when it has no attempt left (or when FATAL,
 * for a job that can never succeed). Returns 1 when retried, 2 when dead,
 * -1 on error. */
int consumer_fail(json_object *job, const char *error, int fatal, double min_delay);

/* Seconds before attempt ATTEMPT (1 = the first retry): exponential from
 * HONEYDUE_JOB_RETRY_BASE_MS, capped at an hour, with jitter in [d/2, d].
 * Pure but for the random draw R in [0, 1). */
double consumer_backoff(int attempt, long base_ms, double r);

/* Add one to counter FIELD of hash KEY (keys.h), for /metrics; nothing
 * when Redis is unavailable (a counter is not worth a retry). */
void consumer_count(const char *key, const char *field);

/* Move due jobs from hd:scheduled to their queues. Returns how many. */
int consumer_promote(void);

/* Recover jobs whose lease expired. Returns how many. */
int consumer_recover(void);

/* Queue JOB (a job document, from the Postgres outbox) as queue_enqueue
 * would have: on its queue, or scheduled when its run_at is to come.
 * Returns 1, or -1 when Redis did not take it. */
int consumer_push(const char *job);

/* The periodic scheduler: take or keep the scheduler's lock for ME (held
 * 5 s, renewed by each call), and while holding it claim slot SLOT of
 * periodic job TYPE (the claim kept TTL_S seconds). Returns 1 when this
 * call claimed the slot (enqueue it now), 0 when not, -1 on error. */
int consumer_claim_periodic(const char *me, const char *type, long long slot, long ttl_s);

/* documents.reconcile's numbers, which /metrics reads (hd:documents): add
 * REMOVED to the orphaned files removed; when COMPLETE (the run went
 * through the whole listing), also set the rows found missing to MISSING
 * and the end of the last complete run to AT (Unix seconds). Returns 0, or
 * -1 when Redis is unavailable. */
int consumer_documents_record(long long removed, int complete, long long missing, long long at);

/* ---- for the jobs CLI ---- */

/* The queues' sizes and the counters, as one JSON object: "queue:<name>",
 * "scheduled", "active", "dead", then each counter ("processed:noop").
 * The caller puts it; NULL when Redis is unavailable. */
json_object *consumer_stats(void);

/* The consumer's connection (5 s timeout), for the CLI's dead-list
 * operations (queue_dead_* in fcgi-app/queue.h). */
redis_conn *consumer_redis(void);

#endif
