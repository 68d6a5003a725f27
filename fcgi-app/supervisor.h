/*
 * supervisor.h - one prefork supervisor for every pool of processes.
 *
 * honeydue-fcgi's API workers and honeydue-worker's job processes are two
 * kinds registered on it, differing only by the function their processes
 * run and a few hooks (nginx keeps one ngx_spawn_process for its workers
 * and its cache manager the same way). The supervisor:
 *   - forks the pool's processes and keeps it at its size, respawning one
 *     that died, with a back-off while they die at start and an emergency
 *     reload when too many die within an interval (php-fpm's
 *     emergency_restart_threshold/interval);
 *   - takes its signals one at a time with sigtimedwait(), from one table,
 *     so every state change happens in plain code:
 *       SIGHUP   re-read the configuration, start a new generation, then
 *                tell the old one to finish what it holds and exit;
 *       SIGTERM, SIGQUIT  graceful stop, bounded by HONEYDUE_SHUTDOWN_TIMEOUT;
 *       SIGINT   immediate stop;
 *       SIGTTIN, SIGTTOU  one process more / fewer;
 *       SIGUSR1  reopen LOG_FILE here and in every process;
 *   - gives each process a scoreboard slot when the scoreboard is open.
 * A child gets SIGTERM to finish and SIGUSR1 to reopen its log; it unblocks
 * signals itself (signals.h), since it is forked with them blocked.
 */
#ifndef HD_SUPERVISOR_H
#define HD_SUPERVISOR_H

/* Processes of one generation; a reload briefly runs two. */
#define SUP_MAX_PROCS 128

typedef struct {
    const char *event;     /* the log lines' event: "master", "supervisor" */
    const char *noun;      /* in log lines: "workers", "job worker(s)" */
    const char *count_key; /* the configuration key of the pool's size */
    long count_default;
    /* Runs in the forked process; its return value is the exit status. */
    int (*child)(void *data);
    /* In the supervisor, before the first fork and after every reload of
     * the configuration, so children are forked with what it prepares. */
    void (*prepare)(void *data);
    /* In the supervisor at every wake-up, at least once a second. */
    void (*tick)(void *data);
    void *data;
} sup_pool;

/* What a pool's main does once its configuration is loaded, before it
 * serves: refuse to start when PIDFILE (or NULL) names a live PROG, open
 * LOG_FILE, check the REQUIRED keys (NULL-terminated), and wait for a
 * schema that is fully applied. 0, or -1 after logging why. */
int sup_boot(const char *prog, const char *pidfile, const char *const *required);

/* The pool's size from its configuration key: 1 to SUP_MAX_PROCS, or -1
 * after logging which range it must be in. */
int sup_count(const sup_pool *p);

/* Run the pool until a stop signal; returns the exit status for main: 0,
 * or 1 when the configured size is out of range at start. */
int sup_run(const sup_pool *p);

#endif
