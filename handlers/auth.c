/*
 * auth.c - register, login, logout and "who am I".
 *
 * Passwords are argon2id; a login for an unknown user spends the same time
 * verifying against a dummy hash, so timing does not reveal which accounts
 * exist. The token is returned once, to its owner, and stored only hashed.
 */
#include "handlers.h"
#include "authn.h"
#include "crypto.h"
#include "db.h"
#include "jsonv.h"

#include <stdlib.h>
#include <string.h>

static const jv_field register_fields[] = {
    {"username", JV_STRING, JV_REQUIRED, 3, 150, NULL},
    {"email", JV_EMAIL, JV_REQUIRED, 0, 254, NULL},
    {"password", JV_STRING, JV_REQUIRED, 8, 128, NULL},
    {"first_name", JV_STRING, 0, 0, 150, NULL},
    {"last_name", JV_STRING, 0, 0, 150, NULL},
};

static const jv_field login_fields[] = {
    {"username", JV_STRING, JV_REQUIRED, 1, 254, NULL},
    {"password", JV_STRING, JV_REQUIRED, 1, 128, NULL},
};

static const char *field(json_object *o, const char *name)
{
    json_object *v;
    return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

static int username_ok(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_.@+-", c) != NULL))
            return 0;
    }
    return 1;
}

/* {"token": TOKEN, "user": USER_JSON} */
static int send_token(req *r, int status, const char *token, const char *user_json)
{
    const char *body = arena_sprintf(r->a, "{\"token\":\"%s\",\"user\":%s}", token, user_json);
    if (body == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    return resp_json(r, status, body);
}

int auth_register(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, register_fields, sizeof(register_fields) / sizeof(register_fields[0]), 0,
                 &clean, &errors) != 0)
        return send_invalid(r, errors);
    const char *username = field(clean, "username"), *email = field(clean, "email");
    if (!username_ok(username)) {
        json_object_put(clean);
        errors = json_object_new_object();
        json_object_object_add(
            errors, "username",
            json_object_new_string("may contain only letters, digits and _.@+-"));
        return send_invalid(r, errors);
    }
    char state[6];
    const char *taken_params[] = {username, email};
    PGresult *res = db_exec("users_taken", 2, taken_params, state, &r->db_us);
    if (res == NULL) {
        json_object_put(clean);
        return resp_db_error(r, state);
    }
    int user_taken = PQgetvalue(res, 0, 0)[0] == 't', email_taken = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    if (user_taken || email_taken) {
        json_object_put(clean);
        errors = json_object_new_object();
        if (user_taken)
            json_object_object_add(errors, "username", json_object_new_string("is already taken"));
        if (email_taken)
            json_object_object_add(errors, "email",
                                   json_object_new_string("is already registered"));
        return resp_error_fields(r, 409, "conflict", "an account with these details exists",
                                 errors);
    }
    char hash[PASSWORD_HASH_MAX], token[TOKEN_LEN + 1], th[TOKEN_HASH_LEN + 1];
    if (password_hash(field(clean, "password"), hash) != 0) {
        json_object_put(clean);
        return resp_error(r, 503, "service_unavailable", "cannot hash the password now");
    }
    token_new(token);
    token_hash(token, th);
    const char *params[] = {
        username, email, hash, field(clean, "first_name"), field(clean, "last_name"), th};
    res = db_exec("users_create", 6, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    int rc = send_token(r, 201, token, PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int auth_login(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    /* "email" is accepted in place of "username". */
    json_object *email;
    if (!json_object_object_get_ex(body, "username", NULL) &&
        json_object_object_get_ex(body, "email", &email))
        json_object_object_add(body, "username", json_object_get(email));
    if (jv_check(body, login_fields, 2, 0, &clean, &errors) != 0)
        return send_invalid(r, errors);
    char state[6];
    const char *params[] = {field(clean, "username")};
    PGresult *res = db_exec("users_login_lookup", 1, params, state, &r->db_us);
    if (res == NULL) {
        json_object_put(clean);
        return resp_db_error(r, state);
    }
    int found = PQntuples(res) == 1;
    int ok = password_verify(field(clean, "password"), found ? PQgetvalue(res, 0, 1) : NULL);
    json_object_put(clean);
    if (!ok) {
        PQclear(res);
        return resp_error(r, 401, "invalid_credentials", "wrong username or password");
    }
    const char *uid = arena_strdup(r->a, PQgetvalue(res, 0, 0));
    PQclear(res);
    r->user_id = strtoll(uid, NULL, 10);
    char token[TOKEN_LEN + 1], th[TOKEN_HASH_LEN + 1];
    token_new(token);
    token_hash(token, th);
    const char *tparams[] = {th, uid};
    res = db_exec("tokens_create", 2, tparams, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    int rc = send_token(r, 200, token, PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int auth_logout(req *r)
{
    char state[6];
    const char *params[] = {r->token_hash};
    PGresult *res = db_exec("tokens_delete", 1, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    PQclear(res);
    authn_forget(r);
    return resp_empty(r, 204);
}

int auth_me(req *r)
{
    const char *params[] = {id_text(r, r->user_id)};
    return send_query(r, "users_me", 1, params, 200);
}
