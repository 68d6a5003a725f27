/*
 * tasks.c - maintenance tasks of the residences a user belongs to.
 *
 * GET /api/tasks/ is the app's home screen, so it is a cached list (its
 * route in routes.c declares it, filled by one json_agg query, sent with an
 * ETag); every write here invalidates the lists of every member of the
 * task's residence.
 */
#include "handlers.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "jsonv.h"
#include "listcache.h"
#include "queue.h"

#include <stdlib.h>
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
    {"assigned_to_id", JV_INT, JV_NULLABLE, 1, 999999999999999LL, NULL},
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
        return reply_invalid_field(r, "custom_interval_days",
                                  "is required when frequency is custom");
    if (strcmp(state, "23503") == 0) /* task_task_assigned_member_fk */
        return reply_invalid_field(r, "assigned_to_id", "is not a member of the residence");
    return resp_db_error(r, state);
}

/* Whether MEMBERS (a Postgres int array's text, "{3,7}") names anyone but
 * user UID. */
static int others_among(const char *members, long long uid)
{
    for (const char *p = members; *p != '\0';) {
        char *end;
        long long id = strtoll(p, &end, 10);
        if (end != p && id != uid)
            return 1;
        p = end != p ? end : p + 1;
    }
    return 0;
}

/* Tell the worker (notify.*) what happened to task TASK_ID, when MEMBERS
 * (the residence's) has anyone to tell: the actor is never notified, so a
 * residence of one enqueues nothing. */
static void notify(req *r, const char *type, const char *members, const char *task_id,
                   const char *completion_id)
{
    if (!others_among(members, r->user_id))
        return;
    json_object *p = json_object_new_object();
    json_object_object_add(p, "task_id", json_object_new_int64(strtoll(task_id, NULL, 10)));
    if (completion_id != NULL)
        json_object_object_add(p, "completion_id",
                               json_object_new_int64(strtoll(completion_id, NULL, 10)));
    json_object_object_add(p, "actor_id", json_object_new_int64(r->user_id));
    queue_enqueue(type, p, NULL, 0, 0, &r->cache_us);
}

static const char *const statuses[] = {"overdue",   "due_soon", "upcoming",
                                       "completed", "archived", NULL};

static int in_list(const char *v, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(v, *list) == 0)
            return 1;
    return 0;
}

/* The filters of GET /api/tasks/ as the parameters of tasks_filtered
 * ($2..$9; NULL for "any"). Returns 0 when the request has none (the cached
 * list answers it), 1 when it has some, or -1 with a 422 sent. */
static int list_filters(req *r, const char **p)
{
    static const char *const names[] = {"residence",  "status",    "category",    "priority",
                                        "due_before", "due_after", "assigned_to", "group"};
    json_object *errors = json_object_new_object();
    int any = 0;
    for (int i = 0; i < 8; i++) {
        const char *v = req_query(r, names[i]);
        p[i] = v;
        if (v == NULL)
            continue;
        any = 1;
        const char *bad = NULL;
        long long id;
        if (i == 0)
            bad = page_parse_int(v, 0, 999999999999999LL, &id);
        else if ((i == 1 && !in_list(v, statuses)) || (i == 3 && !in_list(v, priorities)))
            bad = "is not one of the allowed values";
        else if (i == 2 && (v[0] == '\0' || strlen(v) > 50))
            bad = "must be 1 to 50 characters";
        else if ((i == 4 || i == 5) && !jv_valid_date(v))
            bad = "must be a date as YYYY-MM-DD";
        else if (i == 6 && strcmp(v, "me") == 0)
            p[i] = param_id(r, r->user_id);
        else if (i == 6 && page_parse_int(v, 0, 999999999999999LL, &id) != NULL)
            bad = "must be a user id or \"me\"";
        else if (i == 7 && strcmp(v, "status") != 0)
            bad = "must be \"status\"";
        if (bad != NULL)
            json_object_object_add(errors, names[i], json_object_new_string(bad));
    }
    p[7] = p[7] ? "true" : "false";
    if (json_object_object_length(errors) > 0) {
        reply_invalid(r, errors);
        return -1;
    }
    json_object_put(errors);
    return any;
}

/* GET /api/tasks/: the cached list (listcache.h; routes.c declares it),
 * or with filters the query that applies them, never cached. */
int tasks_list(req *r)
{
    const char *filters[9] = {param_id(r, r->user_id)};
    int filtered = list_filters(r, filters + 1);
    if (filtered < 0)
        return r->status;
    if (!filtered)
        return listcache_send(r);
    r->cache_state = "bypass";
    char state[6];
    PGresult *res = db_exec("tasks_filtered", 9, filters, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    size_t len = (size_t)PQgetlength(res, 0, 0);
    char *body = arena_strndup(r->a, PQgetvalue(res, 0, 0), len);
    PQclear(res);
    if (body == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    return resp_etagged(r, NULL, body, len);
}

int tasks_create(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, task_fields, NFIELDS, 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    if (check_custom(clean, &errors) != 0) {
        json_object_put(clean);
        return reply_invalid(r, errors);
    }
    json_object *rid;
    json_object_object_get_ex(clean, "residence_id", &rid);
    const char *key = NULL;
    if (idem_replay(r, &key) != 0) {
        json_object_put(clean);
        return r->status;
    }
    char state[6];
    const char *params[] = {param_id(r, r->user_id), param_id(r, json_object_get_int64(rid)),
                            json_object_to_json_string(clean), key, idem_scope(r)};
    PGresult *res = db_exec("tasks_create", 5, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL && key != NULL && strcmp(state, "23505") == 0)
        return idem_replay(r, &key) == 1 ? r->status : resp_db_error(r, state); /* lost a race */
    if (res == NULL)
        return db_error(r, state);
    if (PQntuples(res) == 1) {
        invalidate_members(r, PQgetvalue(res, 0, 1));
        notify(r, "notify.task_created", PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), NULL);
    }
    return reply_row(r, res, 0, 201);
}

int tasks_get(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    return reply_query(r, "tasks_get", 2, params, 200);
}

int tasks_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    /* A change to "custom" is checked by the table's constraint, which sees
     * the interval the task already has. */
    if (jv_check(body, task_fields, NFIELDS, 1, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id),
                            json_object_to_json_string(clean)};
    PGresult *res = db_exec("tasks_update", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    if (PQntuples(res) == 1)
        invalidate_members(r, PQgetvalue(res, 0, 1));
    return reply_row(r, res, 0, 200);
}

int tasks_delete(req *r)
{
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
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
    {"contractor_id", JV_INT, JV_NULLABLE, 1, 999999999999999LL, NULL},
};

/* Record a completion or a skip (KIND) of task {id}: 201 {"completion",
 * "task"}, replayed for a repeated Idempotency-Key. */
static int record(req *r, const char *kind)
{
    json_object *clean, *errors;
    json_object *body = NULL;
    /* An empty body is a plain "done"; otherwise it must be a JSON object. */
    if (r->content_length > 0 && req_json_body(r, &body) != 0)
        return r->status;
    json_object *empty = body ? NULL : json_object_new_object();
    int bad =
        jv_check(body ? body : empty, completion_fields,
                 sizeof(completion_fields) / sizeof(completion_fields[0]), 0, &clean, &errors);
    json_object_put(empty);
    if (bad)
        return reply_invalid(r, errors);
    const char *key = NULL;
    if (idem_replay(r, &key) != 0) {
        json_object_put(clean);
        return r->status;
    }
    char state[6];
    const char *task = param_id(r, r->params[0]);
    const char *params[] = {task, param_id(r, r->user_id), json_object_to_json_string(clean),
                            key,  idem_scope(r),          kind};
    PGresult *res = db_exec("tasks_complete", 6, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL && key != NULL && strcmp(state, "23505") == 0)
        return idem_replay(r, &key) == 1 ? r->status : resp_db_error(r, state); /* lost a race */
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQgetvalue(res, 0, 0)[0] == '0') {
        PQclear(res);
        return resp_not_found(r);
    }
    if (PQgetisnull(res, 0, 1) && PQgetvalue(res, 0, 4)[0] == 't') {
        PQclear(res);
        return reply_invalid_field(r, "contractor_id", "is not a contractor of the residence");
    }
    if (PQgetisnull(res, 0, 1)) {
        const char *why = arena_strdup(r->a, PQgetvalue(res, 0, 3));
        PQclear(res);
        return resp_error(r, 409, "conflict", why ? why : "the task cannot be changed");
    }
    invalidate_members(r, PQgetvalue(res, 0, 2));
    if (strcmp(kind, "completed") == 0) {
        json_object *answer = json_tokener_parse(PQgetvalue(res, 0, 1)), *c, *id;
        if (answer && json_object_object_get_ex(answer, "completion", &c) &&
            json_object_object_get_ex(c, "id", &id))
            notify(r, "notify.task_completed", PQgetvalue(res, 0, 2), task,
                   json_object_get_string(id));
        json_object_put(answer);
    }
    return reply_row(r, res, 1, 201);
}

/* POST /api/tasks/{id}/complete/ */
int tasks_complete(req *r)
{
    return record(r, "completed");
}

/* POST /api/tasks/{id}/skip/: the current occurrence of a recurring task
 * will not be done; the next one is due. */
int tasks_skip(req *r)
{
    return record(r, "skipped");
}

/* Archive, unarchive or cancel task {id}: 200 with the task. */
static int set_state(req *r, const char *action)
{
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id), action};
    PGresult *res = db_exec("tasks_set_state", 3, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) == 1)
        invalidate_members(r, PQgetvalue(res, 0, 1));
    return reply_row(r, res, 0, 200);
}

int tasks_archive(req *r)
{
    return set_state(r, "archive");
}

int tasks_unarchive(req *r)
{
    return set_state(r, "unarchive");
}

int tasks_cancel(req *r)
{
    return set_state(r, "cancel");
}

int tasks_completions(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    return reply_query(r, "tasks_completions", 2, params, 200);
}

int tasks_completion_delete(req *r)
{
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id),
                            param_id(r, r->params[1])};
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
