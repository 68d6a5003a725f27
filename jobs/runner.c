/*
 * runner.c - one job process of honeydue-worker: until a stop signal, take
 * jobs from the queues in a weighted order (critical 6, default 3, low 1),
 * run one at a time under a lease it keeps extending, and log one JSON line
 * per job (the weights are the JOB_QUEUE lines of jobs/types.def); every
 * second, promote due jobs, recover expired leases, run the
 * periodic scheduler and drain the Postgres outbox.
 *
 * SIGTERM, SIGQUIT and SIGINT end the process after the job in hand;
 * SIGUSR1 reopens LOG_FILE between two jobs; SIGALRM ends a job that
 * overran its timeout (the lease then expires and the job counts as a
 * failed attempt). SIGHUP is the supervisor's, so it is ignored here.
 */
#include "runner.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "consumer.h"
#include "crypto.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "mail.h"
#include "queue.h"
#include "push.h"
#include "signals.h"
#include "storage.h"

static int lease_s = 30;

/* The job this process is running (for job_heartbeat and the timeout). */
static const char *running_id;
static long retry_after_s; /* job_retry_after: the running job's least retry delay */
static long long last_extend_ms;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A job that overran its timeout: the process ends here; the supervisor
 * starts a new one. Only async-signal-safe calls. */
static void on_alarm(int sig)
{
    static const char msg[] = "{\"level\":\"error\",\"event\":\"job\",\"outcome\":\"timeout\","
                              "\"msg\":\"job overran its timeout; process ends\"}\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    (void)sig;
    _exit(70);
}

static const sig_action runner_signals[] = {
    {SIGTERM, SIGACT_STOP, NULL},  {SIGQUIT, SIGACT_STOP, NULL},
    {SIGINT, SIGACT_STOP, NULL},   {SIGUSR1, SIGACT_REOPEN, NULL},
    {SIGALRM, SIGACT_CALL, on_alarm}, {SIGHUP, SIGACT_IGNORE, NULL},
    {0, 0, NULL},
};

void runner_configure(void)
{
    lease_s = (int)config_int("HONEYDUE_JOB_LEASE_SECONDS", 30);
    /* The key that opens the codes the API seals into jobs (crypto.h). */
    if (crypto_seal_setup(config_get("SECRET_KEY")) != 0)
        log_line(LOG_ERROR, "start", "SECRET_KEY is unset: code emails cannot be opened");
    /* Here, in the supervisor, so that what is on and off is said once per
     * start or reload; each process opens its own connections. */
    push_setup();
}

void job_retry_after(long seconds)
{
    if (seconds > retry_after_s)
        retry_after_s = seconds > 3600 ? 3600 : seconds;
}

void job_heartbeat(void)
{
    if (running_id == NULL)
        return;
    long long now = mono_ms();
    if (now - last_extend_ms < (long long)lease_s * 1000 / 3)
        return;
    last_extend_ms = now;
    if (consumer_extend(running_id, lease_s) == 0)
        log_line(LOG_WARN, "job", "job %s lost its lease (recovered elsewhere)", running_id);
}

/* The one log line of a job. */
static void log_job(json_object *job, const char *type, int attempt, double ms, const char *outcome,
                    const char *error)
{
    json_object *id = NULL;
    json_object_object_get_ex(job, "id", &id);
    log_rec l;
    log_begin(&l, strcmp(outcome, "ok") == 0 ? LOG_INFO : LOG_WARN, "job");
    log_str(&l, "type", type);
    log_str(&l, "id", id ? json_object_get_string(id) : "-");
    log_int(&l, "attempt", attempt + 1);
    log_ms(&l, "dur_ms", (long long)(ms * 1000.0));
    log_str(&l, "outcome", outcome);
    if (error != NULL && error[0] != '\0')
        log_str(&l, "error", error);
    log_end(&l);
}

static void run_job(const char *text)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[1024] = "";
    json_object *job = json_tokener_parse(text);
    json_object *v, *payload = NULL;
    const char *type = "?";
    if (job != NULL && json_object_object_get_ex(job, "type", &v))
        type = json_object_get_string(v);
    if (job == NULL) { /* take_lua only hands out parsed jobs */
        log_line(LOG_ERROR, "job", "unparseable job skipped");
        return;
    }
    if (consumer_started(job) < 0)
        log_line(LOG_WARN, "job", "could not release the unique key of a %s job", type);
    job_ctx c = {.type = type};
    if (json_object_object_get_ex(job, "id", &v))
        c.id = json_object_get_string(v);
    if (json_object_object_get_ex(job, "attempt", &v))
        c.attempt = json_object_get_int(v);
    json_object_object_get_ex(job, "payload", &payload);
    const queue_type *qt = queue_type_find(type);
    job_fn fn = job_find(type);
    int rc;
    if (fn == NULL || qt == NULL) {
        snprintf(err, sizeof(err), "unknown job type %s", type);
        rc = JOB_FATAL;
    } else if (payload == NULL || !json_object_is_type(payload, json_type_object)) {
        snprintf(err, sizeof(err), "payload is not an object");
        rc = JOB_FATAL;
    } else {
        running_id = c.id;
        retry_after_s = 0;
        last_extend_ms = mono_ms();
        /* The job's own timeout when it carries one, else its type's; one
         * second of grace, then the process ends (see on_alarm). */
        int timeout = qt->timeout_s;
        if (json_object_object_get_ex(job, "timeout", &v) &&
            json_object_is_type(v, json_type_int) && json_object_get_int(v) > 0 &&
            json_object_get_int(v) <= 86400)
            timeout = json_object_get_int(v);
        alarm((unsigned)timeout + 1);
        rc = fn(&c, payload, err, sizeof(err));
        alarm(0);
        running_id = NULL;
    }
    const char *outcome;
    if (rc == JOB_OK) {
        outcome = consumer_ack(job) == 0 ? "ok-late" : "ok";
    } else {
        int f = consumer_fail(job, err[0] ? err : "failed", rc == JOB_FATAL, (double)retry_after_s);
        outcome = f == 2 ? "dead" : f == 1 ? "retry" : "lost";
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1000.0 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    log_job(job, type, c.attempt, ms, outcome, rc == JOB_OK ? NULL : err);
    json_object_put(job);
}

int runner_loop(void)
{
    srandom((unsigned)(time(NULL) ^ getpid()));
    sig_install(runner_signals);
    db_open();
    cache_setup();
    consumer_setup();
    mail_setup();
    storage_setup();
    long long last_tick = 0;
    log_line(LOG_INFO, "start", "job worker ready (lease %ds)", lease_s);
    while (!sig_stop_requested()) {
        sig_reopen_log("start");
        long long now = mono_ms();
        if (now - last_tick >= 1000) {
            last_tick = now;
            consumer_promote();
            consumer_recover();
            periodic_tick();
            periodic_drain_outbox();
        }
        char *job = NULL;
        int got = consumer_take(lease_s, &job);
        if (got == 1) {
            run_job(job);
            free(job);
        }
        /* The one place a stop or reopen is let in: after a job at once,
         * else waiting for the next one. */
        sig_poll(NULL, 0, got == 1 ? 0 : got < 0 ? 1000 : 100);
    }
    log_line(LOG_INFO, "stop", "job worker stopping (signal %d)", sig_stop_requested());
    consumer_close();
    cache_close();
    mail_shutdown();
    storage_close();
    push_shutdown();
    db_close();
    return 0;
}

