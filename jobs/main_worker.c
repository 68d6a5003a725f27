/*
 * main_worker.c - honeydue-worker: runs the jobs the API enqueues.
 *
 *   honeydue-worker [--pidfile PATH]   supervisor + HONEYDUE_JOB_WORKERS processes
 *   honeydue-worker jobs stats      queue sizes and job counters (JSON)
 *   honeydue-worker jobs dead [N]   the newest N dead jobs, one JSON per line
 *   honeydue-worker jobs retry ID|all    dead job(s) back to their queue
 *   honeydue-worker jobs delete ID|all   drop dead job(s)
 *   honeydue-worker jobs enqueue TYPE [PAYLOAD] [--unique KEY]
 *
 * The supervisor forwards SIGTERM/SIGQUIT (graceful: each process finishes
 * its job, bounded by HONEYDUE_SHUTDOWN_TIMEOUT) and SIGINT (at once), and
 * respawns a process that died; SIGHUP re-reads the configuration (the
 * environment and HONEYDUE_CONFIG) and replaces every process, the old ones
 * finishing their job first; SIGUSR1 reopens LOG_FILE in the supervisor
 * and in every process (each between two jobs). Each process takes jobs from the queues in
 * a weighted order (critical 6, default 3, low 1), runs one at a time under
 * a lease it keeps extending, and logs one JSON line per job.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "consumer.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "mail.h"
#include "pidfile.h"
#include "queue.h"
#include "schema.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;
static int wake_pipe[2] = {-1, -1};
static int lease_s = 30;

/* The job this process is running (for job_heartbeat and the timeout). */
static const char *running_id;
static long long last_extend_ms;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_stop(int sig)
{
    int saved = errno;
    stop_requested = sig;
    if (wake_pipe[1] >= 0) {
        ssize_t w = write(wake_pipe[1], "x", 1);
        (void)w;
    }
    errno = saved;
}

static void on_reopen(int sig)
{
    int saved = errno;
    reopen_requested = sig;
    if (wake_pipe[1] >= 0) {
        ssize_t w = write(wake_pipe[1], "x", 1);
        (void)w;
    }
    errno = saved;
}

/* Reopen LOG_FILE when SIGUSR1 asked for it (between lines, never in one). */
static void reopen_log_if_asked(const char *who)
{
    if (!reopen_requested)
        return;
    reopen_requested = 0;
    if (log_reopen() != 0)
        log_line(LOG_ERROR, who, "cannot reopen LOG_FILE: %s", strerror(errno));
    else
        log_line(LOG_INFO, who, "log file reopened");
}

/* A job that overran its timeout: the process ends here (the lease then
 * expires and the job counts as a failed attempt); the supervisor starts a
 * new process. Only async-signal-safe calls. */
static void on_alarm(int sig)
{
    static const char msg[] = "{\"level\":\"error\",\"event\":\"job\",\"outcome\":\"timeout\","
                              "\"msg\":\"job overran its timeout; process ends\"}\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    (void)sig;
    _exit(70);
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
    char line[2048], ts[40];
    json_object *id = NULL;
    json_object_object_get_ex(job, "id", &id);
    log_timestamp(ts, sizeof(ts));
    size_t n = (size_t)snprintf(line, sizeof(line),
                                "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"event\":\"job\","
                                "\"type\":\"",
                                ts, strcmp(outcome, "ok") == 0 ? "info" : "warn", (int)getpid());
    log_escape(line, 300, &n, type);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"id\":\"");
    log_escape(line, 400, &n, id ? json_object_get_string(id) : "-");
    n += (size_t)snprintf(line + n, sizeof(line) - n,
                          "\",\"attempt\":%d,\"dur_ms\":%.3f,\"outcome\":\"%s\"", attempt + 1, ms,
                          outcome);
    if (error != NULL && error[0] != '\0') {
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"error\":\"");
        log_escape(line, 1900, &n, error);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\"");
    }
    n += (size_t)snprintf(line + n, sizeof(line) - n, "}");
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    log_write(line, n);
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
        int f = consumer_fail(job, err[0] ? err : "failed", rc == JOB_FATAL);
        outcome = f == 2 ? "dead" : f == 1 ? "retry" : "lost";
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1000.0 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    log_job(job, type, c.attempt, ms, outcome, rc == JOB_OK ? NULL : err);
    json_object_put(job);
}

/* One worker process: until a stop signal, take and run jobs; every second
 * promote due jobs, recover expired leases and run the periodic scheduler. */
static int worker_loop(void)
{
    srandom((unsigned)(time(NULL) ^ getpid()));
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_reopen;
    sa.sa_flags = SA_RESTART; /* a job in flight must not see EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_flags = 0;
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGHUP, SIG_IGN); /* a reload is the supervisor's (a group-wide HUP too) */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    db_open();
    cache_setup();
    consumer_setup();
    mail_setup();
    long long last_tick = 0;
    log_line(LOG_INFO, "start", "job worker ready (lease %ds)", lease_s);
    while (!stop_requested) {
        reopen_log_if_asked("start");
        long long now = mono_ms();
        if (now - last_tick >= 1000) {
            last_tick = now;
            consumer_promote();
            consumer_recover();
            periodic_tick();
            drain_outbox();
        }
        char *job = NULL;
        int got = consumer_take(lease_s, &job);
        if (got == 1) {
            run_job(job);
            free(job);
            continue;
        }
        struct pollfd p = {wake_pipe[0], POLLIN, 0};
        if (poll(&p, 1, got < 0 ? 1000 : 100) > 0) {
            char drain[64];
            while (read(wake_pipe[0], drain, sizeof(drain)) > 0)
                ;
        }
    }
    log_line(LOG_INFO, "stop", "job worker stopping (signal %d)", (int)stop_requested);
    consumer_close();
    cache_close();
    mail_shutdown();
    db_close();
    return 0;
}

/* ---- the supervisor ---- */

#define MAX_PROCS 64

/* SIGHUP: re-read the configuration. Returns the new process count, or
 * -1 when the file does not read (the running configuration stays). */
static int reload_config(void)
{
    if (config_load() != 0) {
        log_line(LOG_ERROR, "reload", "reload aborted: configuration unreadable");
        return -1;
    }
    log_set_level(config_get("LOG_LEVEL"));
    if (log_open(config_get("LOG_FILE")) != 0)
        log_line(LOG_ERROR, "reload", "cannot open LOG_FILE: %s", strerror(errno));
    lease_s = (int)config_int("HONEYDUE_JOB_LEASE_SECONDS", 30);
    long n = config_int("HONEYDUE_JOB_WORKERS", 2);
    if (n < 1 || n > MAX_PROCS / 2) {
        log_line(LOG_ERROR, "reload", "HONEYDUE_JOB_WORKERS must be 1 to %d; keeping the count",
                 MAX_PROCS / 2);
        return 0;
    }
    return (int)n;
}

static int supervise(int n)
{
    /* pids[0..n): the current processes; old[]: those a reload retired,
     * finishing their job before they exit. */
    pid_t pids[MAX_PROCS] = {0}, old[MAX_PROCS] = {0};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int stopping = 0;
    long long deadline = 0, next_spawn = 0;
    for (;;) {
        long long now = mono_ms();
        int alive = 0;
        for (int i = 0; i < n; i++) {
            if (pids[i] == 0 && !stopping && now >= next_spawn) {
                pid_t pid = fork();
                if (pid == 0)
                    _exit(worker_loop());
                if (pid > 0)
                    pids[i] = pid;
                next_spawn = now + 200; /* pace respawns of a crashing worker */
            }
            alive += pids[i] != 0;
        }
        for (int i = 0; i < MAX_PROCS; i++)
            alive += old[i] != 0;
        if (stopping && alive == 0)
            return 0;
        if (stopping && now >= deadline) {
            log_line(LOG_WARN, "stop", "shutdown timeout: killing %d worker(s)", alive);
            for (int i = 0; i < MAX_PROCS; i++) {
                if (pids[i] != 0)
                    kill(pids[i], SIGKILL);
                if (old[i] != 0)
                    kill(old[i], SIGKILL);
            }
            deadline = now + 60000;
        }
        struct timespec ts = {0, 200000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGUSR1) {
            reopen_requested = sig;
            reopen_log_if_asked("stop");
            for (int i = 0; i < MAX_PROCS; i++) {
                if (pids[i] != 0)
                    kill(pids[i], SIGUSR1);
                if (old[i] != 0)
                    kill(old[i], SIGUSR1);
            }
        }
        if (sig == SIGHUP && !stopping) {
            int want = reload_config();
            if (want >= 0) {
                /* New processes start at once with the new configuration;
                 * the old ones finish their job (SIGTERM is graceful). */
                int retired = 0;
                for (int i = 0; i < MAX_PROCS; i++) {
                    if (pids[i] == 0)
                        continue;
                    for (int j = 0; j < MAX_PROCS; j++)
                        if (old[j] == 0) {
                            old[j] = pids[i];
                            break;
                        }
                    kill(pids[i], SIGTERM);
                    pids[i] = 0;
                    retired++;
                }
                if (want > 0)
                    n = want;
                next_spawn = 0;
                log_line(LOG_INFO, "reload", "reloaded: %d job worker(s) retiring, %d starting",
                         retired, n);
            }
        }
        if (sig == SIGTERM || sig == SIGQUIT || sig == SIGINT) {
            log_line(LOG_INFO, "stop", "stopping %d job worker(s) (signal %d)", alive, sig);
            for (int i = 0; i < MAX_PROCS; i++) {
                if (pids[i] != 0)
                    kill(pids[i], sig == SIGINT ? SIGKILL : SIGTERM);
                if (old[i] != 0)
                    kill(old[i], sig == SIGINT ? SIGKILL : SIGTERM);
            }
            if (!stopping)
                deadline = now + config_int("HONEYDUE_SHUTDOWN_TIMEOUT", 30) * 1000;
            stopping = 1;
        }
        int status;
        pid_t dead;
        while ((dead = waitpid(-1, &status, WNOHANG)) > 0) {
            int retiring = 0;
            for (int i = 0; i < MAX_PROCS; i++) {
                if (pids[i] == dead)
                    pids[i] = 0;
                if (old[i] == dead) {
                    old[i] = 0;
                    retiring = 1;
                }
            }
            if (!stopping && !retiring)
                log_line(LOG_WARN, "worker", "job worker %d ended (status %d); respawning",
                         (int)dead, status);
        }
    }
}

/* ---- the jobs CLI ---- */

static int jobs_cli(int argc, char **argv)
{
    consumer_setup();
    if (argc >= 1 && strcmp(argv[0], "stats") == 0) {
        json_object *o = consumer_stats();
        int ok = o != NULL;
        puts(ok ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "{}");
        json_object_put(o);
        return ok ? 0 : 1;
    }
    if (argc >= 1 && strcmp(argv[0], "dead") == 0) {
        json_object *a = consumer_dead_list(strtol(argc >= 2 ? argv[1] : "20", NULL, 10));
        for (size_t i = 0; a && i < json_object_array_length(a); i++)
            puts(json_object_get_string(json_object_array_get_idx(a, i)));
        int ok = a != NULL;
        json_object_put(a);
        return ok ? 0 : 1;
    }
    if (argc == 2 && (strcmp(argv[0], "retry") == 0 || strcmp(argv[0], "delete") == 0)) {
        long long n;
        if (consumer_dead_apply(argv[1], argv[0], &n) == 0)
            printf("%lld\n", n);
        else
            fprintf(stderr, "redis unavailable\n");
        return 0;
    }
    const char *unique = NULL;
    if (argc >= 4 && strcmp(argv[argc - 2], "--unique") == 0) {
        unique = argv[argc - 1];
        argc -= 2;
    }
    if ((argc == 2 || argc == 3) && strcmp(argv[0], "enqueue") == 0) {
        json_object *payload = json_tokener_parse(argc == 3 ? argv[2] : "{}");
        if (payload == NULL || !json_object_is_type(payload, json_type_object)) {
            fprintf(stderr, "the payload must be a JSON object\n");
            json_object_put(payload);
            return 2;
        }
        if (queue_type_find(argv[1]) == NULL) {
            fprintf(stderr, "unknown job type %s\n", argv[1]);
            json_object_put(payload);
            return 2;
        }
        cache_setup();
        db_open();
        int rc = queue_enqueue(argv[1], payload, unique, 3600, 0, NULL);
        puts(rc == 0 ? "queued" : rc == 1 ? "duplicate" : "failed");
        return rc < 0;
    }
    fprintf(stderr, "usage: honeydue-worker jobs stats | dead [N] | retry ID|all | "
                    "delete ID|all | enqueue TYPE [PAYLOAD] [--unique KEY]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (config_load() != 0)
        return 1;
    log_set_level(config_get("LOG_LEVEL"));
    if (argc >= 2 && strcmp(argv[1], "jobs") == 0)
        return jobs_cli(argc - 2, argv + 2);
    const char *pidfile = NULL;
    if (argc == 3 && strcmp(argv[1], "--pidfile") == 0) {
        pidfile = argv[2];
    } else if (argc > 1) {
        fprintf(stderr, "usage: honeydue-worker [--pidfile PATH] | jobs ...\n");
        return 2;
    }
    if (pidfile != NULL && pidfile_check(pidfile, "honeydue-worker") != 0)
        return 1;
    if (log_open(config_get("LOG_FILE")) != 0) {
        log_line(LOG_ERROR, "start", "cannot open LOG_FILE %s: %s", config_get("LOG_FILE"),
                 strerror(errno));
        return 1;
    }
    static const char *const required[] = {"DB_HOST", "DB_NAME", "DB_USER", "REDIS_URL", NULL};
    if (config_require(required) != 0)
        return 1;
    if (schema_wait_and_check("honeydue-worker") != 0)
        return 1;
    lease_s = (int)config_int("HONEYDUE_JOB_LEASE_SECONDS", 30);
    long n = config_int("HONEYDUE_JOB_WORKERS", 2);
    if (n < 1 || n > MAX_PROCS / 2) {
        log_line(LOG_ERROR, "start", "HONEYDUE_JOB_WORKERS must be 1 to %d", MAX_PROCS / 2);
        return 1;
    }
    if (pidfile != NULL && pidfile_write(pidfile) != 0)
        return 1;
    log_line(LOG_INFO, "start", "honeydue-worker starting %ld process(es)", n);
    int rc = supervise((int)n);
    pidfile_remove();
    return rc;
}
