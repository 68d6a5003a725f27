/*
 * master.h - the process master of the pool (php-fpm is the reference).
 */
#ifndef HD_MASTER_H
#define HD_MASTER_H

#include <stddef.h>

#include "router.h"

/* Prefork HONEYDUE_WORKERS workers on LISTEN_FD and supervise them until a
 * stop signal: SIGCHLD respawns a dead worker (with back-off when workers die
 * young), SIGHUP re-reads the configuration and replaces every worker
 * gracefully, SIGTERM/SIGQUIT stop gracefully (bounded by
 * HONEYDUE_SHUTDOWN_TIMEOUT, then SIGKILL), SIGINT stops at once,
 * SIGTTIN/SIGTTOU add or remove one worker, SIGUSR1 reopens LOG_FILE and
 * has every worker reopen it too. Returns the exit status. */
int master_run(int listen_fd, const route *routes, size_t nroutes);

#endif
