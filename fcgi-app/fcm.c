/*
 * fcm.c - Android pushes through Firebase Cloud Messaging's HTTP v1 API
 * (push.h): POST /v1/projects/<project_id>/messages:send with an OAuth2
 * access token. The token comes from the service account in
 * FCM_CREDENTIALS_FILE (Google's JSON: client_email, private_key,
 * private_key_id, token_uri, project_id): an RS256 JWT assertion (iss the
 * client email, scope firebase.messaging, aud the token_uri, an hour's
 * validity) exchanged at token_uri; it is kept until a minute before it
 * expires, and fetched anew once when FCM answers 401.
 *
 * Settings: FCM_CREDENTIALS_FILE, FCM_URL (another host than
 * https://fcm.googleapis.com, for the tests' stand-in; the token endpoint
 * is the credentials' token_uri).
 */
#include "push.h"
#include "config.h"
#include "jwt.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_EARLY 60 /* seconds before its expiry an access token is renewed */

static struct {
    int on;
    EVP_PKEY *key;
    char *client_email, *key_id, *token_uri, *project_id;
    char send_url[512];
    char *access;
    time_t access_until;
    push_conn conn;
} fcm = {.conn = {.name = "fcm"}};

void fcm_shutdown(void)
{
    push_conn_close(&fcm.conn);
    EVP_PKEY_free(fcm.key);
    free(fcm.client_email);
    free(fcm.key_id);
    free(fcm.token_uri);
    free(fcm.project_id);
    free(fcm.access);
    memset(&fcm, 0, sizeof(fcm));
    fcm.conn.name = "fcm";
}

int fcm_on(void)
{
    return fcm.on;
}

/* A string member of the credentials, strdup'd, or NULL. */
static char *member(json_object *o, const char *name)
{
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    return *s && strpbrk(s, "\r\n") == NULL ? strdup(s) : NULL;
}

int fcm_setup(void)
{
    fcm_shutdown();
    const char *file = config_get("FCM_CREDENTIALS_FILE");
    if (file == NULL || *file == '\0') {
        log_line(LOG_INFO, "fcm", "FCM_CREDENTIALS_FILE is not set: no pushes to Android devices");
        return 0;
    }
    if (access(file, F_OK) != 0 && errno == ENOENT) { /* the cluster's optional Secret is absent */
        log_line(LOG_INFO, "fcm", "FCM_CREDENTIALS_FILE %s does not exist: no pushes to Android devices",
                 file);
        return 0;
    }
    json_object *cred = json_object_from_file(file), *pk;
    const char *pem = cred && json_object_object_get_ex(cred, "private_key", &pk) &&
                              json_object_is_type(pk, json_type_string)
                          ? json_object_get_string(pk)
                          : NULL;
    fcm.client_email = cred ? member(cred, "client_email") : NULL;
    fcm.key_id = cred ? member(cred, "private_key_id") : NULL;
    fcm.token_uri = cred ? member(cred, "token_uri") : NULL;
    fcm.project_id = cred ? member(cred, "project_id") : NULL;
    if (pem != NULL)
        fcm.key = jwt_key_from_pem(pem, "fcm");
    json_object_put(cred);
    if (fcm.key == NULL || EVP_PKEY_get_base_id(fcm.key) != EVP_PKEY_RSA || !fcm.client_email ||
        !fcm.key_id || !fcm.token_uri || !fcm.project_id ||
        strncmp(fcm.token_uri, "https://", 8) != 0 ||
        strspn(fcm.project_id, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(fcm.project_id)) {
        log_line(LOG_ERROR, "fcm", "FCM_CREDENTIALS_FILE %s is not a service account's JSON key "
                                   "(project_id, client_email, private_key, private_key_id, "
                                   "token_uri): no pushes to Android devices", file);
        fcm_shutdown();
        return 0;
    }
    const char *url = config_get("FCM_URL");
    snprintf(fcm.send_url, sizeof(fcm.send_url), "%s/v1/projects/%s/messages:send",
             url && *url ? url : "https://fcm.googleapis.com", fcm.project_id);
    fcm.on = 1;
    log_line(LOG_INFO, "fcm", "pushes to Android devices through %s", fcm.send_url);
    return 1;
}

/* A fresh access token from the token endpoint, or NULL with O's reason
 * and result set (PUSH_RETRY: the endpoint could not be reached or is
 * failing; PUSH_REJECTED: it refused the assertion). */
static const char *access_token(int fresh, push_outcome *o)
{
    time_t now = time(NULL);
    if (fcm.access != NULL && !fresh && now < fcm.access_until)
        return fcm.access;
    json_object *claims = json_object_new_object();
    json_object_object_add(claims, "iss", json_object_new_string(fcm.client_email));
    json_object_object_add(claims, "scope", json_object_new_string(FCM_SCOPE));
    json_object_object_add(claims, "aud", json_object_new_string(fcm.token_uri));
    json_object_object_add(claims, "iat", json_object_new_int64((int64_t)now));
    json_object_object_add(claims, "exp", json_object_new_int64((int64_t)now + 3600));
    char *jwt = jwt_sign(fcm.key, "RS256", fcm.key_id, claims);
    json_object_put(claims);
    if (jwt == NULL) {
        o->result = PUSH_REJECTED;
        snprintf(o->reason, sizeof(o->reason), "cannot sign the token assertion");
        return NULL;
    }
    static const char pre[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                              "&assertion=";
    size_t n = sizeof(pre) - 1 + strlen(jwt); /* a JWT is URL-safe as it is */
    char *form = malloc(n + 1);
    if (form != NULL)
        snprintf(form, n + 1, "%s%s", pre, jwt);
    free(jwt);
    struct curl_slist *h =
        curl_slist_append(NULL, "content-type: application/x-www-form-urlencoded");
    push_resp r = {0};
    int got = form && h ? push_post(&fcm.conn, fcm.token_uri, h, form, n, &r) : -1;
    curl_slist_free_all(h);
    free(form);
    int done;
    *o = push_common(&r, &done);
    json_object *j = r.body ? json_tokener_parse(r.body) : NULL, *tok = NULL, *exp = NULL, *e;
    const char *result = NULL;
    if (got == 0 && r.status == 200 && j && json_object_object_get_ex(j, "access_token", &tok) &&
        json_object_is_type(tok, json_type_string)) {
        json_object_object_get_ex(j, "expires_in", &exp);
        long life = exp ? (long)json_object_get_int64(exp) : 3600;
        free(fcm.access);
        fcm.access = strdup(json_object_get_string(tok));
        fcm.access_until = now + (life > 2L * FCM_EARLY ? life - FCM_EARLY : life / 2);
        result = fcm.access;
    } else if (done) { /* no answer, 429, 5xx: PUSH_RETRY */
        char why[sizeof(o->reason)];
        snprintf(why, sizeof(why), "%s", o->reason);
        snprintf(o->reason, sizeof(o->reason), "token endpoint: %.100s", why);
    } else {
        o->result = PUSH_REJECTED;
        snprintf(o->reason, sizeof(o->reason), "token endpoint: %s",
                 j && json_object_object_get_ex(j, "error", &e) ? json_object_get_string(e)
                                                                : "no access_token");
    }
    json_object_put(j);
    push_resp_free(&r);
    return result;
}

/* The message: what the phone shows, and the data the app opens it with
 * (FCM wants every data value a string). */
static char *message(const char *token, const push_msg *m)
{
    char num[32];
    json_object *msg = json_object_new_object(), *note = json_object_new_object(),
                *data = json_object_new_object(), *android = json_object_new_object(),
                *an = json_object_new_object();
    json_object_object_add(msg, "token", json_object_new_string(token));
    json_object_object_add(note, "title", json_object_new_string(m->title ? m->title : ""));
    json_object_object_add(note, "body", json_object_new_string(m->body ? m->body : ""));
    json_object_object_add(msg, "notification", note);
    snprintf(num, sizeof(num), "%lld", m->notification_id);
    json_object_object_add(data, "notification_id", json_object_new_string(num));
    json_object_object_add(data, "kind", json_object_new_string(m->kind ? m->kind : ""));
    if (m->residence_id > 0) {
        snprintf(num, sizeof(num), "%lld", m->residence_id);
        json_object_object_add(data, "residence_id", json_object_new_string(num));
    }
    if (m->task_id > 0) {
        snprintf(num, sizeof(num), "%lld", m->task_id);
        json_object_object_add(data, "task_id", json_object_new_string(num));
    }
    snprintf(num, sizeof(num), "%ld", m->badge);
    json_object_object_add(data, "badge", json_object_new_string(num));
    json_object_object_add(msg, "data", data);
    long long ttl = m->expires_at > 0 ? m->expires_at - (long long)time(NULL) : 0;
    snprintf(num, sizeof(num), "%llds", ttl > 0 ? ttl : 0LL);
    json_object_object_add(android, "ttl", json_object_new_string(num));
    json_object_object_add(android, "priority", json_object_new_string("HIGH"));
    if (m->collapse_id != NULL) {
        json_object_object_add(android, "collapse_key", json_object_new_string(m->collapse_id));
        json_object_object_add(an, "tag", json_object_new_string(m->collapse_id));
    }
    json_object_object_add(an, "notification_count", json_object_new_int64(m->badge));
    json_object_object_add(android, "notification", an);
    json_object_object_add(msg, "android", android);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", msg);
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

/* FCM's error: the FcmError errorCode when there is one, else the status
 * ("UNAUTHENTICATED"); whether a fieldViolation names message.token. */
static void fcm_error(const push_resp *r, push_outcome *o, int *bad_token)
{
    *bad_token = 0;
    json_object *j = r->body ? json_tokener_parse(r->body) : NULL, *err, *v, *details;
    const char *code = NULL;
    if (j && json_object_object_get_ex(j, "error", &err)) {
        if (json_object_object_get_ex(err, "status", &v))
            code = json_object_get_string(v);
        if (json_object_object_get_ex(err, "details", &details) &&
            json_object_is_type(details, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(details); i++) {
                json_object *d = json_object_array_get_idx(details, i), *fv;
                if (json_object_object_get_ex(d, "errorCode", &v))
                    code = json_object_get_string(v);
                if (json_object_object_get_ex(d, "fieldViolations", &fv) &&
                    json_object_is_type(fv, json_type_array))
                    for (size_t k = 0; k < json_object_array_length(fv); k++) {
                        json_object *f = json_object_array_get_idx(fv, k), *field;
                        if (json_object_object_get_ex(f, "field", &field) &&
                            strcmp(json_object_get_string(field), "message.token") == 0)
                            *bad_token = 1;
                    }
            }
        }
    }
    snprintf(o->reason, sizeof(o->reason), "%s", code ? code : "");
    if (o->reason[0] == '\0')
        snprintf(o->reason, sizeof(o->reason), "HTTP %ld", r->status);
    json_object_put(j);
}

static push_outcome attempt(const char *body, const char *access)
{
    char auth[4096];
    snprintf(auth, sizeof(auth), "authorization: Bearer %s", access);
    struct curl_slist *h = curl_slist_append(NULL, auth), *n;
    n = h ? curl_slist_append(h, "content-type: application/json; charset=UTF-8") : NULL;
    push_outcome o = {.result = PUSH_RETRY};
    if (n == NULL) {
        curl_slist_free_all(h);
        snprintf(o.reason, sizeof(o.reason), "no memory");
        return o;
    }
    push_resp r;
    push_post(&fcm.conn, fcm.send_url, n, body, strlen(body), &r);
    curl_slist_free_all(n);
    int done, bad_token = 0;
    o = push_common(&r, &done);
    if (r.status != 0 && r.status != 200)
        fcm_error(&r, &o, &bad_token);
    if (!done) {
        if (r.status == 200)
            o.result = PUSH_SENT;
        else if (strcmp(o.reason, "UNREGISTERED") == 0 ||
                 (strcmp(o.reason, "INVALID_ARGUMENT") == 0 && bad_token))
            o.result = PUSH_GONE;
        else
            o.result = PUSH_REJECTED; /* 401 is the caller's */
    }
    push_resp_free(&r);
    return o;
}

push_outcome fcm_send(const char *token, const push_msg *m)
{
    push_outcome o = {.result = PUSH_OFF};
    if (!fcm.on) {
        snprintf(o.reason, sizeof(o.reason), "FCM is not configured");
        return o;
    }
    const char *access = access_token(0, &o);
    if (access == NULL)
        return o;
    char *body = message(token, m);
    if (body == NULL) {
        o.result = PUSH_RETRY;
        snprintf(o.reason, sizeof(o.reason), "no memory");
        return o;
    }
    o = attempt(body, access);
    if (o.status == 401 && (access = access_token(1, &o)) != NULL)
        o = attempt(body, access); /* renewed once */
    free(body);
    return o;
}
