/*
 * consumer.h - the worker's side of the job queue (the producer is
 * fcgi-app/queue.h, which documents the job document and the Redis keys).
 *
 * Delivery is at-least-once. queue_take moves a job atomically from its
 * queue into hd:active (id -> job) with a lease in hd:lease (id -> expiry);
 * the worker extends the lease while the job runs and acknowledges it when
 * done. A job whose lease expires (its worker was killed, or stalled) is
 * recovered by any worker: counted as a failed attempt and queued again, or
 * moved to the dead list when it has no attempt left. A failed job waits in
 * hd:scheduled for its back-off; after max_attempts it goes to hd:dead with
 * its last error. All moves are single Lua scripts, so a crash between two
 * steps cannot lose or duplicate a job.
 */
#ifndef HD_CONSUMER_H
#define HD_CONSUMER_H

#include <json-c/json.h>

/* Set up the consumer's own connection to REDIS_URL (redis.h, with a 5 s
 * timeout; separate from the cache's), connected lazily. Returns 0, or -1
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

/* The job ran: drop it from the active set, count it, release its unique
 * key. Returns 1, 0 when its lease had already been lost, -1 on error. */
int consumer_ack(json_object *job);

/* The job failed with ERROR: schedule its next attempt after the back-off,
 * or move it to the dead list when it has no attempt left (or when FATAL,
 * for a job that can never succeed). Returns 1 when retried, 2 when dead,
 * -1 on error. */
int consumer_fail(json_object *job, const char *error, int fatal);

/* Seconds before attempt ATTEMPT (1 = the first retry): exponential from
 * HONEYDUE_JOB_RETRY_BASE_MS, capped at an hour, with jitter in [d/2, d].
 * Pure but for the random draw R in [0, 1). */
double consumer_backoff(int attempt, long base_ms, double r);

/* Move due jobs from hd:scheduled to their queues. Returns how many. */
int consumer_promote(void);

/* Recover jobs whose lease expired. Returns how many. */
int consumer_recover(void);

/* One Redis command (for the jobs CLI); the reply as JSON text (malloc'd),
 * or NULL when Redis is unavailable. */
char *consumer_command_json(int argc, const char **argv);

/* EVAL SCRIPT over KEYS then ARGS (ARGC in all, NKEYS of them keys): the
 * reply as JSON text (malloc'd), or NULL on error. For the jobs CLI. */
char *consumer_eval_json(const char *script, int nkeys, int argc, const char **argv);

#endif
