/*
 * apns.c - iOS pushes through Apple's APNs (push.h): POST
 * /3/device/<token> over HTTP/2 with token-based authentication, an ES256
 * JWT (kid: APNS_KEY_ID, iss: APNS_TEAM_ID, iat) signed with the .p8 key
 * in APNS_KEY_FILE. Apple wants the token reused, refreshed no more often
 * than every 20 minutes and never older than an hour: it is kept for 50
 * minutes, and made anew once when APNs answers ExpiredProviderToken.
 *
 * Settings: APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC (the
 * app's bundle id), APNS_ENV (production or sandbox: which of Apple's
 * hosts), APNS_URL (another host, for the tests' stand-in).
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

#define APNS_TOKEN_LIFE 3000 /* seconds a provider token is reused */

static struct {
    int on;
    EVP_PKEY *key;
    char key_id[64], team_id[64], topic[256], url[256];
    char *jwt;
    time_t jwt_at;
    push_conn conn;
} apns = {.conn = {.name = "apns"}};

void apns_shutdown(void)
{
    push_conn_close(&apns.conn);
    EVP_PKEY_free(apns.key);
    free(apns.jwt);
    memset(&apns, 0, sizeof(apns));
    apns.conn.name = "apns";
}

int apns_on(void)
{
    return apns.on;
}

static int copy(char *dst, size_t cap, const char *key)
{
    const char *v = config_get(key);
    if (v == NULL || *v == '\0' || strlen(v) >= cap || strpbrk(v, "\r\n") != NULL)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int apns_setup(void)
{
    apns_shutdown();
    const char *file = config_get("APNS_KEY_FILE");
    if (file == NULL || *file == '\0') {
        log_line(LOG_INFO, "apns", "APNS_KEY_FILE is not set: no pushes to iOS devices");
        return 0;
    }
    if (access(file, F_OK) != 0 && errno == ENOENT) { /* the cluster's optional Secret is absent */
        log_line(LOG_INFO, "apns", "APNS_KEY_FILE %s does not exist: no pushes to iOS devices", file);
        return 0;
    }
    const char *env = config_get("APNS_ENV");
    const char *host = env && strcmp(env, "sandbox") == 0 ? "https://api.sandbox.push.apple.com"
                                                           : "https://api.push.apple.com";
    if (env != NULL && *env != '\0' && strcmp(env, "sandbox") != 0 &&
        strcmp(env, "production") != 0) {
        log_line(LOG_ERROR, "apns", "APNS_ENV must be production or sandbox: no pushes to iOS devices");
        return 0;
    }
    const char *url = config_get("APNS_URL");
    if (copy(apns.key_id, sizeof(apns.key_id), "APNS_KEY_ID") != 0 ||
        copy(apns.team_id, sizeof(apns.team_id), "APNS_TEAM_ID") != 0 ||
        copy(apns.topic, sizeof(apns.topic), "APNS_TOPIC") != 0) {
        log_line(LOG_ERROR, "apns", "APNS_KEY_FILE is set but APNS_KEY_ID, APNS_TEAM_ID or "
                                    "APNS_TOPIC is missing: no pushes to iOS devices");
        return 0;
    }
    snprintf(apns.url, sizeof(apns.url), "%s", url && *url ? url : host);
    apns.key = jwt_key_from_file(file, "apns");
    if (apns.key == NULL || EVP_PKEY_get_base_id(apns.key) != EVP_PKEY_EC) {
        log_line(LOG_ERROR, "apns", "APNS_KEY_FILE must hold the .p8 (EC P-256) key: "
                                    "no pushes to iOS devices");
        EVP_PKEY_free(apns.key);
        apns.key = NULL;
        return 0;
    }
    apns.on = 1;
    log_line(LOG_INFO, "apns", "pushes to iOS devices through %s (topic %s)", apns.url, apns.topic);
    return 1;
}

/* The provider token, made anew when older than APNS_TOKEN_LIFE or FRESH. */
static const char *provider_token(int fresh)
{
    time_t now = time(NULL);
    if (apns.jwt != NULL && !fresh && now - apns.jwt_at < APNS_TOKEN_LIFE)
        return apns.jwt;
    json_object *claims = json_object_new_object();
    json_object_object_add(claims, "iss", json_object_new_string(apns.team_id));
    json_object_object_add(claims, "iat", json_object_new_int64((int64_t)now));
    char *jwt = jwt_sign(apns.key, "ES256", apns.key_id, claims);
    json_object_put(claims);
    if (jwt == NULL)
        return NULL;
    free(apns.jwt);
    apns.jwt = jwt;
    apns.jwt_at = now;
    return jwt;
}

/* The payload: Apple's aps dictionary, and what the app needs to open it. */
static char *payload(const push_msg *m)
{
    json_object *o = json_object_new_object(), *aps = json_object_new_object(),
                *alert = json_object_new_object();
    json_object_object_add(alert, "title", json_object_new_string(m->title ? m->title : ""));
    json_object_object_add(alert, "body", json_object_new_string(m->body ? m->body : ""));
    json_object_object_add(aps, "alert", alert);
    json_object_object_add(aps, "badge", json_object_new_int64(m->badge));
    json_object_object_add(aps, "sound", json_object_new_string("default"));
    if (m->residence_id > 0) {
        char thread[40];
        snprintf(thread, sizeof(thread), "residence-%lld", m->residence_id);
        json_object_object_add(aps, "thread-id", json_object_new_string(thread));
    }
    json_object_object_add(o, "aps", aps);
    json_object_object_add(o, "notification_id", json_object_new_int64(m->notification_id));
    json_object_object_add(o, "kind", json_object_new_string(m->kind ? m->kind : ""));
    if (m->residence_id > 0)
        json_object_object_add(o, "residence_id", json_object_new_int64(m->residence_id));
    if (m->task_id > 0)
        json_object_object_add(o, "task_id", json_object_new_int64(m->task_id));
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

/* H with "NAME: VALUE" appended (the line sized to fit: the provider
 * token is long); NULL, with H freed, when there is no memory. */
static struct curl_slist *add(struct curl_slist *h, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 3;
    char *line = malloc(len);
    struct curl_slist *n = NULL;
    if (line != NULL) {
        snprintf(line, len, "%s: %s", name, value);
        n = curl_slist_append(h, line); /* copies it */
        free(line);
    }
    if (n == NULL)
        curl_slist_free_all(h);
    return n;
}

/* Apple's reason ({"reason": "..."}) into O. */
static void reason(const push_resp *r, push_outcome *o)
{
    json_object *j = r->body ? json_tokener_parse(r->body) : NULL, *v;
    if (j != NULL && json_object_object_get_ex(j, "reason", &v))
        snprintf(o->reason, sizeof(o->reason), "%s", json_object_get_string(v));
    else if (o->reason[0] == '\0')
        snprintf(o->reason, sizeof(o->reason), "HTTP %ld", r->status);
    json_object_put(j);
}

/* One attempt with the given provider token. */
static push_outcome attempt(const char *token, const push_msg *m, const char *body,
                            const char *jwt)
{
    push_outcome o = {.result = PUSH_RETRY};
    char url[512], auth[2048], num[32], exp[32];
    snprintf(url, sizeof(url), "%s/3/device/%s", apns.url, token);
    snprintf(auth, sizeof(auth), "bearer %s", jwt);
    snprintf(num, sizeof(num), "%d", 10);
    snprintf(exp, sizeof(exp), "%lld", m->expires_at > 0 ? m->expires_at : 0LL);
    struct curl_slist *h = add(NULL, "authorization", auth);
    h = h ? add(h, "apns-topic", apns.topic) : NULL;
    h = h ? add(h, "apns-push-type", "alert") : NULL;
    h = h ? add(h, "apns-priority", num) : NULL;
    h = h ? add(h, "apns-expiration", exp) : NULL;
    if (h != NULL && m->collapse_id != NULL && strpbrk(m->collapse_id, "\r\n") == NULL)
        h = add(h, "apns-collapse-id", m->collapse_id);
    h = h ? add(h, "content-type", "application/json") : NULL;
    if (h == NULL) {
        snprintf(o.reason, sizeof(o.reason), "no memory");
        return o;
    }
    push_resp r;
    push_post(&apns.conn, url, h, body, strlen(body), &r);
    curl_slist_free_all(h);
    int done;
    o = push_common(&r, &done);
    if (r.status != 0)
        reason(&r, &o);
    if (!done) {
        if (r.status == 200)
            o.result = PUSH_SENT;
        else if (r.status == 410 || strcmp(o.reason, "BadDeviceToken") == 0 ||
                 strcmp(o.reason, "Unregistered") == 0)
            o.result = PUSH_GONE;
        else
            o.result = PUSH_REJECTED; /* ExpiredProviderToken is the caller's */
    }
    push_resp_free(&r);
    return o;
}

push_outcome apns_send(const char *token, const push_msg *m)
{
    push_outcome o = {.result = PUSH_OFF};
    if (!apns.on) {
        snprintf(o.reason, sizeof(o.reason), "APNs is not configured");
        return o;
    }
    o.result = PUSH_RETRY;
    char *body = payload(m);
    const char *jwt = provider_token(0);
    if (body == NULL || jwt == NULL) {
        snprintf(o.reason, sizeof(o.reason), "%s", body ? "cannot sign the provider token" : "no memory");
        free(body);
        return o;
    }
    o = attempt(token, m, body, jwt);
    if (o.status == 403 && strcmp(o.reason, "ExpiredProviderToken") == 0 &&
        (jwt = provider_token(1)) != NULL)
        o = attempt(token, m, body, jwt); /* renewed once */
    free(body);
    return o;
}
