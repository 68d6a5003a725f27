/*
 * push.c - what the APNs and FCM clients share (push.h): the settings both
 * read, an HTTP/2 POST on a kept-open handle, and the outcomes every
 * provider means the same way.
 */
#include "push.h"
#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PUSH_BODY_MAX 65536
#define PUSH_CONNECT_MAX 5L

static long timeout_s = 10;
static char *ca_file;
static int curl_ready;

int push_setup(void)
{
    push_shutdown();
    timeout_s = config_int("PUSH_TIMEOUT_SECONDS", 10);
    if (timeout_s < 1)
        timeout_s = 10;
    const char *ca = config_get("PUSH_CA_FILE");
    ca_file = ca && *ca ? strdup(ca) : NULL;
    if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
        curl_ready = 1;
    return apns_setup() + fcm_setup();
}

void push_shutdown(void)
{
    apns_shutdown();
    fcm_shutdown();
    free(ca_file);
    ca_file = NULL;
}

void push_conn_close(push_conn *c)
{
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

void push_resp_free(push_resp *r)
{
    free(r->body);
    r->body = NULL;
}

typedef struct {
    push_resp *r;
    size_t len;
} sink;

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
    sink *s = p;
    size_t k = size * n;
    if (s->len + k > PUSH_BODY_MAX)
        return k; /* the rest is dropped: an answer is small */
    char *b = realloc(s->r->body, s->len + k + 1);
    if (b == NULL)
        return 0;
    memcpy(b + s->len, data, k);
    s->len += k;
    b[s->len] = '\0';
    s->r->body = b;
    return k;
}

/* Retry-After: delta-seconds or an HTTP-date. */
static size_t on_header(char *line, size_t size, size_t n, void *p)
{
    push_resp *r = p;
    size_t k = size * n;
    static const char name[] = "retry-after:";
    if (k > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
        char v[64];
        size_t vl = k - (sizeof(name) - 1);
        if (vl >= sizeof(v))
            vl = sizeof(v) - 1;
        memcpy(v, line + sizeof(name) - 1, vl);
        v[vl] = '\0';
        char *end;
        long secs = strtol(v, &end, 10);
        if (end != v && (*end == '\r' || *end == '\n' || *end == ' ' || *end == '\0'))
            r->retry_after = secs > 0 ? secs : 0;
        else {
            time_t t = curl_getdate(v, NULL);
            r->retry_after = t > time(NULL) ? (long)(t - time(NULL)) : 0;
        }
    }
    return k;
}

#define OPT(o, v)                                                                              \
    do {                                                                                       \
        if (cc == CURLE_OK)                                                                    \
            cc = curl_easy_setopt(c->curl, o, v);                                              \
    } while (0)

int push_post(push_conn *c, const char *url, struct curl_slist *headers, const char *body, size_t n,
              push_resp *out)
{
    memset(out, 0, sizeof(*out));
    if (c->curl == NULL && (c->curl = curl_easy_init()) == NULL) {
        snprintf(out->error, sizeof(out->error), "no memory");
        return -1;
    }
    curl_easy_reset(c->curl); /* keeps the open connection */
    sink s = {out, 0};
    CURLcode cc = CURLE_OK;
    OPT(CURLOPT_ERRORBUFFER, out->error);
    OPT(CURLOPT_URL, url);
    OPT(CURLOPT_PROTOCOLS_STR, "https");
    OPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    OPT(CURLOPT_NOSIGNAL, 1L);
    OPT(CURLOPT_CONNECTTIMEOUT, timeout_s < PUSH_CONNECT_MAX ? timeout_s : PUSH_CONNECT_MAX);
    OPT(CURLOPT_TIMEOUT, timeout_s);
    if (ca_file != NULL)
        OPT(CURLOPT_CAINFO, ca_file);
    OPT(CURLOPT_HTTPHEADER, headers);
    OPT(CURLOPT_POST, 1L);
    OPT(CURLOPT_POSTFIELDS, body);
    OPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    OPT(CURLOPT_WRITEFUNCTION, on_body);
    OPT(CURLOPT_WRITEDATA, &s);
    OPT(CURLOPT_HEADERFUNCTION, on_header);
    OPT(CURLOPT_HEADERDATA, out);
    if (cc == CURLE_OK)
        cc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
    if (cc != CURLE_OK) {
        if (out->error[0] == '\0')
            snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(cc));
        out->status = 0;
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
    return 0;
}

push_outcome push_common(const push_resp *r, int *done)
{
    push_outcome o = {.status = r->status, .retry_after = r->retry_after};
    *done = 1;
    if (r->status == 0) {
        o.result = PUSH_RETRY;
        snprintf(o.reason, sizeof(o.reason), "%.120s", r->error);
    } else if (r->status == 429 || r->status >= 500) {
        o.result = PUSH_RETRY;
        snprintf(o.reason, sizeof(o.reason), "HTTP %ld", r->status);
    } else {
        *done = 0;
    }
    return o;
}
