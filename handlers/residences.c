/*
 * residences.c - a user's residences: list, create, read, rename/edit and
 * delete (the last two for the owner only), and sharing: the member list,
 * removing a member, leaving, share codes and joining by code. A member who
 * is not the owner gets 403 on owner-only actions; anyone else gets 404, as
 * for a residence that does not exist.
 */
#include "handlers.h"
#include "crypto.h"
#include "db.h"
#include "jsonv.h"
#include "listcache.h"
#include "keys.h"
#include "queue.h"
#include "throttle.h"

#include <stdlib.h>
#include <string.h>

static const jv_field residence_fields[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 200, NULL}, {"street_address", JV_STRING, 0, 0, 255, NULL},
    {"city", JV_STRING, 0, 0, 100, NULL},           {"state_province", JV_STRING, 0, 0, 100, NULL},
    {"postal_code", JV_STRING, 0, 0, 20, NULL},     {"country", JV_STRING, 0, 0, 100, NULL},
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
        return reply_invalid(r, errors);
    }
    return resp_db_error(r, state);
}

/* GET /api/residences/: a cached list (routes.c declares it). */
int residences_list(req *r)
{
    return listcache_send(r);
}

int residences_create(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, residence_fields, NFIELDS, 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    char state[6];
    const char *params[] = {param_id(r, r->user_id), json_object_to_json_string(clean)};
    PGresult *res = db_exec("residences_create", 2, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    invalidate_members(r, PQgetvalue(res, 0, 1));
    return reply_row(r, res, 0, 201);
}

int residences_get(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    return reply_query(r, "residences_get", 2, params, 200);
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

/* Run owner-only query NAME on residence r->params[0] for r->user_id (plus
 * EXTRA as $3 when not NULL). Returns its result for the owner; otherwise
 * NULL after sending 404 (not a member), 403 (not the owner) or the
 * database error. */
static PGresult *owner_exec(req *r, const char *name, const char *extra)
{
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id), extra};
    PGresult *res = db_exec(name, extra ? 3 : 2, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        return NULL;
    }
    return owner_check(r, res) == 0 ? res : NULL;
}

int residences_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, residence_fields, NFIELDS, 1, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id),
                            json_object_to_json_string(clean)};
    PGresult *res = db_exec("residences_update", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    if (owner_check(r, res) != 0)
        return r->status;
    invalidate_members(r, PQgetvalue(res, 0, 2));
    return reply_row(r, res, 1, 200);
}

int residences_delete(req *r)
{
    PGresult *res = owner_exec(r, "residences_delete", NULL);
    if (res == NULL)
        return r->status;
    invalidate_members(r, PQgetvalue(res, 0, 2));
    PQclear(res);
    documents_sweep(r); /* the files of its documents */
    return resp_empty(r, 204);
}

/* ---- sharing: members, leaving, share codes, joining ---- */

#define SHARE_CODE_LEN 8

int residences_members(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    return reply_query(r, "residences_members", 2, params, 200);
}

/* The user who joined or left sees a different set of residences and tasks. */
static void invalidate_user(req *r, long long uid)
{
    invalidate_members(r, param_id(r, uid));
}

int residences_remove_member(req *r)
{
    long long uid = r->params[1];
    PGresult *res = owner_exec(r, "residences_remove_member", param_id(r, uid));
    if (res == NULL)
        return r->status;
    int removed = PQgetvalue(res, 0, 1)[0] != '0';
    if (removed)
        invalidate_members(r, PQgetvalue(res, 0, 2));
    PQclear(res);
    if (!removed && uid == r->user_id)
        return resp_error(r, 409, "conflict", "the owner cannot be removed; delete the residence");
    if (!removed)
        return resp_not_found(r);
    return resp_empty(r, 204);
}

int residences_leave(req *r)
{
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    PGresult *res = db_exec("residences_leave", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return resp_not_found(r);
    }
    int owner = PQgetvalue(res, 0, 0)[0] == 't';
    if (!owner)
        invalidate_members(r, PQgetvalue(res, 0, 2));
    PQclear(res);
    if (owner)
        return resp_error(r, 409, "conflict", "the owner cannot leave; delete the residence");
    return resp_empty(r, 204);
}

int residences_sharecode_create(req *r)
{
    char code[SHARE_CODE_LEN + 1];
    crypto_share_code_new(code, SHARE_CODE_LEN);
    PGresult *res = owner_exec(r, "sharecode_create", code);
    if (res == NULL)
        return r->status;
    return reply_row(r, res, 1, 201);
}

int residences_sharecode_revoke(req *r)
{
    PGresult *res = owner_exec(r, "sharecode_revoke", NULL);
    if (res == NULL)
        return r->status;
    PQclear(res);
    return resp_empty(r, 204);
}

static const jv_field join_fields[] = {
    {"code", JV_STRING, JV_REQUIRED, 1, 32, NULL},
};

int residences_join(req *r)
{
    json_object *body, *clean, *errors, *v;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, join_fields, 1, 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    /* Guessing codes: ten wrong ones per user, thirty per address (a
     * household behind one address joins too) in 15 minutes, then 429. */
    throttle_counter counters[] = {
        {keys_throttle_user(r->a, "join", r->user_id), 10, 900},
        {throttle_ip_key(r->a, "join", r->remote_addr), 30, 900},
    };
    int wait = throttle_wait(counters, 2, &r->cache_us);
    if (wait > 0) {
        json_object_put(clean);
        return reply_throttled(r, wait);
    }
    char code[SHARE_CODE_LEN + 1], state[6];
    json_object_object_get_ex(clean, "code", &v);
    int ok = crypto_share_code_normalize(json_object_get_string(v), code, sizeof(code), SHARE_CODE_LEN);
    json_object_put(clean);
    PGresult *res = NULL;
    if (ok == 0) {
        const char *params[] = {param_id(r, r->user_id), code};
        res = db_exec("residences_join", 2, params, state, &r->db_us);
        if (res == NULL)
            return resp_db_error(r, state);
    }
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        throttle_hit(counters, 2, &r->cache_us);
        errors = json_object_new_object();
        json_object_object_add(errors, "code", json_object_new_string("is invalid or has expired"));
        return reply_invalid(r, errors);
    }
    invalidate_user(r, r->user_id);
    if (PQgetvalue(res, 0, 1)[0] == '1') { /* a new member: tell the others */
        json_object *p = json_object_new_object();
        json_object_object_add(p, "residence_id",
                               json_object_new_int64(strtoll(PQgetvalue(res, 0, 2), NULL, 10)));
        json_object_object_add(p, "user_id", json_object_new_int64(r->user_id));
        queue_enqueue("notify.member_joined", p, NULL, 0, 0, &r->cache_us);
    }
    return reply_row(r, res, 0, 200);
}
