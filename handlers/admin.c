/*
 * admin.c - the admin panel's API: every user (search, ordering, activation
 * and staff flags), every residence, the dashboard's totals and daily
 * series, and the system's health (the pool's status and readiness, as
 * the internal endpoints answer them). The job queue is admin_jobs.c, the
 * audit log admin_audit.c. Every route here is flagged ROUTE_STAFF, so the
 * worker has already answered 401 or 403 to anyone else. Deactivating a
 * user revokes their tokens and drops their cached resolutions at once; a
 * staff change drops those resolutions too, so either takes effect on the
 * user's next request. Each change of a flag is an audit entry written by
 * the statement that makes it.
 */
#include "handlers.h"
#include "authn.h"
#include "db.h"
#include "jsonv.h"

#include <string.h>

#define SEARCH_MAX 100
#define SERIES_DAYS_DEFAULT 30
#define SERIES_DAYS_MAX 365

static const char *const user_orderings[] = {
    "id",          "-id",          "username",   "-username",   "email", "-email",
    "date_joined", "-date_joined", "last_login", "-last_login", NULL};

/* ?q=: NULL when absent or empty; a field error in ERRORS when too long or
 * not UTF-8. */
static const char *search_param(req *r, json_object *errors)
{
    const char *q = req_query(r, "q");
    if (q == NULL || *q == '\0')
        return NULL;
    size_t len = strlen(q);
    if (!jv_utf8_valid(q, len))
        json_object_object_add(errors, "q", json_object_new_string("must be valid UTF-8"));
    else if (jv_utf8_len(q, len) > SEARCH_MAX)
        json_object_object_add(errors, "q", json_object_new_string("is too long"));
    return q;
}

/* A boolean query parameter NAME: its text ("true"/"false"), NULL when
 * absent, or a field error in ERRORS. */
static const char *bool_param(req *r, const char *name, json_object *errors)
{
    const char *v = req_query(r, name);
    if (v != NULL && param_bool(v) < 0)
        json_object_object_add(errors, name, json_object_new_string("must be true or false"));
    return v;
}

/* GET /api/admin/users/?q=&is_active=&is_staff=&ordering=&page=&page_size= */
int admin_users_list(req *r)
{
    page_req p;
    json_object *errors = json_object_new_object();
    page_from_query(r, &p, errors);
    const char *q = search_param(r, errors);
    const char *active = bool_param(r, "is_active", errors);
    const char *staff = bool_param(r, "is_staff", errors);
    const char *ordering = req_query(r, "ordering");
    if (ordering == NULL || *ordering == '\0')
        ordering = "id";
    int known = 0;
    for (int i = 0; user_orderings[i] != NULL; i++)
        known |= strcmp(ordering, user_orderings[i]) == 0;
    if (!known)
        json_object_object_add(errors, "ordering",
                               json_object_new_string("is not one of the allowed values"));
    if (json_object_object_length(errors) > 0)
        return reply_invalid(r, errors);
    json_object_put(errors);
    char state[6];
    const char *params[] = {q, active, ordering, page_limit(r, &p), page_offset(r, &p), staff};
    PGresult *res = db_exec("admin_users_list", 6, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return page_send(r, &p, res, NULL);
}

int admin_users_get(req *r)
{
    const char *params[] = {param_id(r, r->params[0])};
    return reply_query(r, "admin_users_get", 1, params, 200);
}

static const jv_field user_fields[] = {
    {"is_active", JV_BOOL, 0, 0, 0, NULL},
    {"is_staff", JV_BOOL, 0, 0, 0, NULL},
};

/* 1 when CLEAN sets boolean NAME to false. */
static int sets_false(json_object *clean, const char *name)
{
    json_object *v;
    return json_object_object_get_ex(clean, name, &v) && !json_object_get_boolean(v);
}

/* PATCH /api/admin/users/{id}/ {"is_active"?, "is_staff"?}: the update,
 * the revoked tokens and the audit entries are one statement. */
int admin_users_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, user_fields, 2, 1, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    if (r->params[0] == r->user_id &&
        (sets_false(clean, "is_active") || sets_false(clean, "is_staff"))) {
        json_object_put(clean);
        return resp_error(r, 409, "conflict",
                          "staff users cannot deactivate or un-staff themselves");
    }
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), json_object_to_json_string(clean),
                            param_id(r, r->user_id), r->remote_addr};
    PGresult *res = db_exec("admin_users_update", 4, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 1))
        authn_forget_hashes(r, res, 1);
    return reply_row(r, res, 0, 200);
}

/* GET /api/admin/residences/?q=&page=&page_size= */
int admin_residences_list(req *r)
{
    page_req p;
    json_object *errors = json_object_new_object();
    page_from_query(r, &p, errors);
    const char *q = search_param(r, errors);
    if (json_object_object_length(errors) > 0)
        return reply_invalid(r, errors);
    json_object_put(errors);
    char state[6];
    const char *params[] = {q, page_limit(r, &p), page_offset(r, &p)};
    PGresult *res = db_exec("admin_residences_list", 3, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return page_send(r, &p, res, NULL);
}

int admin_residences_get(req *r)
{
    const char *params[] = {param_id(r, r->params[0])};
    return reply_query(r, "admin_residences_get", 1, params, 200);
}

int admin_stats(req *r)
{
    return reply_query(r, "admin_stats", 0, NULL, 200);
}

/* GET /api/admin/stats/series/?days=N (1..365, default 30) */
int admin_stats_series(req *r)
{
    long long days;
    const char *msg =
        page_parse_int(req_query(r, "days"), SERIES_DAYS_DEFAULT, SERIES_DAYS_MAX, &days);
    if (msg != NULL)
        return reply_invalid_field(
            r, "days", strcmp(msg, "is out of range") == 0 ? "must be at most 365" : msg);
    const char *params[] = {param_id(r, days)};
    return reply_query(r, "admin_stats_series", 1, params, 200);
}

/* GET /api/admin/system/: {"status": the body of GET /api/internal/status/,
 * "ready": the body of GET /api/ready/ with its "status_code"}. Always a
 * 200: each part says how it is. */
int admin_system_get(req *r)
{
    int status_code, ready_code;
    json_object *status = status_body(&status_code);
    json_object *ready = health_ready_body(r, &ready_code);
    json_object_object_add(ready, "status_code", json_object_new_int(ready_code));
    json_object *out = json_object_new_object();
    json_object_object_add(out, "status", status);
    json_object_object_add(out, "ready", ready);
    return resp_obj(r, 200, out);
}
