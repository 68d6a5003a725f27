/*
 * jobs.h - the job handlers honeydue-worker runs, and the table that maps
 * a job's type to its handler (the worker's counterpart of routes.c), built
 * from jobs/types.def.
 */
#ifndef HD_JOBS_H
#define HD_JOBS_H

#include <json-c/json.h>
#include <stddef.h>

/* What a handler gets besides its payload. */
typedef struct {
    const char *id;
    const char *type;
    int attempt; /* failed attempts before this one */
} job_ctx;

/* A handler returns JOB_OK, JOB_RETRY (a transient failure: try again
 * after the back-off) or JOB_FATAL (it can never succeed: dead at once),
 * with the reason in ERR. */
enum { JOB_OK = 0, JOB_RETRY = -1, JOB_FATAL = -2 };

typedef int (*job_fn)(const job_ctx *c, json_object *payload, char *err, size_t errcap);

typedef struct {
    const char *type;
    job_fn fn;
} job_handler;

extern const job_handler job_handlers[];

/* The handler for TYPE, or NULL. */
job_fn job_find(const char *type);

/* Keep the running job's lease (call it between steps of a long job). */
void job_heartbeat(void);

/* The running job, if it returns JOB_RETRY, is not retried sooner than
 * SECONDS from now (a service's Retry-After; at most an hour). */
void job_retry_after(long seconds);

/* noop.c: does nothing, for the bench and for checking the pipeline by
 * hand; payload {"sleep_ms": N} waits, {"fail": "why"} fails (retryable),
 * {"fatal": "why"} fails for good. */
int job_noop(const job_ctx *c, json_object *payload, char *err, size_t errcap);

/* email.c */
int job_email_welcome(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_email_verify(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_email_password_reset(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_email_address_changed(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_email_notification(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_email_digest(const job_ctx *c, json_object *payload, char *err, size_t errcap);

/* notify.c */
int job_notify_task_created(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_notify_task_completed(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_notify_member_joined(const job_ctx *c, json_object *payload, char *err, size_t errcap);

/* reminders.c */
int job_reminders_daily(const job_ctx *c, json_object *payload, char *err, size_t errcap);

/* push.c */
int job_push_send(const job_ctx *c, json_object *payload, char *err, size_t errcap);

/* Queue push.send for feed entry NOTIFICATION_ID (decimal text). 0, or -1
 * when it could not be queued anywhere. */
int push_enqueue(const char *notification_id);

/* documents.c */
int job_documents_sweep(const job_ctx *c, json_object *payload, char *err, size_t errcap);
int job_documents_reconcile(const job_ctx *c, json_object *payload, char *err, size_t errcap);

/* Periodic jobs (periodic.c): enqueued by whichever worker holds the
 * scheduler lock, once per period. */
void periodic_tick(void);

/* Move what the API parked in the Postgres outbox to Redis (periodic.c). */
void periodic_drain_outbox(void);

#endif
