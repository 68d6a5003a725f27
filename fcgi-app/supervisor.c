/*
 * supervisor.c - the prefork supervisor of supervisor.h.
 *
 * The supervisor blocks every signal it handles and takes them one at a
 * time with sigtimedwait(), so its state changes happen in plain code,
 * never in a handler. Children are kept in a slot table with their
 * generation: a reload starts the new generation before the old one is
 * told to finish, so a pool with a listening socket always has a process
 * ready and no connection is refused.
 */
#include "supervisor.h"
#include "config.h"
#include "log.h"
#include "pidfile.h"
#include "schema.h"
#include "scoreboard.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS (2 * SUP_MAX_PROCS)
#define RETIRING (-1) /* the generation of a slot told to finish */

typedef struct {
    pid_t pid;
    int generation;
    double started;
} slot;

/* The state of the one pool this process supervises. */
static struct {
    const sup_pool *p;
    slot slots[SLOTS];
    int generation;
    int want;
    int quick_deaths;  /* consecutive children that died within a second */
    double next_spawn; /* the back-off while children die at start */
    int emergency;     /* too many deaths: reload the pool */
    int stop;          /* the stop signal taken, 0 while running */
    double deaths[64]; /* the times of recent unexpected deaths, a ring */
    int ndeaths;
} sup;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int live(int generation)
{
    int n = 0;
    for (int i = 0; i < SLOTS; i++)
        n += sup.slots[i].pid > 0 && (generation < 0 || sup.slots[i].generation == generation);
    return n;
}

/* Send SIG to every child of a generation below GEN (all: generation + 1). */
static void signal_below(int gen, int sig)
{
    for (int i = 0; i < SLOTS; i++)
        if (sup.slots[i].pid > 0 && sup.slots[i].generation < gen)
            kill(sup.slots[i].pid, sig);
}

static int spawn(void)
{
    int i;
    for (i = 0; i < SLOTS && sup.slots[i].pid > 0; i++)
        ;
    if (i == SLOTS)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        log_line(LOG_ERROR, sup.p->event, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (sb_get() != NULL) {
            sb_claim(i, getpid(), sup.generation);
            sb_attach(i);
        }
        exit(sup.p->child(sup.p->data));
    }
    sup.slots[i] = (slot){pid, sup.generation, mono_now()};
    return 0;
}

int sup_boot(const char *prog, const char *pidfile, const char *const *required)
{
    if (pidfile != NULL && pidfile_check(pidfile, prog) != 0)
        return -1;
    if (log_open(config_get("LOG_FILE")) != 0) {
        log_line(LOG_ERROR, "start", "cannot open LOG_FILE %s: %s", config_get("LOG_FILE"),
                 strerror(errno));
        return -1;
    }
    if (config_require(required) != 0 || schema_wait_and_check(prog) != 0)
        return -1;
    return 0;
}

int sup_count(const sup_pool *p)
{
    long n = config_int(p->count_key, p->count_default);
    if (n < 1 || n > SUP_MAX_PROCS) {
        log_line(LOG_ERROR, p->event, "%s must be 1 to %d, not %ld", p->count_key, SUP_MAX_PROCS,
                 n);
        return -1;
    }
    return (int)n;
}

/* An unexpected death: count it, and when HONEYDUE_EMERGENCY_THRESHOLD of
 * them fall within HONEYDUE_EMERGENCY_INTERVAL seconds, reload the pool. */
static void count_death(void)
{
    int cap = (int)(sizeof(sup.deaths) / sizeof(sup.deaths[0]));
    scoreboard *b = sb_get();
    if (b != NULL)
        atomic_fetch_add(&b->restarts, 1);
    long threshold = config_int("HONEYDUE_EMERGENCY_THRESHOLD", 10);
    double window = (double)config_int("HONEYDUE_EMERGENCY_INTERVAL", 60), now = mono_now();
    if (threshold <= 0 || threshold > cap)
        return;
    sup.deaths[sup.ndeaths++ % cap] = now;
    int recent = 0;
    for (int i = 0; i < cap && i < sup.ndeaths; i++)
        recent += now - sup.deaths[i] <= window;
    if (recent >= threshold) {
        log_line(LOG_ERROR, sup.p->event,
                 "EMERGENCY: %d %s died unexpectedly within %.0fs; reloading the pool", recent,
                 sup.p->noun, window);
        sup.ndeaths = 0;
        sup.emergency = 1;
    }
}

/* Reap every child that ended; log and count those of the current
 * generation that died, and back off while they die at start. */
static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        sb_release(pid);
        int failed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (failed && !sup.stop)
            count_death();
        for (int i = 0; i < SLOTS; i++) {
            slot *s = &sup.slots[i];
            if (s->pid != pid)
                continue;
            double lived = mono_now() - s->started;
            if (s->generation == sup.generation && failed && !sup.stop) {
                if (WIFSIGNALED(status))
                    log_line(LOG_ERROR, sup.p->event, "process %d killed by signal %d after %.1fs",
                             (int)pid, WTERMSIG(status), lived);
                else
                    log_line(LOG_ERROR, sup.p->event, "process %d exited with status %d after %.1fs",
                             (int)pid, WEXITSTATUS(status), lived);
                sup.quick_deaths = lived < 1.0 ? sup.quick_deaths + 1 : 0;
                if (sup.quick_deaths > 0) {
                    double delay = 0.1 * (1 << (sup.quick_deaths < 6 ? sup.quick_deaths : 6));
                    sup.next_spawn = mono_now() + (delay > 5.0 ? 5.0 : delay);
                    log_line(LOG_WARN, sup.p->event, "%s dying at start; next spawn in %.1fs",
                             sup.p->noun, delay > 5.0 ? 5.0 : delay);
                }
            } else if (s->generation == sup.generation) {
                sup.quick_deaths = 0;
            }
            s->pid = 0;
        }
    }
}

/* Keep the current generation at its size (after the back-off), and retire
 * the newest processes beyond it. */
static void keep_size(void)
{
    if (!sup.stop && mono_now() >= sup.next_spawn)
        while (live(sup.generation) < sup.want)
            if (spawn() != 0)
                break;
    while (live(sup.generation) > sup.want)
        for (int i = SLOTS - 1; i >= 0; i--)
            if (sup.slots[i].pid > 0 && sup.slots[i].generation == sup.generation) {
                kill(sup.slots[i].pid, SIGTERM);
                sup.slots[i].generation = RETIRING;
                break;
            }
    if (sb_get() != NULL)
        sb_get()->want_workers = sup.want;
}

/* ---- the signals, one handler each ---- */

static void on_child(void)
{
    reap();
}

static void on_reload(void)
{
    if (sup.stop)
        return;
    if (config_load() != 0) {
        log_line(LOG_ERROR, sup.p->event, "reload aborted: configuration unreadable");
        return;
    }
    log_set_level(config_get("LOG_LEVEL"));
    if (log_open(config_get("LOG_FILE")) != 0)
        log_line(LOG_ERROR, sup.p->event, "cannot open LOG_FILE: %s", strerror(errno));
    int n = sup_count(sup.p);
    if (n < 0)
        log_line(LOG_ERROR, sup.p->event, "keeping %d %s", sup.want, sup.p->noun);
    else
        sup.want = n;
    if (sup.p->prepare != NULL)
        sup.p->prepare(sup.p->data);
    int retiring = live(sup.generation);
    sup.generation++;
    sup.quick_deaths = 0;
    sup.next_spawn = 0;
    while (live(sup.generation) < sup.want)
        if (spawn() != 0)
            break;
    signal_below(sup.generation, SIGTERM); /* the old ones finish, then exit */
    log_line(LOG_INFO, sup.p->event, "reloaded: %d %s retiring, %d starting", retiring,
             sup.p->noun, sup.want);
    log_line(LOG_INFO, sup.p->event, "reloaded: %d %s in generation %d", sup.want, sup.p->noun,
             sup.generation);
}

static void on_more(void)
{
    if (sup.want < SUP_MAX_PROCS)
        sup.want++;
    log_line(LOG_INFO, sup.p->event, "%s: %d", sup.p->noun, sup.want);
}

static void on_fewer(void)
{
    if (sup.want > 1)
        sup.want--;
    log_line(LOG_INFO, sup.p->event, "%s: %d", sup.p->noun, sup.want);
}

static void on_reopen(void)
{
    if (log_reopen() != 0)
        log_line(LOG_ERROR, sup.p->event, "cannot reopen LOG_FILE: %s", strerror(errno));
    else
        log_line(LOG_INFO, sup.p->event, "log file reopened");
    signal_below(sup.generation + 1, SIGUSR1);
}

static void on_stop(void)
{
    sup.stop = SIGTERM;
}

static void on_stop_now(void)
{
    sup.stop = SIGINT;
}

static const struct {
    int signo;
    const char *name;
    void (*handler)(void);
} signals[] = {
    {SIGCHLD, "SIGCHLD", on_child},   {SIGHUP, "SIGHUP", on_reload},
    {SIGTTIN, "SIGTTIN", on_more},    {SIGTTOU, "SIGTTOU", on_fewer},
    {SIGUSR1, "SIGUSR1", on_reopen},  {SIGTERM, "SIGTERM", on_stop},
    {SIGQUIT, "SIGQUIT", on_stop},    {SIGINT, "SIGINT", on_stop_now},
};
#define NSIGNALS (sizeof(signals) / sizeof(signals[0]))

/* Wait up to SECONDS for a signal of the table and run its handler.
 * Returns the index of the signal taken, or -1 on a timeout. */
static int take_signal(const sigset_t *set, double seconds)
{
    struct timespec wait = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    int sig = sigtimedwait(set, NULL, &wait);
    for (size_t i = 0; sig > 0 && i < NSIGNALS; i++)
        if (signals[i].signo == sig) {
            signals[i].handler();
            return (int)i;
        }
    return -1;
}

/* Stop every child: SIGTERM and up to HONEYDUE_SHUTDOWN_TIMEOUT seconds to
 * finish, or SIGKILL at once for SIGINT (also when SIGINT comes during a
 * graceful stop). */
static void stop_all(const sigset_t *set)
{
    int now = sup.stop == SIGINT;
    long timeout = config_int("HONEYDUE_SHUTDOWN_TIMEOUT", 20);
    if (now)
        log_line(LOG_INFO, sup.p->event, "SIGINT: stopping now");
    else
        log_line(LOG_INFO, sup.p->event, "stopping %d %s gracefully (at most %lds)", live(-1),
                 sup.p->noun, timeout);
    signal_below(sup.generation + 1, now ? SIGKILL : SIGTERM);
    double deadline = mono_now() + (now ? 1.0 : (double)timeout);
    while (live(-1) > 0 && mono_now() < deadline) {
        reap();
        if (live(-1) == 0)
            break;
        take_signal(set, 0.05);
        if (!now && sup.stop == SIGINT) {
            now = 1;
            signal_below(sup.generation + 1, SIGKILL);
        }
    }
    if (live(-1) > 0) {
        log_line(LOG_WARN, sup.p->event, "%d %s still busy after %lds; killing them", live(-1),
                 sup.p->noun, now ? 1L : timeout);
        signal_below(sup.generation + 1, SIGKILL);
        while (live(-1) > 0 && waitpid(-1, NULL, 0) > 0)
            reap();
    }
    log_line(LOG_INFO, sup.p->event, "stopped");
}

int sup_run(const sup_pool *p)
{
    memset(&sup, 0, sizeof(sup));
    sup.p = p;
    sup.want = sup_count(p);
    if (sup.want < 0)
        return 1;
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaddset(&set, signals[i].signo);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (p->prepare != NULL)
        p->prepare(p->data);
    log_line(LOG_INFO, p->event, "starting %d %s", sup.want, p->noun);
    while (!sup.stop) {
        if (sup.emergency) {
            sup.emergency = 0;
            on_reload();
        }
        keep_size();
        if (p->tick != NULL)
            p->tick(p->data);
        /* Wake when a backed-off respawn is due, at the latest after 1 s. */
        double until = sup.next_spawn - mono_now();
        take_signal(&set, until > 1.0 || until <= 0 ? 1.0 : until);
    }
    stop_all(&set);
    return 0;
}
