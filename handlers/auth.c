/*
 * auth.c - accounts: register, login (throttled), logout, "who am I",
 * profile changes, password change, password reset by emailed code, email
 * verification, and account deletion.
 *
 * Passwords are argon2id; a login for an unknown user spends the same time
 * verifying against a dummy hash, so timing does not reveal which accounts
 * exist. The token is returned once, to its owner, and stored only hashed.
 * One-time codes (6 digits) are emailed through the job queue and stored
 * only as a keyed hash bound to their purpose and user, with an expiry and
 * a count of wrong attempts (sql/auth.sql, user_verificationcode).
 * Guessing is slowed by Redis counters (throttle.h) per account and per
 * client address; they fail open when Redis is down.
 */
#include "handlers.h"
#include "authn.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "jsonv.h"
#include "keys.h"
#include "log.h"
#include "mail.h"
#include "queue.h"
#include "throttle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The password rule, the same wherever a password is chosen. */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 128

/* One-time codes: how long each lives, how soon one may be re-sent to the
 * same address, and how many wrong attempts kill one. */
#define RESET_CODE_TTL 900
#define VERIFY_CODE_TTL 86400
#define CODE_RESEND_GAP 60
#define CODE_MAX_ATTEMPTS 5

/* Throttling: failed logins (login_wait); reset requests per address and
 * per email; failed reset confirmations; wrong passwords and codes given by
 * a signed-in user; sign-ups per address (HONEYDUE_REGISTER_PER_HOUR),
 * verification codes mailed to one address, and address changes per user. */
#define WINDOW_15_MIN 900
#define WINDOW_HOUR 3600
#define REGISTER_PER_HOUR 10
#define CODE_MAILS_PER_ADDRESS 5
#define EMAIL_CHANGES_PER_USER 5
#define LOGIN_FAILS 10
#define LOGIN_FAILS_PER_IP 30
#define LOGIN_FAILS_PER_ACCOUNT 100
#define LOGIN_FAILS_UNDER_ATTACK 3
#define RESET_REQUESTS_PER_IP 10
#define RESET_REQUESTS_PER_EMAIL 5
#define RESET_REQUESTS_EMAIL_WINDOW 3600
#define RESET_FAILS 10
#define USER_FAILS 10

static const jv_field register_fields[] = {
    {"username", JV_STRING, JV_REQUIRED, 3, 150, NULL},
    {"email", JV_EMAIL, JV_REQUIRED, 0, 254, NULL},
    {"password", JV_STRING, JV_REQUIRED, PASSWORD_MIN, PASSWORD_MAX, NULL},
    {"first_name", JV_STRING, 0, 0, 150, NULL},
    {"last_name", JV_STRING, 0, 0, 150, NULL},
};

static const jv_field login_fields[] = {
    {"username", JV_STRING, JV_REQUIRED, 1, 254, NULL},
    {"password", JV_STRING, JV_REQUIRED, 1, PASSWORD_MAX, NULL},
};

static const jv_field profile_fields[] = {
    {"username", JV_STRING, 0, 3, 150, NULL},
    {"email", JV_EMAIL, 0, 0, 254, NULL},
    {"first_name", JV_STRING, 0, 0, 150, NULL},
    {"last_name", JV_STRING, 0, 0, 150, NULL},
    {"current_password", JV_STRING, 0, 1, PASSWORD_MAX, NULL}, /* to change the email */
};

static const jv_field password_change_fields[] = {
    {"current_password", JV_STRING, JV_REQUIRED, 1, PASSWORD_MAX, NULL},
    {"new_password", JV_STRING, JV_REQUIRED, PASSWORD_MIN, PASSWORD_MAX, NULL},
};

static const jv_field delete_fields[] = {
    {"password", JV_STRING, JV_REQUIRED, 1, PASSWORD_MAX, NULL},
};

static const jv_field reset_request_fields[] = {
    {"email", JV_EMAIL, JV_REQUIRED, 0, 254, NULL},
};

static const jv_field reset_confirm_fields[] = {
    {"email", JV_EMAIL, JV_REQUIRED, 0, 254, NULL},
    {"code", JV_STRING, JV_REQUIRED, CODE_LEN, CODE_LEN, NULL},
    {"new_password", JV_STRING, JV_REQUIRED, PASSWORD_MIN, PASSWORD_MAX, NULL},
};

static const jv_field verify_fields[] = {
    {"code", JV_STRING, JV_REQUIRED, CODE_LEN, CODE_LEN, NULL},
};

#define NF(spec) (sizeof(spec) / sizeof(spec[0]))

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
              strchr("_.+-", c) != NULL)) /* no @: a username is never an address */
            return 0;
    }
    return 1;
}

/* Send a 422 naming one field. */
static int invalid_field(req *r, const char *name, const char *message)
{
    json_object *errors = json_object_new_object();
    json_object_object_add(errors, name, json_object_new_string(message));
    return reply_invalid(r, errors);
}

/* Validate the body against SPEC[0..N) into *CLEAN; 0, or -1 after sending
 * the error. An empty body counts as {} (DELETE clients often send none). */
static int body_check(req *r, const jv_field *spec, size_t n, int partial, json_object **clean)
{
    json_object *body = NULL, *errors;
    if (r->content_length > 0 && req_json_body(r, &body) != 0)
        return -1;
    json_object *empty = body ? NULL : json_object_new_object();
    int bad = jv_check(body ? body : empty, spec, n, partial, clean, &errors);
    json_object_put(empty);
    if (bad) {
        reply_invalid(r, errors);
        return -1;
    }
    return 0;
}

/* A code must be CODE_LEN decimal digits. */
static int code_ok(const char *s)
{
    for (int i = 0; i < CODE_LEN; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return s[CODE_LEN] == '\0';
}

/* {"token": TOKEN, "user": USER_JSON} */
static int send_token(req *r, int status, const char *token, const char *user_json)
{
    const char *body = arena_sprintf(r->a, "{\"token\":\"%s\",\"user\":%s}", token, user_json);
    if (body == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    return resp_json(r, status, body);
}

/* 429 with Retry-After: SECONDS. */
static int send_invalid_code(req *r)
{
    json_object *fields = json_object_new_object();
    json_object_object_add(fields, "code", json_object_new_string("is invalid or has expired"));
    return resp_error_fields(r, 400, "invalid_code",
                             "the code is wrong, used up or expired; ask for a new one", fields);
}

/* The counter of wrong passwords and codes given by signed-in user r->user_id. */
static throttle_counter user_counter(req *r, const char *scope)
{
    throttle_counter c = {keys_throttle_user(r->a, scope, r->user_id), USER_FAILS, WINDOW_15_MIN};
    return c;
}

/* Drop the cached resolutions of the tokens in column COL of RES, whose
 * rows come from a LEFT JOIN: a single NULL row means there were none. */
static void forget_tokens(req *r, PGresult *res, int col)
{
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, col))
        authn_forget_hashes(r, res, col);
}

/* The counter of verification codes mailed to ADDRESS, whichever account
 * asked: no inbox gets more than CODE_MAILS_PER_ADDRESS an hour. */
static throttle_counter recipient_counter(req *r, const char *address)
{
    throttle_counter c = {throttle_account_key(r->a, "mail-to", address), CODE_MAILS_PER_ADDRESS,
                          WINDOW_HOUR};
    return c;
}

/* The counter of address changes by signed-in user r->user_id. */
static throttle_counter email_change_counter(req *r)
{
    throttle_counter c = {keys_throttle_user(r->a, "email-change", r->user_id),
                          EMAIL_CHANGES_PER_USER, WINDOW_HOUR};
    return c;
}

/* The keyed hash of CODE for PURPOSE and user UID, in OUT (65 bytes). */
static void code_digest(const char *purpose, const char *uid, const char *code, char *out)
{
    const char *parts[] = {"code", purpose, uid, code};
    crypto_mac(parts, 4, out);
}

enum { CODE_ISSUED, CODE_HELD, CODE_THROTTLED, CODE_NO_USER, CODE_VERIFIED, CODE_DB_ERROR };

/* Issue a fresh code of PURPOSE (valid TTL seconds) to active user UID and
 * enqueue job JOB to email it ({to, sealed_code, expires_at}, and "welcome": true
 * when WELCOME, the sign-up's; no name: the address may be nobody's yet who wrote
 * it, and a code mail carries no text a user wrote). Returns
 * CODE_ISSUED; CODE_HELD with *WAIT the seconds before another may go to
 * that address; CODE_THROTTLED with *WAIT when a verify_email code would
 * be one too many for its address this hour (recipient_counter: callers
 * that know the address check it first, so this is the resend's answer;
 * the code issued then is never sent); CODE_NO_USER (unknown or inactive);
 * CODE_VERIFIED (a verify_email code for an address already verified); or
 * CODE_DB_ERROR with the SQLSTATE in STATE. The code itself lives only in
 * this frame and the job. */
static int issue_code(req *r, const char *uid, const char *purpose, int ttl, const char *job,
                      int welcome, int *wait, char state[6])
{
    char code[CODE_LEN + 1], digest[TOKEN_HASH_LEN + 1];
    crypto_code_new(code);
    code_digest(purpose, uid, code, digest);
    const char *params[] = {uid, purpose, digest, param_id(r, ttl), param_id(r, CODE_RESEND_GAP)};
    PGresult *res = db_exec("codes_issue", 5, params, state, &r->db_us);
    int rc;
    if (res == NULL) {
        rc = CODE_DB_ERROR;
    } else if (PQntuples(res) != 1) {
        rc = CODE_NO_USER;
    } else if (PQgetisnull(res, 0, 2)) {
        *wait = atoi(PQgetvalue(res, 0, 3));
        rc = PQgetvalue(res, 0, 4)[0] == 't' && strcmp(purpose, "verify_email") == 0 ? CODE_VERIFIED
                                                                                     : CODE_HELD;
    } else {
        throttle_counter to = recipient_counter(r, PQgetvalue(res, 0, 0));
        *wait = strcmp(purpose, "verify_email") == 0 ? throttle_hit(&to, 1, &r->cache_us) : 0;
        rc = *wait > 0 ? CODE_THROTTLED : CODE_ISSUED;
    }
    /* The code travels sealed for this job and address (crypto_seal): it
     * must not sit in Redis, the dead list or the outbox in clear. */
    const char *ctx[] = {job, rc == CODE_ISSUED ? PQgetvalue(res, 0, 0) : ""};
    char sealed[CRYPTO_SEALED_MAX];
    if (rc == CODE_ISSUED && crypto_seal(ctx, 2, code, sealed, sizeof(sealed)) != 0) {
        rc = CODE_DB_ERROR; /* cannot happen: crypto_setup ran at start */
        memcpy(state, "XX000", 6);
    }
    if (rc == CODE_ISSUED) {
        json_object *payload = json_object_new_object();
        json_object_object_add(payload, "to", json_object_new_string(PQgetvalue(res, 0, 0)));
        json_object_object_add(payload, "sealed_code", json_object_new_string(sealed));
        if (welcome)
            json_object_object_add(payload, "welcome", json_object_new_boolean(1));
        json_object_object_add(payload, "expires_at",
                               json_object_new_string(PQgetvalue(res, 0, 2)));
        if (queue_enqueue(job, payload, NULL, 0, 0, &r->cache_us) < 0)
            log_line(LOG_ERROR, "auth", "the %s email for user %s could not be queued", job, uid);
    }
    PQclear(res);
    sodium_memzero(code, sizeof(code));
    return rc;
}

/* The 409 of a username or email another account already uses. */
static int send_taken(req *r, int user_taken, int email_taken)
{
    json_object *errors = json_object_new_object();
    if (user_taken)
        json_object_object_add(errors, "username", json_object_new_string("is already taken"));
    if (email_taken)
        json_object_object_add(errors, "email", json_object_new_string("is already registered"));
    return resp_error_fields(r, 409, "conflict", "an account with these details exists", errors);
}

int auth_register(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, register_fields, NF(register_fields), 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    const char *username = field(clean, "username"), *email = field(clean, "email");
    if (!username_ok(username)) {
        json_object_put(clean);
        return invalid_field(r, "username", "may contain only letters, digits and _.+-");
    }
    /* Every sign-up attempt counts against its address, a refused one too;
     * none goes on when its address has had all its codes this hour. */
    throttle_counter signup = {throttle_ip_key(r->a, "register", r->remote_addr),
                               (int)config_int("HONEYDUE_REGISTER_PER_HOUR", REGISTER_PER_HOUR),
                               WINDOW_HOUR};
    throttle_counter to = recipient_counter(r, email);
    int wait = throttle_hit(&signup, 1, &r->cache_us);
    if (wait == 0)
        wait = throttle_wait(&to, 1, &r->cache_us);
    if (wait > 0) {
        json_object_put(clean);
        return reply_throttled(r, wait);
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
        return send_taken(r, user_taken, email_taken);
    }
    char hash[PASSWORD_HASH_MAX], token[TOKEN_LEN + 1], th[TOKEN_HASH_LEN + 1];
    if (crypto_password_hash(field(clean, "password"), hash) != 0) {
        json_object_put(clean);
        return resp_error(r, 503, "service_unavailable", "cannot hash the password now");
    }
    crypto_token_new(token, sizeof(token)); /* sized by TOKEN_LEN: cannot fail */
    crypto_token_hash(token, th);
    const char *first = field(clean, "first_name");
    const char *params[] = {username, email, hash, first, field(clean, "last_name"), th};
    res = db_exec("users_create", 6, params, state, &r->db_us);
    if (res == NULL) {
        json_object_put(clean);
        return resp_db_error(r, state);
    }
    const char *uid = arena_strdup(r->a, PQgetvalue(res, 0, 1));
    r->user_id = strtoll(uid, NULL, 10);

    /* A side effect the user does not wait for: one mail, that welcomes
     * and carries the code that verifies the address (nothing else goes to
     * an address nobody proved). Failing it does not fail the sign-up. */
    json_object_put(clean);
    if (issue_code(r, uid, "verify_email", VERIFY_CODE_TTL, "email.verify", 1, &wait, state) ==
        CODE_DB_ERROR)
        log_line(LOG_ERROR, "auth", "no verification code for new user %s (%s)", uid, state);

    int rc = send_token(r, 201, token, PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* Seconds a login must wait, from its counters C: [0] the account as
 * tried from this address, [1] the address, [2] the account from
 * everywhere. An address is refused after LOGIN_FAILS failures on one
 * account or LOGIN_FAILS_PER_IP on any; an account is never locked for
 * everyone (a stranger could keep its owner out), but past
 * LOGIN_FAILS_PER_ACCOUNT failures from everywhere each address may fail on
 * it only LOGIN_FAILS_UNDER_ATTACK times, which slows guessing spread over
 * many addresses while an address that has not failed (the owner's) still
 * gets in. */
static int login_wait(req *r, const throttle_counter *c)
{
    const char *keys[] = {c[0].key, c[1].key, c[2].key};
    int count[3], ttl[3], wait = 0;
    if (throttle_peek(keys, 3, count, ttl, &r->cache_us) != 0)
        return 0;
    if (count[0] >= LOGIN_FAILS)
        wait = ttl[0];
    if (count[1] >= LOGIN_FAILS_PER_IP && ttl[1] > wait)
        wait = ttl[1];
    if (count[2] >= LOGIN_FAILS_PER_ACCOUNT && count[0] >= LOGIN_FAILS_UNDER_ATTACK) {
        int until = ttl[0] < ttl[2] ? ttl[0] : ttl[2]; /* whichever ends first lifts it */
        if (until > wait)
            wait = until;
    }
    return wait;
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
    if (jv_check(body, login_fields, NF(login_fields), 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    const char *ident = field(clean, "username");
    throttle_counter counters[] = {
        {throttle_account_ip_key(r->a, "login", ident, r->remote_addr), LOGIN_FAILS, WINDOW_15_MIN},
        {throttle_ip_key(r->a, "login", r->remote_addr), LOGIN_FAILS_PER_IP, WINDOW_15_MIN},
        {throttle_account_key(r->a, "login", ident), LOGIN_FAILS_PER_ACCOUNT, WINDOW_15_MIN},
    };
    /* A locked-out address is refused before the password is even looked
     * at: during a lockout the right password proves nothing. */
    int wait = login_wait(r, counters);
    if (wait > 0) {
        json_object_put(clean);
        return reply_throttled(r, wait);
    }
    char state[6];
    const char *params[] = {ident};
    PGresult *res = db_exec("users_login_lookup", 1, params, state, &r->db_us);
    if (res == NULL) {
        json_object_put(clean);
        return resp_db_error(r, state);
    }
    int found = PQntuples(res) == 1;
    int ok = crypto_password_verify(field(clean, "password"), found ? PQgetvalue(res, 0, 1) : NULL);
    json_object_put(clean);
    if (!ok) {
        PQclear(res);
        throttle_hit(counters, 3, &r->cache_us);
        return resp_error(r, 401, "invalid_credentials", "wrong username or password");
    }
    /* The owner's own mistakes from here are forgiven; the account's count
     * from everywhere is not (the owner logging in must not reopen it to a
     * distributed guesser). */
    throttle_clear(counters[0].key, &r->cache_us);
    const char *uid = arena_strdup(r->a, PQgetvalue(res, 0, 0));
    PQclear(res);
    r->user_id = strtoll(uid, NULL, 10);
    char token[TOKEN_LEN + 1], th[TOKEN_HASH_LEN + 1];
    crypto_token_new(token, sizeof(token)); /* sized by TOKEN_LEN: cannot fail */
    crypto_token_hash(token, th);
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
    const char *params[] = {param_id(r, r->user_id)};
    return reply_query(r, "users_me", 1, params, 200);
}

static int check_own_password(req *r, const char *password, const char *field_name,
                              throttle_counter *counter);

/* Before a PATCH of the profile sets EMAIL: unless it is the user's address
 * already (in any case), the change needs the current password from CLEAN,
 * checked on the counter of wrong passwords the password change uses, and
 * must be within the user's changes and the new address's codes this hour.
 * Returns 0 to go on, or -1 after sending the refusal. */
static int email_change_allowed(req *r, json_object *clean, const char *email)
{
    char state[6];
    const char *params[] = {param_id(r, r->user_id), email};
    PGresult *res = db_exec("users_email_is", 2, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        return -1;
    }
    int same = PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] == 't'; /* none: users_update_me's 404 */
    PQclear(res);
    if (same)
        return 0;
    const char *password = field(clean, "current_password");
    if (password == NULL) {
        invalid_field(r, "current_password", "is required to change the email address");
        return -1;
    }
    throttle_counter limits[] = {email_change_counter(r), recipient_counter(r, email)};
    int wait = throttle_wait(limits, 2, &r->cache_us);
    if (wait > 0) {
        reply_throttled(r, wait);
        return -1;
    }
    throttle_counter counter = user_counter(r, "password");
    return check_own_password(r, password, "current_password", &counter);
}

/* Tell OLD, the address user UID had until now, that it was replaced by
 * NEW (masked), so an owner who did not do it learns of it. */
static void send_email_changed(req *r, const char *uid, const char *old, const char *new_email)
{
    char masked[128], when[32];
    mail_mask_address(new_email, masked, sizeof(masked));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    json_object *p = json_object_new_object();
    json_object_object_add(p, "to", json_object_new_string(old));
    json_object_object_add(p, "new_address", json_object_new_string(masked));
    json_object_object_add(p, "changed_at", json_object_new_string(when));
    if (queue_enqueue("email.address_changed", p, NULL, 0, 0, &r->cache_us) < 0)
        log_line(LOG_ERROR, "auth", "the address-change notice for user %s could not be queued", uid);
}

int auth_me_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, profile_fields, NF(profile_fields), 1, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    const char *username = field(clean, "username");
    if (username != NULL && !username_ok(username)) {
        json_object_put(clean);
        return invalid_field(r, "username", "may contain only letters, digits and _.+-");
    }
    const char *email = field(clean, "email");
    if (email != NULL) {
        email = arena_strdup(r->a, email); /* outlives CLEAN */
        if (email == NULL)
            resp_error(r, 503, "service_unavailable", "out of memory");
        if (email == NULL || email_change_allowed(r, clean, email) != 0) {
            json_object_put(clean);
            return r->status;
        }
    }
    json_object_object_del(clean, "current_password"); /* not a column */
    char state[6];
    const char *uid = param_id(r, r->user_id);
    const char *params[] = {uid, json_object_to_json_string(clean)};
    PGresult *res = db_exec("users_update_me", 2, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    int user_taken = PQgetvalue(res, 0, 1)[0] == 't', email_taken = PQgetvalue(res, 0, 2)[0] == 't';
    if (user_taken || email_taken) {
        PQclear(res);
        return send_taken(r, user_taken, email_taken);
    }
    if (PQgetvalue(res, 0, 3)[0] == 't') {
        /* The old address hears of it, if it was ever proved: nothing but
         * the verification mail goes to an unverified address. The right
         * password forgives the wrong ones, as for a password change. */
        throttle_clear(user_counter(r, "password").key, &r->cache_us);
        throttle_counter changes = email_change_counter(r);
        throttle_hit(&changes, 1, &r->cache_us);
        if (PQgetvalue(res, 0, 5)[0] == 't')
            send_email_changed(r, uid, PQgetvalue(res, 0, 4), email);
        /* A new address is unverified until its owner types the code sent to it. */
        int wait;
        if (issue_code(r, uid, "verify_email", VERIFY_CODE_TTL, "email.verify", 0, &wait, state) ==
            CODE_DB_ERROR)
            log_line(LOG_ERROR, "auth", "no verification code for user %s (%s)", uid, state);
    }
    return reply_row(r, res, 0, 200);
}

/* Check PASSWORD against signed-in user r->user_id's, counting a wrong one
 * on COUNTER. Returns 0 when it matches; otherwise -1 after sending 422
 * naming FIELD ("is incorrect"), 429, 401 or the database error. */
static int check_own_password(req *r, const char *password, const char *field_name,
                              throttle_counter *counter)
{
    int wait = throttle_wait(counter, 1, &r->cache_us);
    if (wait > 0) {
        reply_throttled(r, wait);
        return -1;
    }
    char state[6];
    const char *params[] = {param_id(r, r->user_id)};
    PGresult *res = db_exec("users_password", 1, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        return -1;
    }
    if (PQntuples(res) != 1) { /* deactivated while its token was cached */
        PQclear(res);
        resp_header(r, "WWW-Authenticate", "Token");
        resp_error(r, 401, "not_authenticated", "invalid token");
        return -1;
    }
    int ok = crypto_password_verify(password, PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!ok) {
        throttle_hit(counter, 1, &r->cache_us);
        invalid_field(r, field_name, "is incorrect");
        return -1;
    }
    return 0;
}

int auth_password_change(req *r)
{
    json_object *clean;
    if (body_check(r, password_change_fields, NF(password_change_fields), 0, &clean) != 0)
        return r->status;
    const char *current = field(clean, "current_password"), *next = field(clean, "new_password");
    throttle_counter counter = user_counter(r, "password");
    char hash[PASSWORD_HASH_MAX];
    if (check_own_password(r, current, "current_password", &counter) != 0)
        goto done;
    if (strcmp(current, next) == 0) {
        invalid_field(r, "new_password", "must differ from the current password");
        goto done;
    }
    if (crypto_password_hash(next, hash) != 0) {
        resp_error(r, 503, "service_unavailable", "cannot hash the password now");
        goto done;
    }
    char state[6];
    const char *params[] = {param_id(r, r->user_id), hash, r->token_hash};
    PGresult *res = db_exec("password_change", 3, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        goto done;
    }
    authn_forget_hashes(r, res, 0); /* every other session ends now, cached or not */
    PQclear(res);
    throttle_clear(counter.key, &r->cache_us);
    resp_empty(r, 204);
done:
    json_object_put(clean);
    return r->status;
}

int auth_me_delete(req *r)
{
    json_object *clean;
    if (body_check(r, delete_fields, NF(delete_fields), 0, &clean) != 0)
        return r->status;
    throttle_counter counter = user_counter(r, "password");
    int bad = check_own_password(r, field(clean, "password"), "password", &counter);
    json_object_put(clean);
    if (bad)
        return r->status;
    char state[6];
    const char *params[] = {param_id(r, r->user_id)};
    PGresult *res = db_exec("users_delete", 1, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return resp_not_found(r);
    }
    forget_tokens(r, res, 0);
    /* Residences changed owner or vanished: every member's lists change. */
    invalidate_members(r, PQgetvalue(res, 0, 1));
    PQclear(res);
    documents_sweep(r); /* the files of the residences deleted with the account */
    throttle_clear(counter.key, &r->cache_us);
    return resp_empty(r, 204);
}

int auth_password_reset(req *r)
{
    json_object *clean;
    if (body_check(r, reset_request_fields, NF(reset_request_fields), 0, &clean) != 0)
        return r->status;
    const char *email = field(clean, "email");
    throttle_counter counters[] = {
        {throttle_ip_key(r->a, "reset-request", r->remote_addr), RESET_REQUESTS_PER_IP,
         WINDOW_15_MIN},
        {throttle_account_key(r->a, "reset-request", email), RESET_REQUESTS_PER_EMAIL,
         RESET_REQUESTS_EMAIL_WINDOW},
    };
    /* Every request counts, known address or not, so the answer is the same. */
    int wait = throttle_hit(counters, 2, &r->cache_us);
    if (wait > 0) {
        json_object_put(clean);
        return reply_throttled(r, wait);
    }
    char state[6];
    const char *params[] = {email};
    PGresult *res = db_exec("users_by_email", 1, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) == 1) {
        const char *uid = arena_strdup(r->a, PQgetvalue(res, 0, 0));
        int held;
        if (issue_code(r, uid, "password_reset", RESET_CODE_TTL, "email.password_reset", 0, &held,
                       state) == CODE_DB_ERROR) {
            PQclear(res);
            return resp_db_error(r, state);
        }
    }
    PQclear(res);
    return resp_json(
        r, 202, "{\"detail\":\"if an account uses this address, a code has been sent to it\"}");
}

int auth_password_reset_confirm(req *r)
{
    json_object *clean;
    if (body_check(r, reset_confirm_fields, NF(reset_confirm_fields), 0, &clean) != 0)
        return r->status;
    const char *email = field(clean, "email"), *code = field(clean, "code");
    if (!code_ok(code)) {
        json_object_put(clean);
        return invalid_field(r, "code", "must be 6 digits");
    }
    throttle_counter counters[] = {
        {throttle_ip_key(r->a, "reset", r->remote_addr), RESET_FAILS, WINDOW_15_MIN},
        {throttle_account_key(r->a, "reset", email), RESET_FAILS, WINDOW_15_MIN},
    };
    int wait = throttle_wait(counters, 2, &r->cache_us);
    if (wait > 0) {
        reply_throttled(r, wait);
        goto done;
    }
    char state[6], digest[TOKEN_HASH_LEN + 1];
    const char *uparams[] = {email};
    PGresult *res = db_exec("users_by_email", 1, uparams, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        goto done;
    }
    const char *uid = PQntuples(res) == 1 ? arena_strdup(r->a, PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    int matched = 0;
    if (uid != NULL) {
        code_digest("password_reset", uid, code, digest);
        const char *cparams[] = {uid, "password_reset", digest, param_id(r, CODE_MAX_ATTEMPTS)};
        res = db_exec("codes_check", 4, cparams, state, &r->db_us);
        if (res == NULL) {
            resp_db_error(r, state);
            goto done;
        }
        matched = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
    }
    if (!matched) {
        throttle_hit(counters, 2, &r->cache_us);
        send_invalid_code(r);
        goto done;
    }
    char hash[PASSWORD_HASH_MAX], token[TOKEN_LEN + 1], th[TOKEN_HASH_LEN + 1];
    if (crypto_password_hash(field(clean, "new_password"), hash) != 0) {
        resp_error(r, 503, "service_unavailable", "cannot hash the password now");
        goto done;
    }
    crypto_token_new(token, sizeof(token)); /* sized by TOKEN_LEN: cannot fail */
    crypto_token_hash(token, th);
    const char *aparams[] = {uid, digest, hash, th, param_id(r, CODE_MAX_ATTEMPTS)};
    res = db_exec("password_reset_apply", 5, aparams, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        goto done;
    }
    if (PQntuples(res) == 0) { /* a concurrent confirmation used the code first */
        PQclear(res);
        send_invalid_code(r);
        goto done;
    }
    forget_tokens(r, res, 1); /* every session ends, cached or not */
    throttle_clear(counters[1].key, &r->cache_us);
    r->user_id = strtoll(uid, NULL, 10);
    send_token(r, 200, token, PQgetvalue(res, 0, 0));
    PQclear(res);
done:
    json_object_put(clean);
    return r->status;
}

int auth_verify_email_send(req *r)
{
    char state[6];
    int wait = 0;
    switch (issue_code(r, param_id(r, r->user_id), "verify_email", VERIFY_CODE_TTL, "email.verify",
                       0, &wait, state)) {
    case CODE_ISSUED:
        return resp_json(r, 202, "{\"detail\":\"a verification code has been sent\"}");
    case CODE_HELD:
    case CODE_THROTTLED:
        return reply_throttled(r, wait > 0 ? wait : 1);
    case CODE_VERIFIED:
        return resp_error(r, 409, "conflict", "the email address is already verified");
    case CODE_NO_USER:
        resp_header(r, "WWW-Authenticate", "Token");
        return resp_error(r, 401, "not_authenticated", "invalid token");
    default:
        return resp_db_error(r, state);
    }
}

int auth_verify_email(req *r)
{
    json_object *clean;
    if (body_check(r, verify_fields, NF(verify_fields), 0, &clean) != 0)
        return r->status;
    const char *code = field(clean, "code");
    if (!code_ok(code)) {
        json_object_put(clean);
        return invalid_field(r, "code", "must be 6 digits");
    }
    throttle_counter counter = user_counter(r, "verify");
    int wait = throttle_wait(&counter, 1, &r->cache_us);
    if (wait > 0) {
        json_object_put(clean);
        return reply_throttled(r, wait);
    }
    char state[6], digest[TOKEN_HASH_LEN + 1];
    code_digest("verify_email", param_id(r, r->user_id), code, digest);
    json_object_put(clean);
    const char *params[] = {param_id(r, r->user_id), digest, param_id(r, CODE_MAX_ATTEMPTS)};
    PGresult *res = db_exec("verify_email_confirm", 3, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        PQclear(res);
        throttle_hit(&counter, 1, &r->cache_us);
        return send_invalid_code(r);
    }
    throttle_clear(counter.key, &r->cache_us);
    return reply_row(r, res, 1, 200);
}
