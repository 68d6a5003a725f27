/*
 * worker.h - one FastCGI worker process: wait, accept, dispatch, log.
 */
#ifndef HD_WORKER_H
#define HD_WORKER_H

#include <stddef.h>

#include "router.h"

/* Serve requests from LISTEN_FD with ROUTES until a stop signal (SIGTERM,
 * SIGQUIT, SIGHUP: finish the current request, then return) or MAX_REQUESTS
 * (0 = no limit). Opens its own Postgres and Redis connections. Returns the
 * process exit status. */
int worker_run(int listen_fd, const route *routes, size_t nroutes, long max_requests);

#endif
