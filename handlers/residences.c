/*
 * residences.c - a user's residences: list, create, read, rename/edit and
 * delete (the last two for the owner only). A member who is not the owner
 * gets 403 on owner-only actions; anyone else gets 404, as for a residence
 * that does not exist.
 */
#include "handlers.h"
#include "db.h"
#include "jsonv.h"

#include <string.h>

static const jv_field residence_fields[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 200, NULL},
    {"street_address", JV_STRING, 0, 0, 255, NULL},
    {"city", JV_STRING, 0, 0, 100, NULL},
    {"state_province", JV_STRING, 0, 0, 100, NULL},
    {"postal_code", JV_STRING, 0, 0, 20, NULL},
    {"country", JV_STRING, 0, 0, 100, NULL},
    {"time_zone", JV_STRING, 0, 1, 64, NULL},
};
#define NFIELDS (sizeof(residence_fields) / sizeof(residence_fields[0]))

/* Map Postgres's "time zone not recognized" (22023) to a field error. */
static int db_error(req *r, const char *state)
{
    if (strcmp(state, "22023") == 0) {
        json_object *errors = json_object_new_object();
        json_object_object_add(errors, "time_zone",
                               json_object_new_string("is not a known time zone"));
        return send_invalid(r, errors);
    }
    return resp_db_error(r, state);
}

int residences_list(req *r)
{
    char state[6];
    const char *params[] = {id_text(r, r->user_id)};
    PGresult *res = db_exec("residences_list", 1, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return send_row(r, res, 0, 200);
}

int residences_create(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, residence_fields, NFIELDS, 0, &clean, &errors) != 0)
        return send_invalid(r, errors);
    char state[6];
    const char *params[] = {id_text(r, r->user_id), json_object_to_json_string(clean)};
    PGresult *res = db_exec("residences_create", 2, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    invalidate_members(r, PQgetvalue(res, 0, 1));
    return send_row(r, res, 0, 201);
}

int residences_get(req *r)
{
    char state[6];
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id)};
    PGresult *res = db_exec("residences_get", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return send_row(r, res, 0, 200);
}

/* Column 0 of an owner-only write: NULL not a member, 'f' member, 't' owner. */
static int owner_check(req *r, PGresult *res)
{
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return resp_not_found(r);
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        PQclear(res);
        return resp_error(r, 403, "forbidden", "only the owner may change this residence");
    }
    return 0;
}

int residences_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, residence_fields, NFIELDS, 1, &clean, &errors) != 0)
        return send_invalid(r, errors);
    char state[6];
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id),
                            json_object_to_json_string(clean)};
    PGresult *res = db_exec("residences_update", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    if (owner_check(r, res) != 0)
        return r->status;
    invalidate_members(r, PQgetvalue(res, 0, 2));
    return send_row(r, res, 1, 200);
}

int residences_delete(req *r)
{
    char state[6];
    const char *params[] = {id_text(r, r->params[0]), id_text(r, r->user_id)};
    PGresult *res = db_exec("residences_delete", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (owner_check(r, res) != 0)
        return r->status;
    invalidate_members(r, PQgetvalue(res, 0, 2));
    PQclear(res);
    return resp_empty(r, 204);
}
