/*
 * master.c - prefork, supervise, reload and stop the worker processes.
 *
 * The master blocks every signal it handles and takes them one at a time
 * with sigtimedwait(), so its state changes happen in plain code, never in
 * a handler. Workers are forked with the listening socket inherited; a
 * reload starts the new generation before the old one is told to finish,
 * so the socket always has a worker ready and no connection is refused.
 */
#include "master.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "scoreboard.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 256

typedef struct {
    pid_t pid;
    int generation;
    struct timespec started;
} worker_slot;

static worker_slot slots[MAX_WORKERS];
static int generation;
static int want_workers;
static int quick_deaths; /* consecutive workers that died within a second */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int live_workers(int gen)
{
    int n = 0;
    for (int i = 0; i < MAX_WORKERS; i++)
        if (slots[i].pid > 0 && (gen < 0 || slots[i].generation == gen))
            n++;
    return n;
}

static int spawn_worker(int listen_fd, const route *routes, size_t nroutes)
{
    int i;
    for (i = 0; i < MAX_WORKERS && slots[i].pid > 0; i++)
        ;
    if (i == MAX_WORKERS)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        log_line(LOG_ERROR, "master", "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sb_claim(i, getpid(), generation);
        sb_attach(i);
        int rc = worker_run(listen_fd, routes, nroutes, config_int("HONEYDUE_MAX_REQUESTS", 0));
        exit(rc);
    }
    slots[i].pid = pid;
    slots[i].generation = generation;
    clock_gettime(CLOCK_MONOTONIC, &slots[i].started);
    return 0;
}

static void signal_generation(int gen_below, int sig)
{
    for (int i = 0; i < MAX_WORKERS; i++)
        if (slots[i].pid > 0 && slots[i].generation < gen_below)
            kill(slots[i].pid, sig);
}

/* Unexpected deaths in the last HONEYDUE_EMERGENCY_INTERVAL seconds (php-fpm's
 * emergency_restart_threshold): a ring of their times. */
#define DEATHS_MAX 64
static double deaths[DEATHS_MAX];
static int ndeaths;
static int emergency; /* set by reap: the master reloads the pool */

static void count_death(void)
{
    scoreboard *b = sb_get();
    if (b != NULL)
        atomic_fetch_add(&b->restarts, 1);
    long threshold = config_int("HONEYDUE_EMERGENCY_THRESHOLD", 10);
    double window = (double)config_int("HONEYDUE_EMERGENCY_INTERVAL", 60), now = mono_now();
    if (threshold <= 0 || threshold > DEATHS_MAX)
        return;
    deaths[ndeaths++ % DEATHS_MAX] = now;
    int recent = 0;
    for (int i = 0; i < DEATHS_MAX && i < ndeaths; i++)
        recent += now - deaths[i] <= window;
    if (recent >= threshold) {
        log_line(LOG_ERROR, "master",
                 "EMERGENCY: %d workers died unexpectedly within %.0fs; reloading the pool", recent,
                 window);
        ndeaths = 0;
        emergency = 1;
    }
}

/* Reap exited workers; returns how many of the current generation died. */
static int reap(void)
{
    int died = 0, status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        sb_release(pid);
        if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0))
            count_death();
        for (int i = 0; i < MAX_WORKERS; i++) {
            if (slots[i].pid != pid)
                continue;
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double lived = (double)(now.tv_sec - slots[i].started.tv_sec) +
                           (now.tv_nsec - slots[i].started.tv_nsec) / 1e9;
            if (slots[i].generation == generation) {
                died++;
                if (WIFSIGNALED(status))
                    log_line(LOG_ERROR, "master", "worker %d killed by signal %d after %.1fs",
                             (int)pid, WTERMSIG(status), lived);
                else if (WEXITSTATUS(status) != 0)
                    log_line(LOG_ERROR, "master", "worker %d exited with status %d after %.1fs",
                             (int)pid, WEXITSTATUS(status), lived);
                quick_deaths = (lived < 1.0 && (WIFSIGNALED(status) || WEXITSTATUS(status) != 0))
                                   ? quick_deaths + 1
                                   : 0;
            }
            slots[i].pid = 0;
        }
    }
    return died;
}

static int stop_pool(int sig, long timeout_s)
{
    signal_generation(generation + 1, sig);
    double deadline = mono_now() + (double)timeout_s;
    while (live_workers(-1) > 0 && mono_now() < deadline) {
        reap();
        if (live_workers(-1) == 0)
            break;
        struct timespec ts = {0, 50L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (live_workers(-1) > 0) {
        log_line(LOG_WARN, "master", "%d workers still busy after %lds; killing them",
                 live_workers(-1), timeout_s);
        signal_generation(generation + 1, SIGKILL);
        while (live_workers(-1) > 0 && waitpid(-1, NULL, 0) > 0)
            reap();
        for (int i = 0; i < MAX_WORKERS; i++)
            slots[i].pid = 0;
    }
    return 0;
}

/* Kill every worker busy on one request for longer than
 * HONEYDUE_REQUEST_TIMEOUT seconds, and log that request like php-fpm's slow
 * log. The respawn replaces the worker; nginx answers 502 for its request. */
static void kill_stuck(void)
{
    scoreboard *b = sb_get();
    long limit_s = config_int("HONEYDUE_REQUEST_TIMEOUT", 30);
    if (b == NULL || limit_s <= 0)
        return;
    int64_t now = sb_now_ms();
    for (int i = 0; i < SB_SLOTS; i++) {
        sb_slot *s = &b->slots[i];
        int64_t since = atomic_load(&s->busy_since_ms);
        if (atomic_load(&s->state) != SB_BUSY || since == 0 || now - since < limit_s * 1000)
            continue;
        char line[1024], ts[40];
        log_timestamp(ts, sizeof(ts));
        size_t n = (size_t)snprintf(line, sizeof(line),
                                    "{\"ts\":\"%s\",\"level\":\"error\",\"pid\":%d,"
                                    "\"event\":\"slow\",\"worker\":%d,\"method\":\"",
                                    ts, (int)getpid(), (int)s->pid);
        log_escape(line, 300, &n, s->method);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"route\":\"");
        log_escape(line, 500, &n, s->route);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"path\":\"");
        log_escape(line, 750, &n, s->path);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"request_id\":\"");
        log_escape(line, 900, &n, s->request_id);
        n += (size_t)snprintf(line + n, sizeof(line) - n,
                              "\",\"dur_ms\":%lld,\"msg\":\"request over HONEYDUE_REQUEST_TIMEOUT "
                              "(%lds); worker killed\"}",
                              (long long)(now - since), limit_s);
        if (n >= sizeof(line))
            n = sizeof(line) - 1;
        log_write(line, n);
        atomic_fetch_add(&b->killed_slow, 1);
        atomic_store(&s->busy_since_ms, 0); /* once */
        kill(s->pid, SIGKILL);
    }
}

/* Derive the keys and the login dummy hash here, once, so that the workers
 * forked next inherit them and are ready at once: a reload then never
 * leaves the socket without a worker ready (each worker checks again). */
static void prepare_crypto(void)
{
    if (crypto_setup(config_get("SECRET_KEY"),
                     (unsigned long long)config_int("PASSWORD_OPSLIMIT", 0),
                     (size_t)config_int("PASSWORD_MEMLIMIT_KB", 0)) != 0)
        log_line(LOG_WARN, "master", "libsodium could not start; the workers will say why");
}

int master_run(int listen_fd, const route *routes, size_t nroutes)
{
    if (sb_open() != 0)
        log_line(LOG_WARN, "master", "no scoreboard (mmap failed): status and timeouts are off");
    else
        sb_get()->listen_fd = listen_fd;
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGQUIT, SIGINT, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    prepare_crypto();
    want_workers = (int)config_int("HONEYDUE_WORKERS", 4);
    if (want_workers < 1)
        want_workers = 1;
    if (want_workers > MAX_WORKERS)
        want_workers = MAX_WORKERS;
    log_line(LOG_INFO, "master", "starting %d workers", want_workers);
    double next_spawn = 0;
    for (;;) {
        if (sb_get() != NULL)
            sb_get()->want_workers = want_workers;
        sb_sample_listen();
        kill_stuck();
        if (emergency) {
            emergency = 0;
            kill(getpid(), SIGHUP); /* taken below like an operator's reload */
        }
        /* Keep the current generation at its size, backing off on crash loops. */
        if (live_workers(generation) < want_workers && mono_now() >= next_spawn) {
            while (live_workers(generation) < want_workers)
                if (spawn_worker(listen_fd, routes, nroutes) != 0)
                    break;
        }
        while (live_workers(generation) > want_workers) {
            for (int i = MAX_WORKERS - 1; i >= 0; i--)
                if (slots[i].pid > 0 && slots[i].generation == generation) {
                    kill(slots[i].pid, SIGTERM);
                    slots[i].generation = -1; /* retiring */
                    break;
                }
        }
        /* Wake when a backed-off respawn is due, at the latest after 1 s. */
        double until = next_spawn - mono_now();
        if (until > 1.0 || until <= 0)
            until = 1.0;
        struct timespec wait = {(time_t)until, (long)((until - (double)(time_t)until) * 1e9)};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &wait);
        if (sig < 0)
            continue;
        switch (sig) {
        case SIGCHLD:
            if (reap() > 0 && quick_deaths > 0) {
                double delay = 0.1 * (1 << (quick_deaths < 6 ? quick_deaths : 6));
                if (delay > 5.0)
                    delay = 5.0;
                next_spawn = mono_now() + delay;
                log_line(LOG_WARN, "master", "workers dying at start; next spawn in %.1fs", delay);
            }
            break;
        case SIGHUP:
            if (config_load() != 0) {
                log_line(LOG_ERROR, "master", "reload aborted: configuration unreadable");
                break;
            }
            log_set_level(config_get("LOG_LEVEL"));
            if (log_open(config_get("LOG_FILE")) != 0)
                log_line(LOG_ERROR, "master", "cannot open LOG_FILE: %s", strerror(errno));
            prepare_crypto();
            want_workers = (int)config_int("HONEYDUE_WORKERS", want_workers);
            if (want_workers < 1)
                want_workers = 1;
            if (want_workers > MAX_WORKERS / 2)
                want_workers = MAX_WORKERS / 2;
            generation++;
            quick_deaths = 0;
            next_spawn = 0;
            while (live_workers(generation) < want_workers)
                if (spawn_worker(listen_fd, routes, nroutes) != 0)
                    break;
            signal_generation(generation, SIGTERM); /* old ones finish, then exit */
            log_line(LOG_INFO, "master", "reloaded: %d workers in generation %d", want_workers,
                     generation);
            break;
        case SIGTTIN:
            if (want_workers < MAX_WORKERS / 2)
                want_workers++;
            log_line(LOG_INFO, "master", "workers: %d", want_workers);
            break;
        case SIGTTOU:
            if (want_workers > 1)
                want_workers--;
            log_line(LOG_INFO, "master", "workers: %d", want_workers);
            break;
        case SIGUSR1: /* logrotate moved the log file: reopen it everywhere */
            if (log_reopen() != 0)
                log_line(LOG_ERROR, "master", "cannot reopen LOG_FILE: %s", strerror(errno));
            signal_generation(generation + 1, SIGUSR1);
            log_line(LOG_INFO, "master", "log file reopened");
            break;
        case SIGINT:
            log_line(LOG_INFO, "master", "SIGINT: stopping now");
            stop_pool(SIGKILL, 1);
            return 0;
        case SIGTERM:
        case SIGQUIT: {
            long timeout = config_int("HONEYDUE_SHUTDOWN_TIMEOUT", 20);
            log_line(LOG_INFO, "master", "stopping gracefully (at most %lds)", timeout);
            stop_pool(SIGTERM, timeout);
            log_line(LOG_INFO, "master", "stopped");
            return 0;
        }
        }
    }
}
