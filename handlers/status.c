/*
 * status.c - GET /api/internal/status/: the pool as the scoreboard sees it
 * (php-fpm's `?full` status page, in JSON). nginx answers it only on
 * loopback and the pod network; staff see the same body through
 * GET /api/admin/system/ (admin.c), which status_body builds for both.
 */
#include "handlers.h"
#include "scoreboard.h"

#include <json-c/json.h>

static const char *const state_names[] = {"free", "starting", "idle", "busy"};

json_object *status_body(int *status)
{
    scoreboard *b = sb_get();
    if (b == NULL) {
        *status = 503;
        return resp_error_obj("service_unavailable", "no scoreboard", NULL);
    }
    sb_sample_listen();
    int64_t now = sb_now_ms();
    int counts[4] = {0, 0, 0, 0};
    uint64_t requests = 0;
    json_object *workers = json_object_new_array();
    for (int i = 0; i < SB_SLOTS; i++) {
        sb_slot *s = &b->slots[i];
        int state = atomic_load(&s->state);
        if (state == SB_FREE || state > SB_BUSY)
            continue;
        counts[state]++;
        uint64_t served = atomic_load(&s->requests);
        requests += served;
        json_object *w = json_object_new_object();
        json_object_object_add(w, "pid", json_object_new_int(s->pid));
        json_object_object_add(w, "generation", json_object_new_int(s->generation));
        json_object_object_add(w, "state", json_object_new_string(state_names[state]));
        json_object_object_add(w, "started_ms", json_object_new_int64(s->started_ms));
        json_object_object_add(w, "requests", json_object_new_int64((int64_t)served));
        json_object_object_add(w, "rss_kb",
                               json_object_new_int64((int64_t)atomic_load(&s->rss_kb)));
        int64_t since = atomic_load(&s->busy_since_ms);
        if (state == SB_BUSY && since > 0) {
            json_object *cur = json_object_new_object();
            json_object_object_add(cur, "method", json_object_new_string(s->method));
            json_object_object_add(cur, "route", json_object_new_string(s->route));
            json_object_object_add(cur, "path", json_object_new_string(s->path));
            json_object_object_add(cur, "request_id", json_object_new_string(s->request_id));
            json_object_object_add(cur, "busy_ms", json_object_new_int64(now - since));
            json_object_object_add(w, "request", cur);
        } else {
            json_object_object_add(w, "request", NULL);
        }
        json_object_array_add(workers, w);
    }
    json_object *pool = json_object_new_object();
    json_object_object_add(pool, "started_ms", json_object_new_int64(b->started_ms));
    json_object_object_add(pool, "uptime_s",
                           json_object_new_int64((now - b->started_mono_ms) / 1000));
    json_object_object_add(pool, "workers_wanted", json_object_new_int(b->want_workers));
    json_object_object_add(pool, "workers", json_object_new_int(counts[1] + counts[2] + counts[3]));
    json_object_object_add(pool, "starting", json_object_new_int(counts[SB_STARTING]));
    json_object_object_add(pool, "idle", json_object_new_int(counts[SB_IDLE]));
    json_object_object_add(pool, "busy", json_object_new_int(counts[SB_BUSY]));
    json_object_object_add(pool, "max_active", json_object_new_int(atomic_load(&b->max_active)));
    json_object_object_add(pool, "listen_queue",
                           json_object_new_int(atomic_load(&b->listen_queue)));
    json_object_object_add(pool, "listen_queue_len",
                           json_object_new_int(atomic_load(&b->listen_backlog)));
    json_object_object_add(pool, "max_listen_queue",
                           json_object_new_int(atomic_load(&b->max_listen_queue)));
    json_object_object_add(pool, "requests", json_object_new_int64((int64_t)requests));
    json_object_object_add(pool, "restarts",
                           json_object_new_int64((int64_t)atomic_load(&b->restarts)));
    json_object_object_add(pool, "killed_slow",
                           json_object_new_int64((int64_t)atomic_load(&b->killed_slow)));
    json_object_object_add(pool, "recycled",
                           json_object_new_int64((int64_t)atomic_load(&b->recycled)));
    json_object *out = json_object_new_object();
    json_object_object_add(out, "pool", pool);
    json_object_object_add(out, "workers", workers);
    *status = 200;
    return out;
}

int status_get(req *r)
{
    int status;
    json_object *body = status_body(&status);
    return resp_obj(r, status, body);
}
