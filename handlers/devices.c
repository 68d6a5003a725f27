/*
 * devices.c - push devices (APNs/FCM tokens) a user registers for
 * honeydue-worker to send to. A token belongs to one user at a time:
 * registering it again refreshes it (200); registering a token another user
 * had moves it to the caller (201, as for a new one), since the phone
 * changed hands.
 */
#include "handlers.h"
#include "db.h"
#include "jsonv.h"

#include <string.h>

#define DEVICE_TOKEN_MIN 16
#define DEVICE_TOKEN_MAX 512

static const char *const platforms[] = {"ios", "android", NULL};

static const jv_field register_fields[] = {
    {"platform", JV_ENUM, JV_REQUIRED, 0, 0, platforms},
    {"token", JV_STRING, JV_REQUIRED, 1, DEVICE_TOKEN_MAX, NULL},
};

static const jv_field delete_fields[] = {
    {"token", JV_STRING, JV_REQUIRED, 1, DEVICE_TOKEN_MAX, NULL},
};

int devices_token_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < DEVICE_TOKEN_MIN || n > DEVICE_TOKEN_MAX)
        return 0;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static const char *field(json_object *o, const char *name)
{
    json_object *v;
    return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

int devices_list(req *r)
{
    const char *params[] = {param_id(r, r->user_id)};
    return reply_query(r, "devices_list", 1, params, 200);
}

/* POST /api/devices/ {"platform", "token"} -> 201 new to the caller, 200 refreshed */
int devices_register(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, register_fields, 2, 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    const char *token = arena_strdup(r->a, field(clean, "token"));
    const char *platform = arena_strdup(r->a, field(clean, "platform"));
    json_object_put(clean);
    if (token == NULL || platform == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    if (!devices_token_valid(token))
        return reply_invalid_field(r, "token",
                                  "must be 16 to 512 letters, digits or the characters _:.-");
    char state[6];
    const char *params[] = {param_id(r, r->user_id), platform, token};
    PGresult *res = db_exec("devices_register", 3, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    int created = PQntuples(res) == 1 && PQgetvalue(res, 0, 1)[0] == 't';
    return reply_row(r, res, 0, created ? 201 : 200);
}

/* DELETE /api/devices/ {"token"} -> 204, or 404 when the caller has no such device */
int devices_delete(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, delete_fields, 1, 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    char state[6];
    const char *params[] = {param_id(r, r->user_id), field(clean, "token")};
    PGresult *res = db_exec("devices_delete", 2, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    int found = PQntuples(res) == 1;
    PQclear(res);
    return found ? resp_empty(r, 204) : resp_not_found(r);
}
