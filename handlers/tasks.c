/*
 * tasks.c - maintenance tasks of the residences a user belongs to.
 *
 * GET /api/tasks/ is the app's home screen, so it is served from Redis
 * (tasks:user:<uid>, filled from one json_agg query) with an ETag; every
 * write here invalidates the lists of every member of the task's residence.
 * "Cache-Control: no-cache" on the request skips the cache read.
 */
#include "handlers.h"
#include "cache.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "jsonv.h"

#include <string.h>
#include <strings.h>

static const char *const priorities[] = {"low", "medium", "high", "urgent", NULL};
static const char *const frequencies[] = {"once",    "daily",     "weekly",       "biweekly",
                                          "monthly", "quarterly", "semiannually", "annually",
                                          "custom",  NULL};

static const char *const anchors[] = {"due_date", "completion", NULL};

static const jv_field task_fields[] = {
    {"residence_id", JV_INT, JV_REQUIRED | JV_IMMUTABLE, 1, 999999999999999LL, NULL},
    {"title", JV_STRING, JV_REQUIRED, 1, 200, NULL},
    {"description", JV_STRING, 0, 0, 10000, NULL},
    {"category", JV_STRING, 0, 1, 50, NULL},
    {"priority", JV_ENUM, 0, 0, 0, priorities},
    {"due_date", JV_DATE, JV_NULLABLE, 0, 0, NULL},
    {"frequency", JV_ENUM, 0, 0, 0, frequencies},
    {"custom_interval_days", JV_INT, JV_NULLABLE, 1, 3650, NULL},
    {"estimated_cost", JV_DECIMAL, JV_NULLABLE, 0, 99999999, NULL},
    {"archived", JV_BOOL, 0, 0, 0, NULL},
    {"schedule_anchor", JV_ENUM, 0, 0, 0, anchors},
};
#define NFIELDS (sizeof(task_fields) / sizeof(task_fields[0]))

/* A "custom" frequency needs its interval (the table enforces it too). */
static int check_custom(json_object *clean, json_object **errors)
{
    json_object *f, *days;
    if (!json_object_object_get_ex(clean, "frequency", &f) ||
        strcmp(json_object_get_string(f), "custom") != 0)
        return 0;
    if (json_object_object_get_ex(clean, "custom_interval_days", &days) && days != NULL)
        return 0;
    *errors = json_object_new_object();
    json_object_object_add(*errors, "custom_interval_days",
                           json_object_new_string("is required when frequency is custom"));
    return -1;
}

static int db_error(req *r, const char *state)
{
    if (strcmp(state, "23514") == 0) /* check constraint: e.g. custom without interval */
        return resp_error(r, 422, "validation_failed",
                          "custom_interval_days is required when frequency is custom");
    return resp_db_error(r, state);
}

/* The list body of user r->user_id: from the cache unless bypassed. */
int tasks_list(req *r)
{
    const char *uid = id_text(r, r->user_id);
    const char *key = arena_sprintf(r->a, "tasks:user:%s", uid);
    int bypass = req_wants_fresh(r);
    char gen[24] = "";
    size_t len = 0;
    char *body = NULL;
    if (r->prefetched) { /* read with the token by authn_request */
        body = r->list_body;
        len = r->list_len;
        memcpy(gen, r->list_gen, sizeof(gen));
    } else if (!bypass) {
        body = cache_lookup(r->a, key, &len, gen, &r->cache_us);
    }
    r->cache_state = body ? "hit" : bypass ? "bypass" : "miss";
    if (body == NULL) {
        char state[6];
        const char *params[] = {uid};
        PGresult *res = db_exec("tasks_list", 1, params, state, &r->db_us);
        if (res == NULL)
            return resp_db_error(r, state);
        len = (size_t)PQgetlength(res, 0, 0);
        body = arena_strndup(r->a, PQgetvalue(res, 0, 0), len);
        PQclear(res);
        if (body == NULL)
            return resp_error(r, 503, "service_unavailable", "out of memory");
        if (!bypass)
            cache_fill(key, gen, body, len, cache_ttl(), &r->cache_us);
    }
    char digest[17];
    crypto_etag(body, len, digest);
    const char *etag = arena_sprintf(r->a, "\"%s\"", digest);
    resp_header(r, "ETag", etag);
    resp_header(r, "X-Cache", r->cache_state);
    const char *inm = req_param(r, "HTTP_IF_NONE_MATCH");
    if (inm != NULL && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0))
        return resp_empty(r, 304);
    return resp_send(r, 200, body, len);
}

int tasks_create(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, task_fields, NFIELDS, 0, &clean, &errors) != 0)
        return send_invalid(r, errors);
    if (check_custom(clean, &errors) != 0) {
        json_object_put(clean);
        return send_invalid(r, errors);
    }
    json_object *rid;
    json_object_object_get_ex(clean, "residence_id", &rid);
    const char *key = NULL;
    if (idem_replay(r, &key) != 0) {
        json_object_put(clean);
        return r->status;
    }
    char state[6];
    const char *params[] = {id_text(r, r->user_id), id_text(r, json_object_get_int64(rid)),
                            json_object_to_json_string(clean), key, idem_scope(r)};
    PGresult *res = db_exec("tasks_create", 5, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL && key != NULL && strcmp(state, "23505") == 0)
        return idem_replay(r, &key) == 1 ? r->status : resp_db_error(r, state); /* lost a race */
    if (res == NULL)
        return db_error(r, state);
    if (PQntuples(res) == 1)
        invalidate_members(r, PQgetvalue(res, 0, 1));
    return send_row(r, res, 0, 201);
}

int tasks_get(req *r)
{
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id)};
    return send_query(r, "tasks_get", 2, params, 200);
}

int tasks_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    /* A change to "custom" is checked by the table's constraint, which sees
     * the interval the task already has. */
    if (jv_check(body, task_fields, NFIELDS, 1, &clean, &errors) != 0)
        return send_invalid(r, errors);
    char state[6];
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id),
                            json_object_to_json_string(clean)};
    PGresult *res = db_exec("tasks_update", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    if (PQntuples(res) == 1)
        invalidate_members(r, PQgetvalue(res, 0, 1));
    return send_row(r, res, 0, 200);
}

int tasks_delete(req *r)
{
    char state[6];
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id)};
    PGresult *res = db_exec("tasks_delete", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return resp_not_found(r);
    }
    invalidate_members(r, PQgetvalue(res, 0, 0));
    PQclear(res);
    return resp_empty(r, 204);
}

static const jv_field completion_fields[] = {
    {"notes", JV_STRING, 0, 0, 10000, NULL},
    {"actual_cost", JV_DECIMAL, JV_NULLABLE, 0, 99999999, NULL},
    {"rating", JV_INT, JV_NULLABLE, 1, 5, NULL},
};

/* POST /api/tasks/{id}/complete/ -> 201 {"completion": ..., "task": ...} */
int tasks_complete(req *r)
{
    json_object *clean, *errors;
    json_object *body = NULL;
    /* An empty body is a plain "done"; otherwise it must be a JSON object. */
    if (r->content_length > 0 && req_json_body(r, &body) != 0)
        return r->status;
    json_object *empty = body ? NULL : json_object_new_object();
    int bad = jv_check(body ? body : empty, completion_fields, 3, 0, &clean, &errors);
    json_object_put(empty);
    if (bad)
        return send_invalid(r, errors);
    const char *key = NULL;
    if (idem_replay(r, &key) != 0) {
        json_object_put(clean);
        return r->status;
    }
    char state[6];
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id),
                            json_object_to_json_string(clean), key, idem_scope(r)};
    PGresult *res = db_exec("tasks_complete", 5, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL && key != NULL && strcmp(state, "23505") == 0)
        return idem_replay(r, &key) == 1 ? r->status : resp_db_error(r, state); /* lost a race */
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQgetvalue(res, 0, 0)[0] == '0') {
        PQclear(res);
        return resp_not_found(r);
    }
    if (PQgetisnull(res, 0, 1)) {
        PQclear(res);
        return resp_error(r, 409, "conflict", "the task is completed or archived");
    }
    invalidate_members(r, PQgetvalue(res, 0, 2));
    return send_row(r, res, 1, 201);
}

int tasks_completions(req *r)
{
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id)};
    return send_query(r, "tasks_completions", 2, params, 200);
}

int tasks_completion_delete(req *r)
{
    char state[6];
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id),
                            id_text(r, r->params[1])};
    PGresult *res = db_exec("tasks_completion_delete", 3, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQgetvalue(res, 0, 0)[0] == '0') {
        PQclear(res);
        return resp_not_found(r);
    }
    invalidate_members(r, PQgetvalue(res, 0, 1));
    PQclear(res);
    return resp_empty(r, 204);
}
