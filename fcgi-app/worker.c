/*
 * worker.c - the request loop of one pool process.
 *
 * The worker waits in sig_poll() on the listening socket, the one place
 * where its stop and reopen signals are let in (signals.h), so a stop
 * signal always ends the wait and never reaches a request; only then does
 * it call FCGX_Accept_r on the (non-blocking) socket. A lost race for a
 * connection returns EAGAIN and the worker goes back to waiting. While
 * invalidations it could not send wait (Redis was unreachable), the wait
 * wakes every IDLE_REPLAY_MS to replay them, so the other workers stop
 * serving the old entries as soon as Redis answers, not when this worker
 * next gets a request.
 * One request at a time: its memory comes from the worker's arena, which is
 * reset once the response is sent. SIGUSR1 asks for LOG_FILE to be
 * reopened; that happens between requests, never in the middle of one.
 */
#include "worker.h"
#include "authn.h"
#include "cache.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "listcache.h"
#include "log.h"
#include "scoreboard.h"
#include "signals.h"
#include "storage.h"

#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDLE_REPLAY_MS 250

/* An API worker's signals. SIGHUP stops it too: under spawn-fcgi -F there
 * is no master, and a reload is a new process. */
static const sig_action worker_signals[] = {
    {SIGTERM, SIGACT_STOP, NULL},
    {SIGQUIT, SIGACT_STOP, NULL},
    {SIGHUP, SIGACT_STOP, NULL},
    {SIGUSR1, SIGACT_REOPEN, NULL},
    {SIGPIPE, SIGACT_IGNORE, NULL},
    {SIGUSR2, SIGACT_IGNORE, NULL},
    {SIGINT, SIGACT_DEFAULT, NULL}, /* immediate stop */
    {0, 0, NULL},
};

static long since_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/* The one log line of a request. */
static void log_request(req *r)
{
    log_rec l;
    log_begin(&l, LOG_INFO, "request");
    log_str(&l, "method", r->method);
    log_str(&l, "route", r->route ? r->route->pattern : "-");
    log_str(&l, "path", r->path);
    log_str(&l, "request_id", r->request_id);
    log_str(&l, "addr", r->remote_addr ? r->remote_addr : "-");
    log_int(&l, "status", r->status);
    log_ms(&l, "dur_ms", since_us(&r->t0));
    log_ms(&l, "db_ms", r->db_us);
    log_ms(&l, "cache_ms", r->cache_us);
    log_str(&l, "cache", r->cache_state ? r->cache_state : "-");
    log_int(&l, "user_id", r->user_id);
    log_int(&l, "bytes", (long long)r->resp_bytes);
    log_end(&l);
}

static void handle(FCGX_Request *fx, arena *a, const route *routes, size_t nroutes)
{
    req r;
    memset(&r, 0, sizeof(r));
    clock_gettime(CLOCK_MONOTONIC, &r.t0);
    r.a = a;
    r.fx = fx;
    r.method = req_param(&r, "REQUEST_METHOD");
    if (r.method == NULL)
        r.method = "GET";
    const char *uri = req_param(&r, "DOCUMENT_URI");
    if (uri == NULL) {
        const char *raw = req_param(&r, "REQUEST_URI");
        uri = raw ? arena_strndup(a, raw, strcspn(raw, "?")) : "/";
    }
    r.path = uri ? uri : "/";
    r.query = req_param(&r, "QUERY_STRING");
    if (r.query == NULL)
        r.query = "";
    r.request_id = req_param(&r, "REQUEST_ID");
    log_set_request_id(r.request_id);
    r.remote_addr = req_param(&r, "REMOTE_ADDR");
    r.content_type = req_param(&r, "CONTENT_TYPE");
    r.content_length = http_content_length(req_param(&r, "CONTENT_LENGTH"));

    char allow[128];
    route_match m;
    const char *method = strcmp(r.method, "HEAD") == 0 ? "GET" : r.method;
    int found = router_match(routes, nroutes, method, r.path, &m, allow, sizeof(allow));
    sb_busy(r.method, found == ROUTER_FOUND ? m.route->pattern : "-", r.path, r.request_id);
    if (r.content_length < 0) { /* nginx refuses these first; never size a read by one */
        r.content_length = 0;
        resp_error(&r, 400, "bad_request", "invalid Content-Length");
    } else if (found == ROUTER_NOT_FOUND) {
        resp_error(&r, 404, "not_found", "no such endpoint");
    } else if (found == ROUTER_BAD_METHOD) {
        resp_header(&r, "Allow", allow);
        resp_error(&r, 405, "method_not_allowed", "method not allowed for this endpoint");
    } else {
        r.route = m.route;
        memcpy(r.params, m.params, sizeof(r.params));
        if ((m.route->flags & (ROUTE_AUTH | ROUTE_STAFF)) && authn_request(&r) != 0) {
            /* authn_request answered 401/403/503 */
        } else if ((m.route->flags & ROUTE_STAFF) && !r.is_staff) {
            resp_error(&r, 403, "forbidden", "staff only");
        } else {
            m.route->handler(&r);
        }
        if (m.route->flags & ROUTE_UPLOAD)
            req_body_discard(&r);
    }
    if (!r.sent) {
        log_line(LOG_ERROR, "http", "handler for %s %s sent no response", r.method, r.path);
        resp_error(&r, 500, "internal_error", "internal error");
    }
    log_request(&r);
    sb_record(r.route ? (int)(r.route - routes) : -1, r.status, since_us(&r.t0), r.db_us,
              r.cache_us, r.cache_state);
    log_set_request_id(NULL);
    json_object_put(r.body);
}

int worker_run(int listen_fd, const route *routes, size_t nroutes, long max_requests)
{
    if (FCGX_Init() != 0) {
        log_line(LOG_ERROR, "worker", "FCGX_Init failed");
        return 1;
    }
    /* After FCGX_Init, which installs libfcgi's own handlers: ours win. */
    sig_install(worker_signals);
    if (config_check_secret_key() != 0) /* a reload's new SECRET_KEY too */
        return 1;
    if (crypto_setup(config_get("SECRET_KEY"),
                     (unsigned long long)config_int("PASSWORD_OPSLIMIT", 0),
                     (size_t)config_int("PASSWORD_MEMLIMIT_KB", 0)) != 0) {
        log_line(LOG_ERROR, "worker", "libsodium could not start");
        return 1;
    }
    if (db_open() != 0)
        log_line(LOG_WARN, "worker", "postgres unavailable at start; will retry per request");
    cache_setup();
    if (listcache_setup(routes, nroutes) != 0)
        return 1;
    http_setup();
    storage_setup();

    arena a;
    if (arena_init(&a, (size_t)64 * 1024) != 0)
        return 1;
    FCGX_Request fx;
    FCGX_InitRequest(&fx, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
    long served = 0;
    long max_memory_kb = config_int("HONEYDUE_MAX_MEMORY", 0) * 1024; /* MB; 0: no limit */
    if (sb_self() == NULL && sb_open() == 0) { /* a worker without a master */
        sb_claim(0, getpid(), 0);
        sb_attach(0);
        sb_get()->listen_fd = listen_fd;
    }
    sb_slot *me = sb_self();
    if (me != NULL) {
        atomic_store(&me->rss_kb, sb_rss_kb());
        atomic_store(&me->state, SB_IDLE);
    }
    log_line(LOG_INFO, "worker", "ready");
    while (!sig_stop_requested()) {
        sig_reopen_log("worker");
        struct pollfd pfd = {listen_fd, POLLIN, 0};
        int pr = sig_poll(&pfd, 1, cache_pending() ? IDLE_REPLAY_MS : -1);
        if (sig_stop_requested())
            break;
        sig_reopen_log("worker");
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            log_line(LOG_ERROR, "worker", "poll: %s", strerror(errno));
            break;
        }
        if (pr == 0) { /* idle with invalidations waiting */
            cache_replay_pending();
            continue;
        }
        if (!(pfd.revents & POLLIN))
            continue;
        int rc = FCGX_Accept_r(&fx);
        if (rc < 0) {
            if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR || rc == -ECONNABORTED)
                continue; /* another worker took it, or a signal: back to poll */
            log_line(LOG_ERROR, "worker", "accept failed: %d", rc);
            break;
        }
        handle(&fx, &a, routes, nroutes);
        FCGX_Finish_r(&fx);
        arena_reset(&a);
        sb_idle();
        served++;
        /* Recycle after HONEYDUE_MAX_REQUESTS, or once the RSS (read every
         * 16 requests) passes HONEYDUE_MAX_MEMORY. */
        uint64_t rss = 0;
        if (me != NULL && (served % 16 == 1 || max_memory_kb > 0)) {
            rss = sb_rss_kb();
            atomic_store(&me->rss_kb, rss);
        }
        if ((max_requests > 0 && served >= max_requests) ||
            (max_memory_kb > 0 && rss > (uint64_t)max_memory_kb)) {
            if (max_memory_kb > 0 && rss > (uint64_t)max_memory_kb)
                log_line(LOG_WARN, "worker", "RSS %llu kB over HONEYDUE_MAX_MEMORY; recycling",
                         (unsigned long long)rss);
            if (sb_get() != NULL)
                atomic_fetch_add(&sb_get()->recycled, 1);
            break;
        }
    }
    FCGX_Free(&fx, 0);
    arena_destroy(&a);
    storage_close();
    cache_close();
    db_close();
    log_line(LOG_INFO, "worker", "exiting after %ld requests", served);
    return 0;
}
