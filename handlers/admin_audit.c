/*
 * admin_audit.c - the admin audit log (admin_auditlog, sql/admin_audit.sql):
 * GET /api/admin/audit/, newest first, filtered by actor, action and
 * target; and admin_audit_record, which the actions outside Postgres (the
 * job queue, admin_jobs.c) call before they act. A change made in Postgres
 * writes its entry in its own statement instead (admin_users_update). No
 * route changes or deletes an entry, and the table refuses to (a trigger).
 * ROUTE_STAFF.
 */
#include "handlers.h"
#include "db.h"
#include "jsonv.h"

#include <string.h>

#define TARGET_ID_MAX 64

static const char *const audit_actions[] = {
    "user.deactivate",   "user.reactivate",  "user.grant_staff",
    "user.revoke_staff", "job.retry",        "job.discard",
    "jobs.retry_all",    "jobs.discard_all", NULL};
static const char *const audit_target_types[] = {"user", "job", "jobs", NULL};

int admin_audit_record(req *r, const char *action, const char *target_type, const char *target_id,
                       const char *details)
{
    char state[6];
    const char *params[] = {param_id(r, r->user_id), action, target_type, target_id, details,
                            r->remote_addr};
    PGresult *res = db_exec("admin_audit_insert", 6, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        return -1;
    }
    int written = PQntuples(res) == 1;
    PQclear(res);
    if (!written) { /* the staff user was deleted while this request ran */
        resp_error(r, 403, "forbidden", "this account no longer exists");
        return -1;
    }
    return 0;
}

/* Query parameter NAME, or NULL when absent or empty. */
static const char *filter(req *r, const char *name)
{
    const char *v = req_query(r, name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* Filter NAME, which must be one of CHOICES (a field error otherwise). */
static const char *choice(req *r, const char *name, const char *const *choices, json_object *errors)
{
    const char *v = filter(r, name);
    if (v == NULL)
        return NULL;
    for (int i = 0; choices[i] != NULL; i++)
        if (strcmp(v, choices[i]) == 0)
            return v;
    json_object_object_add(errors, name,
                           json_object_new_string("is not one of the allowed values"));
    return NULL;
}

/* GET /api/admin/audit/?actor=&action=&target_type=&target_id=&page=&page_size= */
int admin_audit_list(req *r)
{
    page_req p;
    json_object *errors = json_object_new_object();
    page_from_query(r, &p, errors);
    const char *actor = filter(r, "actor");
    long long actor_id;
    if (actor != NULL && page_parse_int(actor, 0, 999999999999999LL, &actor_id) != NULL)
        json_object_object_add(errors, "actor", json_object_new_string("must be a user id"));
    const char *action = choice(r, "action", audit_actions, errors);
    const char *target_type = choice(r, "target_type", audit_target_types, errors);
    const char *target_id = filter(r, "target_id");
    if (target_id != NULL) {
        size_t len = strlen(target_id);
        if (!jv_utf8_valid(target_id, len))
            json_object_object_add(errors, "target_id",
                                   json_object_new_string("must be valid UTF-8"));
        else if (jv_utf8_len(target_id, len) > TARGET_ID_MAX)
            json_object_object_add(errors, "target_id", json_object_new_string("is too long"));
    }
    if (json_object_object_length(errors) > 0)
        return reply_invalid(r, errors);
    json_object_put(errors);
    char state[6];
    const char *params[] = {
        actor, action, target_type, target_id, page_limit(r, &p), page_offset(r, &p)};
    PGresult *res = db_exec("admin_audit_list", 6, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return page_send(r, &p, res, NULL);
}
