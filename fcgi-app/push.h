/*
 * push.h - the two push providers' clients, for honeydue-worker's
 * push.send (jobs/push.c): iOS devices through APNs (apns.c: HTTP/2,
 * token-based auth with an ES256 JWT from the .p8 key), Android devices
 * through FCM HTTP v1 (fcm.c: an OAuth2 access token obtained with an
 * RS256 assertion signed by the service account's key). What both share is
 * here (push.c): one kept-open libcurl handle per provider, HTTP/2 over TLS
 * (ALPN), PUSH_TIMEOUT_SECONDS, PUSH_CA_FILE, and what an answer means.
 *
 * A provider whose settings are absent is off: said once in the log when
 * the worker starts, and its devices are left alone (PUSH_OFF). Keys and
 * tokens are never logged. Not thread-safe; the caller ignores SIGPIPE.
 */
#ifndef HD_PUSH_H
#define HD_PUSH_H

#include <curl/curl.h>
#include <stddef.h>

/* One notification as a phone shows it. */
typedef struct {
    long long notification_id;
    const char *kind;
    long long residence_id, task_id; /* 0: none */
    const char *title, *body;
    long badge;              /* the user's unread count */
    const char *collapse_id; /* a newer push with the same id replaces the older; NULL: none */
    long long expires_at;    /* Unix seconds after which it is not worth showing */
} push_msg;

/* What one send came to, for that one device. */
typedef enum {
    PUSH_SENT = 0,
    PUSH_GONE = 1,     /* the token is dead (uninstalled, unregistered): delete the device */
    PUSH_RETRY = 2,    /* 429, 5xx, no connection, a timeout: try again later */
    PUSH_REJECTED = 3, /* this message will never be accepted: give up on it */
    PUSH_OFF = 4,      /* the provider is not configured */
} push_result;

typedef struct {
    push_result result;
    long status;         /* HTTP status; 0 when there was no answer */
    long retry_after;    /* seconds the provider asked to wait (Retry-After), 0 if none */
    char reason[128];    /* APNs' reason, FCM's errorCode or status, or libcurl's error */
} push_outcome;

/* Read the providers' settings (config_load first). Logs once what is on
 * and what is off. Returns how many providers are on. */
int push_setup(void);
void push_shutdown(void);

int apns_on(void);
int fcm_on(void);

/* Send M to the device with TOKEN. An expired provider token (APNs'
 * ExpiredProviderToken, FCM's 401) is renewed once and the send retried. */
push_outcome apns_send(const char *token, const push_msg *m);
push_outcome fcm_send(const char *token, const push_msg *m);

/* ---- shared by apns.c and fcm.c (push.c) ---- */

/* Each provider's own setup and release (push_setup calls them): 1 on,
 * 0 off. */
int apns_setup(void);
void apns_shutdown(void);
int fcm_setup(void);
void fcm_shutdown(void);

/* One provider's connection. */
typedef struct {
    const char *name; /* "apns", "fcm": the log's event */
    CURL *curl;
} push_conn;

/* An answer. */
typedef struct {
    long status;
    long retry_after;
    char *body; /* malloc'd, NUL-terminated (at most 64 KB kept), or NULL */
    char error[CURL_ERROR_SIZE]; /* libcurl's, when status is 0 */
} push_resp;

/* POST BODY (N bytes) to URL with HEADERS over HTTP/2 (TLS: ALPN h2).
 * Fills *OUT (push_resp_free releases it). Returns 0 when an answer came,
 * -1 when none did (OUT->error says why). */
int push_post(push_conn *c, const char *url, struct curl_slist *headers, const char *body, size_t n,
              push_resp *out);
void push_resp_free(push_resp *r);
void push_conn_close(push_conn *c);

/* The outcome every provider gives the same meaning: no answer, 429 and
 * 5xx are PUSH_RETRY (with the Retry-After), anything else is left to the
 * provider (*DONE 0). */
push_outcome push_common(const push_resp *r, int *done);

#endif
