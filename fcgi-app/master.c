/*
 * master.c - honeydue-fcgi's pool on the supervisor (supervisor.h): what
 * the API's master adds to any pool.
 *
 *   - the scoreboard, mapped before the first fork, so the status page and
 *     the stuck-request check see every worker;
 *   - the keys and the login dummy hash, derived once before forking (and
 *     again after a reload), so a new worker is ready at once;
 *   - every second: the accept queue sampled, and a worker busy on one
 *     request for longer than HONEYDUE_REQUEST_TIMEOUT killed, with that
 *     request logged like php-fpm's slow log (nginx answers it 502).
 */
#include "master.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "scoreboard.h"
#include "supervisor.h"
#include "worker.h"

#include <signal.h>

typedef struct {
    int listen_fd;
    const route *routes;
    size_t nroutes;
} api_pool;

static int api_child(void *data)
{
    const api_pool *a = data;
    return worker_run(a->listen_fd, a->routes, a->nroutes, config_int("HONEYDUE_MAX_REQUESTS", 0));
}

static void api_prepare(void *data)
{
    (void)data;
    if (crypto_setup(config_get("SECRET_KEY"),
                     (unsigned long long)config_int("PASSWORD_OPSLIMIT", 0),
                     (size_t)config_int("PASSWORD_MEMLIMIT_KB", 0)) != 0)
        log_line(LOG_WARN, "master", "libsodium could not start; the workers will say why");
}

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
        log_rec l;
        log_begin(&l, LOG_ERROR, "slow");
        log_int(&l, "worker", (long long)s->pid);
        log_str(&l, "method", s->method);
        log_str(&l, "route", s->route);
        log_str(&l, "path", s->path);
        log_str(&l, "request_id", s->request_id);
        log_int(&l, "dur_ms", (long long)(now - since));
        log_str(&l, "msg", "request over HONEYDUE_REQUEST_TIMEOUT; worker killed");
        log_int(&l, "timeout_s", limit_s);
        log_end(&l);
        atomic_fetch_add(&b->killed_slow, 1);
        atomic_store(&s->busy_since_ms, 0); /* once */
        kill(s->pid, SIGKILL);
    }
}

static void api_tick(void *data)
{
    (void)data;
    sb_sample_listen();
    kill_stuck();
}

int master_run(int listen_fd, const route *routes, size_t nroutes)
{
    if (sb_open() != 0)
        log_line(LOG_WARN, "master", "no scoreboard (mmap failed): status and timeouts are off");
    else
        sb_get()->listen_fd = listen_fd;
    api_pool a = {listen_fd, routes, nroutes};
    sup_pool pool = {.event = "master",
                     .noun = "workers",
                     .count_key = "HONEYDUE_WORKERS",
                     .count_default = 4,
                     .child = api_child,
                     .prepare = api_prepare,
                     .tick = api_tick,
                     .data = &a};
    return sup_run(&pool);
}
