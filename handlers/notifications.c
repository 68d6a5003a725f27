/*
 * notifications.c - a user's notification feed (written by honeydue-worker,
 * read and marked here) and their delivery preferences, which the worker
 * reads to decide who gets what. Every query is scoped to the requesting
 * user, so another user's notification is a 404 like a missing one. Nothing
 * here is cached.
 */
#include "handlers.h"
#include "db.h"
#include "jsonv.h"

/* GET /api/notifications/?unread=true&page=&page_size= */
int notifications_list(req *r)
{
    page_req p;
    json_object *errors = json_object_new_object();
    page_from_query(r, &p, errors);
    const char *unread = req_query(r, "unread");
    int only_unread = unread ? param_bool(unread) : 0;
    if (only_unread < 0)
        json_object_object_add(errors, "unread", json_object_new_string("must be true or false"));
    if (json_object_object_length(errors) > 0)
        return reply_invalid(r, errors);
    json_object_put(errors);
    char state[6];
    const char *params[] = {param_id(r, r->user_id), only_unread ? "true" : "false",
                            page_limit(r, &p), page_offset(r, &p)};
    PGresult *res = db_exec("notifications_list", 4, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    const char *extra = arena_sprintf(r->a, "\"unread_count\":%s", PQgetvalue(res, 0, 2));
    return page_send(r, &p, res, extra);
}

/* POST /api/notifications/{id}/read/ -> the notification */
int notifications_read(req *r)
{
    const char *params[] = {param_id(r, r->user_id), param_id(r, r->params[0])};
    return reply_query(r, "notifications_read", 2, params, 200);
}

/* POST /api/notifications/read-all/ -> {"marked": N} */
int notifications_read_all(req *r)
{
    const char *params[] = {param_id(r, r->user_id)};
    return reply_query(r, "notifications_read_all", 1, params, 200);
}

int notifications_delete(req *r)
{
    char state[6];
    const char *params[] = {param_id(r, r->user_id), param_id(r, r->params[0])};
    PGresult *res = db_exec("notifications_delete", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    int found = PQntuples(res) == 1;
    PQclear(res);
    return found ? resp_empty(r, 204) : resp_not_found(r);
}

/* One boolean per kind of notification but "system" (always delivered). */
static const jv_field preference_fields[] = {
    {"task_created", JV_BOOL, 0, 0, 0, NULL},  {"task_completed", JV_BOOL, 0, 0, 0, NULL},
    {"task_due", JV_BOOL, 0, 0, 0, NULL},      {"task_overdue", JV_BOOL, 0, 0, 0, NULL},
    {"member_joined", JV_BOOL, 0, 0, 0, NULL}, {"reminder", JV_BOOL, 0, 0, 0, NULL},
    {"email_enabled", JV_BOOL, 0, 0, 0, NULL}, {"push_enabled", JV_BOOL, 0, 0, 0, NULL},
    {"reminder_hour", JV_INT, 0, 0, 23, NULL},
};

int notifications_preferences_get(req *r)
{
    const char *params[] = {param_id(r, r->user_id)};
    return reply_query(r, "preferences_get", 1, params, 200);
}

int notifications_preferences_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, preference_fields, sizeof(preference_fields) / sizeof(preference_fields[0]),
                 1, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    char state[6];
    const char *params[] = {param_id(r, r->user_id), json_object_to_json_string(clean)};
    PGresult *res = db_exec("preferences_update", 2, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    return reply_row(r, res, 0, 200);
}
