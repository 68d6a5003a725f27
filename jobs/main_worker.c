/*
 * main_worker.c - honeydue-worker: runs the jobs the API enqueues.
 *
 *   honeydue-worker [--pidfile PATH]   the supervisor and HONEYDUE_JOB_WORKERS
 *                                      job processes (runner.c)
 *   honeydue-worker jobs ...           the queues from a shell (cli.c)
 *   honeydue-worker storage copy-local DIR
 *                                      a local STORAGE_DIR into the bucket
 *                                      (cli_storage.c)
 *
 * The pool runs on the same supervisor as the API's (fcgi-app/supervisor.h),
 * with the same signals: SIGHUP re-reads the configuration and replaces
 * every process, the old ones finishing their job first; SIGTERM/SIGQUIT
 * stop gracefully, bounded by HONEYDUE_SHUTDOWN_TIMEOUT; SIGINT at once;
 * SIGTTIN/SIGTTOU one process more or fewer; SIGUSR1 reopens LOG_FILE.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "pidfile.h"
#include "runner.h"
#include "supervisor.h"

static int job_child(void *data)
{
    (void)data;
    return runner_loop();
}

static void job_prepare(void *data)
{
    (void)data;
    runner_configure();
}

int main(int argc, char **argv)
{
    if (config_load() != 0)
        return 1;
    log_set_level(config_get("LOG_LEVEL"));
    if (argc >= 2 && strcmp(argv[1], "jobs") == 0)
        return cli_jobs(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "storage") == 0)
        return cli_storage(argc - 2, argv + 2);
    const char *pidfile = NULL;
    if (argc == 3 && strcmp(argv[1], "--pidfile") == 0) {
        pidfile = argv[2];
    } else if (argc > 1) {
        fprintf(stderr, "usage: honeydue-worker [--pidfile PATH] | jobs ... | "
                        "storage copy-local DIR\n");
        return 2;
    }
    static const char *const required[] = {"DB_HOST",   "DB_NAME",    "DB_USER",
                                           "REDIS_URL", "SECRET_KEY", NULL};
    if (sup_boot("honeydue-worker", pidfile, required) != 0 || config_check_secret_key() != 0)
        return 1;
    sup_pool pool = {.event = "supervisor",
                     .noun = "job worker(s)",
                     .count_key = "HONEYDUE_JOB_WORKERS",
                     .count_default = 2,
                     .child = job_child,
                     .prepare = job_prepare};
    if (sup_count(&pool) < 0)
        return 1;
    if (pidfile != NULL && pidfile_write(pidfile) != 0)
        return 1;
    int rc = sup_run(&pool);
    pidfile_remove();
    return rc;
}
