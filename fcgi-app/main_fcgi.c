/*
 * main_fcgi.c - honeydue-fcgi: the API's FastCGI process pool.
 *
 *   spawn-fcgi -n -s SOCK -- honeydue-fcgi     socket on fd 0, master + pool
 *   honeydue-fcgi --listen PATH|HOST:PORT      opens the socket itself
 *   honeydue-fcgi --no-master                  one plain worker (spawn-fcgi -F N)
 *   honeydue-fcgi --pidfile PATH               writes the master's (or the
 *                                              plain worker's) pid to PATH
 *
 * Before serving anything it checks the configuration and the schema
 * (goose_db_version), and refuses to start when either is wrong.
 */
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "master.h"
#include "pidfile.h"
#include "supervisor.h"
#include "worker.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: honeydue-fcgi [--listen PATH|HOST:PORT] [--no-master] [--pidfile PATH]\n"
               "Configuration comes from the environment and HONEYDUE_CONFIG (docs/operations.md).\n");
}

int main(int argc, char **argv)
{
    const char *listen_at = NULL;
    const char *pidfile = NULL;
    int no_master = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_at = argv[++i];
        } else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) {
            pidfile = argv[++i];
        } else if (strcmp(argv[i], "--no-master") == 0) {
            no_master = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (config_load() != 0)
        return 1;
    log_set_level(config_get("LOG_LEVEL"));
    static const char *const required[] = {"DB_HOST", "DB_NAME", "DB_USER", "SECRET_KEY", NULL};
    if (sup_boot("honeydue-fcgi", pidfile, required) != 0 || config_check_secret_key() != 0)
        return 1;

    int fd = 0;
    if (listen_at != NULL) {
        if (FCGX_Init() != 0)
            return 1;
        fd = FCGX_OpenSocket(listen_at, 1024);
        if (fd < 0) {
            log_line(LOG_ERROR, "start", "cannot listen on %s: %s", listen_at, strerror(errno));
            return 1;
        }
    } else {
        struct stat st;
        int type = 0;
        socklen_t len = sizeof(type);
        if (fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode) ||
            getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
            log_line(LOG_ERROR, "start",
                     "fd 0 is not a listening socket: run under spawn-fcgi or pass --listen");
            return 1;
        }
    }
    /* Non-blocking, so a worker that loses the race for a connection returns
     * to poll() instead of sleeping in accept() where signals cannot reach. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        log_line(LOG_ERROR, "start", "cannot make the socket non-blocking: %s", strerror(errno));
        return 1;
    }
    log_line(LOG_INFO, "start", "honeydue-fcgi serving (%s)",
             listen_at ? listen_at : "socket from spawn-fcgi");
    if (pidfile != NULL && pidfile_write(pidfile) != 0)
        return 1;
    int rc = no_master ? worker_run(fd, routes, routes_n, config_int("HONEYDUE_MAX_REQUESTS", 0))
                       : master_run(fd, routes, routes_n);
    pidfile_remove();
    return rc;
}
