/*
 * metrics.c - GET /metrics in the Prometheus text format, for the scraper
 * on loopback or the pod network (nginx refuses everyone else).
 *
 * The pool's numbers come from the shared-memory scoreboard (workers busy
 * and idle, requests, restarts, stuck and recycled workers). The job
 * queues come from what honeydue-worker keeps in Redis: the size of every
 * queue, the scheduled (retrying) and running jobs, the dead list, and the
 * counters per job type and outcome, what honeydue-worker's
 * documents.reconcile found, and the push counters per provider, in one
 * Redis EVAL (queue_stats_read).
 * When Redis is down the answer says so (honeydue_redis_up 0) rather than
 * failing the scrape.
 */
#include "handlers.h"
#include "cache.h"
#include "queue.h"
#include "scoreboard.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char redis_down[] =
    "# HELP honeydue_redis_up Whether the API reached Redis for this scrape.\n"
    "# TYPE honeydue_redis_up gauge\n"
    "honeydue_redis_up 0\n";

/* The pool's own numbers, from the scoreboard. */
static const char *pool_metrics(req *r)
{
    scoreboard *b = sb_get();
    if (b == NULL)
        return "";
    sb_sample_listen();
    int busy = 0, idle = 0;
    uint64_t requests = 0;
    for (int i = 0; i < SB_SLOTS; i++) {
        int st = atomic_load(&b->slots[i].state);
        busy += st == SB_BUSY;
        idle += st == SB_IDLE;
        if (st != SB_FREE)
            requests += atomic_load(&b->slots[i].requests);
    }
    return arena_sprintf(
        r->a,
        "# HELP honeydue_workers Pool workers by state.\n# TYPE honeydue_workers gauge\n"
        "honeydue_workers{state=\"busy\"} %d\nhoneydue_workers{state=\"idle\"} %d\n"
        "# HELP honeydue_workers_max_active Most workers busy at once since start.\n"
        "# TYPE honeydue_workers_max_active gauge\nhoneydue_workers_max_active %d\n"
        "# HELP honeydue_worker_requests Requests served by the live workers.\n"
        "# TYPE honeydue_worker_requests gauge\nhoneydue_worker_requests %llu\n"
        "# HELP honeydue_worker_restarts_total Workers that ended unexpectedly.\n"
        "# TYPE honeydue_worker_restarts_total counter\nhoneydue_worker_restarts_total %llu\n"
        "# HELP honeydue_slow_requests_killed_total Workers killed past HONEYDUE_REQUEST_TIMEOUT.\n"
        "# TYPE honeydue_slow_requests_killed_total counter\n"
        "honeydue_slow_requests_killed_total %llu\n"
        "# HELP honeydue_worker_recycled_total Workers ended by HONEYDUE_MAX_REQUESTS or "
        "HONEYDUE_MAX_MEMORY.\n"
        "# TYPE honeydue_worker_recycled_total counter\nhoneydue_worker_recycled_total %llu\n"
        "# HELP honeydue_listen_queue Connections waiting in the pool's accept queue.\n"
        "# TYPE honeydue_listen_queue gauge\nhoneydue_listen_queue %d\n"
        "# HELP honeydue_listen_queue_max Most connections seen waiting since start.\n"
        "# TYPE honeydue_listen_queue_max gauge\nhoneydue_listen_queue_max %d\n"
        "# HELP honeydue_listen_queue_length The accept queue's limit (listen backlog).\n"
        "# TYPE honeydue_listen_queue_length gauge\nhoneydue_listen_queue_length %d\n",
        busy, idle, atomic_load(&b->max_active), (unsigned long long)requests,
        (unsigned long long)atomic_load(&b->restarts),
        (unsigned long long)atomic_load(&b->killed_slow),
        (unsigned long long)atomic_load(&b->recycled), atomic_load(&b->listen_queue),
        atomic_load(&b->max_listen_queue), atomic_load(&b->listen_backlog));
}

/* Requests by route, method and status class; the latency histogram; time
 * in Postgres and Redis; cache results; dependency errors. Routes that
 * served nothing yet are left out. */
static const char *request_metrics(req *r)
{
    scoreboard *b = sb_get();
    if (b == NULL)
        return "";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return "";
    fputs("# HELP honeydue_requests_total Requests by route, method and status class.\n"
          "# TYPE honeydue_requests_total counter\n",
          f);
    for (size_t i = 0; i <= routes_n && i <= SB_ROUTES; i++) {
        sb_route_stats *st = &b->routes[i == routes_n ? SB_ROUTES : i];
        const char *pattern = i == routes_n ? "none" : routes[i].pattern;
        const char *method = i == routes_n ? "any" : routes[i].method;
        for (int c = 0; c < 6; c++) {
            uint64_t n = atomic_load(&st->by_class[c]);
            if (n > 0)
                fprintf(f, "honeydue_requests_total{route=\"%s\",method=\"%s\",code=\"%s\"} %llu\n",
                        pattern, method,
                        c == 0 ? "other"
                               : (const char *[]){"", "1xx", "2xx", "3xx", "4xx", "5xx"}[c],
                        (unsigned long long)n);
        }
    }
    fputs("# HELP honeydue_request_duration_seconds Time to answer, by route.\n"
          "# TYPE honeydue_request_duration_seconds histogram\n",
          f);
    for (size_t i = 0; i <= routes_n && i <= SB_ROUTES; i++) {
        sb_route_stats *st = &b->routes[i == routes_n ? SB_ROUTES : i];
        const char *pattern = i == routes_n ? "none" : routes[i].pattern;
        const char *method = i == routes_n ? "any" : routes[i].method;
        uint64_t total = 0;
        for (int k = 0; k < SB_BUCKETS; k++)
            total += atomic_load(&st->buckets[k]);
        if (total == 0)
            continue;
        uint64_t cum = 0;
        for (int k = 0; k < SB_BUCKETS; k++) {
            cum += atomic_load(&st->buckets[k]);
            if (k < SB_BUCKETS - 1)
                fprintf(f,
                        "honeydue_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
                        "le=\"%g\"} %llu\n",
                        pattern, method, sb_bucket_ms[k] / 1000.0, (unsigned long long)cum);
            else
                fprintf(f,
                        "honeydue_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
                        "le=\"+Inf\"} %llu\n",
                        pattern, method, (unsigned long long)cum);
        }
        fprintf(f,
                "honeydue_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
                "honeydue_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n"
                "honeydue_request_db_seconds_total{route=\"%s\",method=\"%s\"} %.6f\n"
                "honeydue_request_cache_seconds_total{route=\"%s\",method=\"%s\"} %.6f\n",
                pattern, method, (double)atomic_load(&st->dur_us) / 1e6, pattern, method,
                (unsigned long long)total, pattern, method, (double)atomic_load(&st->db_us) / 1e6,
                pattern, method, (double)atomic_load(&st->cache_us) / 1e6);
    }
    fprintf(f,
            "# HELP honeydue_cache_requests_total Cached reads by result.\n"
            "# TYPE honeydue_cache_requests_total counter\n"
            "honeydue_cache_requests_total{result=\"hit\"} %llu\n"
            "honeydue_cache_requests_total{result=\"miss\"} %llu\n"
            "honeydue_cache_requests_total{result=\"bypass\"} %llu\n"
            "# HELP honeydue_dependency_errors_total 503s for Postgres; failed Redis connections.\n"
            "# TYPE honeydue_dependency_errors_total counter\n"
            "honeydue_dependency_errors_total{dependency=\"postgres\"} %llu\n"
            "honeydue_dependency_errors_total{dependency=\"redis\"} %llu\n",
            (unsigned long long)atomic_load(&b->cache_hit),
            (unsigned long long)atomic_load(&b->cache_miss),
            (unsigned long long)atomic_load(&b->cache_bypass),
            (unsigned long long)atomic_load(&b->dep_errors[SB_DEP_POSTGRES]),
            (unsigned long long)atomic_load(&b->dep_errors[SB_DEP_REDIS]));
    fclose(f);
    const char *out = arena_strndup(r->a, buf, len);
    free(buf);
    return out ? out : "";
}

/* "outcome:type" (hd:stats's names): the outcome's length, or 0 when NAME
 * is not one. */
static size_t outcome_len(const char *name)
{
    size_t n = 0;
    while (isalpha((unsigned char)name[n]))
        n++;
    return n > 0 && name[n] == ':' && name[n + 1] != '\0' ? n : 0;
}

/* The job queue's numbers, or NULL when Redis is unavailable. */
static const char *job_metrics(req *r)
{
    queue_stats st;
    if (queue_stats_read(cache_redis(), &st, &r->cache_us) != 0)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        json_object_put(st.counters);
        json_object_put(st.push);
        return NULL;
    }
    fputs("# HELP honeydue_redis_up Whether the API reached Redis for this scrape.\n"
          "# TYPE honeydue_redis_up gauge\nhoneydue_redis_up 1\n"
          "# HELP honeydue_jobs_queued Jobs ready to run, per queue.\n"
          "# TYPE honeydue_jobs_queued gauge\n",
          f);
    for (int i = 0; i < queue_defs_n; i++)
        fprintf(f, "honeydue_jobs_queued{queue=\"%s\"} %lld\n", queue_defs[i].name, st.queued[i]);
    fprintf(f,
            "# HELP honeydue_jobs_scheduled Jobs waiting for their run time or retry back-off.\n"
            "# TYPE honeydue_jobs_scheduled gauge\nhoneydue_jobs_scheduled %lld\n"
            "# HELP honeydue_jobs_running Jobs under a lease.\n"
            "# TYPE honeydue_jobs_running gauge\nhoneydue_jobs_running %lld\n"
            "# HELP honeydue_jobs_dead Jobs in the dead list.\n"
            "# TYPE honeydue_jobs_dead gauge\nhoneydue_jobs_dead %lld\n"
            "# HELP honeydue_jobs_total Jobs by type and outcome (processed, failed, dead, "
            "recovered).\n"
            "# TYPE honeydue_jobs_total counter\n",
            st.scheduled, st.active, st.dead);
    struct json_object_iterator it = json_object_iter_begin(st.counters);
    struct json_object_iterator end = json_object_iter_end(st.counters);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *name = json_object_iter_peek_name(&it);
        size_t n = outcome_len(name);
        if (n > 0)
            fprintf(f, "honeydue_jobs_total{type=\"%s\",outcome=\"%.*s\"} %lld\n", name + n + 1,
                    (int)n, name,
                    (long long)json_object_get_int64(json_object_iter_peek_value(&it)));
    }
    fprintf(f,
            "# HELP honeydue_documents_missing Documents whose file the last complete "
            "documents.reconcile did not find in the storage.\n"
            "# TYPE honeydue_documents_missing gauge\nhoneydue_documents_missing %lld\n"
            "# HELP honeydue_documents_orphans_removed_total Stored files no document named, "
            "removed by documents.reconcile.\n"
            "# TYPE honeydue_documents_orphans_removed_total counter\n"
            "honeydue_documents_orphans_removed_total %lld\n"
            "# HELP honeydue_documents_reconciled_timestamp_seconds When the last complete "
            "documents.reconcile ended (0: never).\n"
            "# TYPE honeydue_documents_reconciled_timestamp_seconds gauge\n"
            "honeydue_documents_reconciled_timestamp_seconds %lld\n",
            st.doc_missing, st.doc_orphans_removed, st.doc_reconciled_at);
    /* Pushes per provider and outcome (sent, failed, removed: a device
     * the provider said is gone), written by honeydue-worker's push.send;
     * every line present from the start, so a rate never misses its first
     * increase. */
    fputs("# HELP honeydue_push_total Push notifications by provider and outcome (sent, failed, "
          "removed: the device was deleted).\n"
          "# TYPE honeydue_push_total counter\n",
          f);
    static const char *const providers[] = {"apns", "fcm"};
    static const char *const outcomes[] = {"sent", "failed", "removed"};
    for (size_t p = 0; p < 2; p++)
        for (size_t o = 0; o < 3; o++) {
            char field[32];
            snprintf(field, sizeof(field), "%s:%s", outcomes[o], providers[p]);
            json_object *v = NULL;
            json_object_object_get_ex(st.push, field, &v);
            fprintf(f, "honeydue_push_total{provider=\"%s\",outcome=\"%s\"} %lld\n", providers[p],
                    outcomes[o], v ? (long long)json_object_get_int64(v) : 0LL);
        }
    fclose(f);
    json_object_put(st.counters);
    json_object_put(st.push);
    const char *out = arena_strndup(r->a, buf, len);
    free(buf);
    return out;
}

int metrics_get(req *r)
{
    const char *text = job_metrics(r);
    r->resp_type = "text/plain; version=0.0.4; charset=utf-8";
    const char *body = arena_sprintf(r->a, "%s%s%s", pool_metrics(r), request_metrics(r),
                                     text ? text : redis_down);
    if (body == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    return resp_send(r, 200, body, strlen(body));
}
