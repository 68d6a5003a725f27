/*
 * contractors.c - the people a household calls for repairs, kept per
 * residence: list (favourites first), create, read, edit, delete, and the
 * task completions each one did. Every member of the residence may do all
 * of it; anyone else gets 404. Contractors are not cached: nothing here
 * changes GET /api/tasks/ or the residence list.
 */
#include "handlers.h"
#include "db.h"
#include "jsonv.h"

#include <string.h>

/* The contractor specialties of GET /api/static-data/ (static_data.c). */
static const char *const specialties[] = {
    "general",  "hvac",         "plumbing",         "electrical", "roofing", "landscaping",
    "cleaning", "pest_control", "appliance_repair", "handyman",   "other",   NULL};

static const jv_field contractor_fields[] = {
    {"residence_id", JV_INT, JV_REQUIRED | JV_IMMUTABLE, 1, 999999999999999LL, NULL},
    {"name", JV_STRING, JV_REQUIRED, 1, 200, NULL},
    {"company", JV_STRING, 0, 0, 200, NULL},
    {"phone", JV_STRING, 0, 0, 50, NULL},
    {"email", JV_EMAIL, JV_NULLABLE, 0, 254, NULL},
    {"website", JV_URL, JV_NULLABLE, 0, 500, NULL},
    {"specialties", JV_ENUM_LIST, 0, 0, 0, specialties},
    {"notes", JV_STRING, 0, 0, 10000, NULL},
    {"is_favorite", JV_BOOL, 0, 0, 0, NULL},
};
#define NFIELDS (sizeof(contractor_fields) / sizeof(contractor_fields[0]))

/* GET /api/contractors/[?residence=<id>] */
int contractors_list(req *r)
{
    json_object *errors = json_object_new_object();
    const char *residence = param_query_id(r, "residence", errors);
    if (json_object_object_length(errors) > 0)
        return reply_invalid(r, errors);
    json_object_put(errors);
    const char *params[] = {param_id(r, r->user_id), residence};
    return reply_query(r, "contractors_list", 2, params, 200);
}

int contractors_create(req *r)
{
    json_object *body, *clean, *errors, *rid;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, contractor_fields, NFIELDS, 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    json_object_object_get_ex(clean, "residence_id", &rid);
    const char *params[] = {param_id(r, r->user_id), param_id(r, json_object_get_int64(rid)),
                            json_object_to_json_string(clean)};
    char state[6];
    PGresult *res = db_exec("contractors_create", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    return reply_row(r, res, 0, 201); /* no row: not a member of that residence */
}

int contractors_get(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    return reply_query(r, "contractors_get", 2, params, 200);
}

int contractors_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, contractor_fields, NFIELDS, 1, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id),
                            json_object_to_json_string(clean)};
    char state[6];
    PGresult *res = db_exec("contractors_update", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    return reply_row(r, res, 0, 200);
}

int contractors_delete(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    char state[6];
    PGresult *res = db_exec("contractors_delete", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    int found = PQntuples(res) == 1;
    PQclear(res);
    return found ? resp_empty(r, 204) : resp_not_found(r);
}

/* GET /api/contractors/{id}/completions/: newest first. */
int contractors_completions(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    return reply_query(r, "contractors_completions", 2, params, 200);
}
