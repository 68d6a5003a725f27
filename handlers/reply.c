/*
 * reply.c - the answers most handlers end with: one JSON row of a named
 * query, or a 422 naming the fields that were wrong (reply.h).
 */
#include "reply.h"
#include "params.h"
#include "db.h"

int reply_row(req *r, PGresult *res, int col, int status)
{
    int rc;
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, col))
        rc = resp_not_found(r);
    else
        rc = resp_send(r, status, PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col));
    PQclear(res);
    return rc;
}

int reply_query(req *r, const char *name, int n, const char *const *params, int status)
{
    char state[6];
    PGresult *res = db_exec(name, n, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return reply_row(r, res, 0, status);
}

int reply_throttled(req *r, int seconds)
{
    resp_header(r, "Retry-After", param_id(r, seconds));
    const char *msg = arena_sprintf(r->a, "too many attempts; try again in %d seconds", seconds);
    return resp_error(r, 429, "throttled", msg ? msg : "too many attempts; try again later");
}

int reply_invalid(req *r, json_object *errors)
{
    return resp_error_fields(r, 422, "validation_failed", "some fields are invalid", errors);
}

int reply_invalid_field(req *r, const char *field, const char *message)
{
    json_object *errors = json_object_new_object();
    json_object_object_add(errors, field, json_object_new_string(message));
    return reply_invalid(r, errors);
}
