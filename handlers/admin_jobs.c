/*
 * admin_jobs.c - the job queue for the admin panel: what is queued,
 * scheduled, running and dead (GET /api/admin/jobs/), and retrying or
 * discarding dead jobs (POST /api/admin/jobs/dead/retry/ and
 * .../dead/discard/). The listing and the dead-list operations are
 * fcgi-app/queue.c's, the ones `honeydue-worker jobs dead|retry|delete`
 * runs too; no job's payload is ever answered (it can hold a password-reset
 * code). Every route is ROUTE_STAFF. Redis down is a 503.
 *
 * An operation on dead jobs is audited (admin_auditlog), in this order:
 *   1. look at the dead list: is the job there and what is its type, or how
 *      many dead jobs are there (404 for an id that is not there; 503 when
 *      Redis is down, and nothing is recorded or done);
 *   2. write the audit entry, with the type or the count seen in 1 (503
 *      when Postgres is down, and nothing is done);
 *   3. apply the operation in Redis, and answer how many jobs it moved.
 * The entry goes first because Postgres and Redis share no transaction: an
 * entry whose operation then failed (Redis went away between 2 and 3: a
 * 503) is better than an operation nobody can trace. When 3 moves another
 * number than 1 saw (a worker or another admin changed the list meanwhile),
 * nothing more is done: the entry says what was seen, the answer what was
 * done. "all" on an empty dead list does nothing and records nothing (as a
 * user PATCH that changes nothing).
 */
#include "handlers.h"
#include "cache.h"
#include "queue.h"

#include <string.h>

#define JOBS_LIST_MAX 100
#define JOB_ID_MAX 64
#define JOB_TYPE_MAX 64

static int redis_down(req *r)
{
    return resp_error(r, 503, "service_unavailable", "redis is unavailable; try again shortly");
}

/* GET /api/admin/jobs/: the queues' sizes and counters (what /metrics
 * shows), and up to 100 scheduled, running and dead jobs. */
int admin_jobs_get(req *r)
{
    queue_stats st;
    queue_jobs jobs;
    if (queue_stats_read(cache_redis(), &st, &r->cache_us) != 0)
        return redis_down(r);
    json_object_put(st.push);
    if (queue_jobs_read(cache_redis(), JOBS_LIST_MAX, &jobs, &r->cache_us) != 0) {
        json_object_put(st.counters);
        return redis_down(r);
    }
    json_object *queues = json_object_new_object();
    for (int i = 0; i < queue_defs_n; i++)
        json_object_object_add(queues, queue_defs[i].name, json_object_new_int64(st.queued[i]));
    json_object *out = json_object_new_object();
    json_object_object_add(out, "queues", queues);
    json_object_object_add(out, "scheduled", json_object_new_int64(st.scheduled));
    json_object_object_add(out, "running", json_object_new_int64(st.active));
    json_object_object_add(out, "dead", json_object_new_int64(st.dead));
    json_object_object_add(out, "counters", st.counters);
    json_object_object_add(out, "scheduled_jobs", jobs.scheduled);
    json_object_object_add(out, "running_jobs", jobs.running);
    json_object_object_add(out, "dead_jobs", jobs.dead);
    return resp_obj(r, 200, out);
}

/* 1 when S looks like a job id: 1 to 64 letters, digits, '-' or '_'. Pure. */
static int job_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > JOB_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* Send the 422 naming FIELD; -1. */
static int bad_field(req *r, const char *field, const char *message)
{
    reply_invalid_field(r, field, message);
    return -1;
}

/* The dead jobs the body names, {"id": "<job id>"} or {"all": true}: *ID
 * the id (alive as long as the request), or NULL for all. Returns 0, or
 * sends the 4xx and returns -1. */
static int dead_target(req *r, const char **id)
{
    json_object *body, *v, *all;
    if (req_json_body(r, &body) != 0)
        return -1;
    int has_id = json_object_object_get_ex(body, "id", &v);
    int has_all = json_object_object_get_ex(body, "all", &all);
    if (has_id && has_all)
        return bad_field(r, "all", "give either id or all, not both");
    if (has_all) {
        if (!json_object_is_type(all, json_type_boolean) || !json_object_get_boolean(all))
            return bad_field(r, "all", "must be true");
        *id = NULL;
        return 0;
    }
    if (!has_id)
        return bad_field(r, "id", "is required (or all: true)");
    if (!json_object_is_type(v, json_type_string) ||
        !job_id_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
        return bad_field(r, "id", "must be a job id");
    *id = json_object_get_string(v);
    return 0;
}

/* Look, record, act: see the top of this file. */
static int dead_op(req *r, queue_dead_op op)
{
    const char *id;
    if (dead_target(r, &id) != 0)
        return r->status;
    int retry = op == QUEUE_DEAD_RETRY;
    const char *answer = retry ? "retried" : "discarded";
    long long seen, moved = 0;
    char type[JOB_TYPE_MAX];
    if (queue_dead_peek(cache_redis(), id, &seen, type, sizeof(type), &r->cache_us) != 0)
        return redis_down(r);
    if (id != NULL && seen == 0)
        return resp_not_found(r);
    if (seen > 0) {
        json_object *details = json_object_new_object();
        if (id != NULL)
            json_object_object_add(details, "type", json_object_new_string(type));
        else
            json_object_object_add(details, "count", json_object_new_int64(seen));
        const char *action = id != NULL ? (retry ? "job.retry" : "job.discard")
                                        : (retry ? "jobs.retry_all" : "jobs.discard_all");
        int rc = admin_audit_record(r, action, id != NULL ? "job" : "jobs", id,
                                    json_object_to_json_string(details));
        json_object_put(details);
        if (rc != 0)
            return r->status;
        if (queue_dead_apply(cache_redis(), id, op, &moved, &r->cache_us) != 0)
            return redis_down(r);
    }
    const char *body = arena_sprintf(r->a, "{\"%s\":%lld}", answer, moved);
    if (body == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    return resp_json(r, 200, body);
}

/* POST /api/admin/jobs/dead/retry/ {"id"} | {"all": true} -> {"retried": n} */
int admin_jobs_dead_retry(req *r)
{
    return dead_op(r, QUEUE_DEAD_RETRY);
}

/* POST /api/admin/jobs/dead/discard/ {"id"} | {"all": true} -> {"discarded": n} */
int admin_jobs_dead_discard(req *r)
{
    return dead_op(r, QUEUE_DEAD_DISCARD);
}
