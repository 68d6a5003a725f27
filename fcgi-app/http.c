/*
 * http.c - request helpers and the response writer shared by all handlers.
 */
#include "http.h"
#include "config.h"
#include "crypto.h"
#include "encoding.h"
#include "jsonv.h"
#include "log.h"
#include "scoreboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static long max_body = 1048576;

static int server_timing; /* HONEYDUE_SERVER_TIMING */

void http_setup(void)
{
    max_body = config_int("HONEYDUE_MAX_BODY", 1048576);
    /* Off unless asked for: the database's share of a request's time told
     * a stranger whether an address is registered (the reset path runs one
     * more query for a known address). */
    const char *st = config_get("HONEYDUE_SERVER_TIMING");
    server_timing = st != NULL && (strcmp(st, "true") == 0 || strcmp(st, "1") == 0);
}

const char *req_param(req *r, const char *name)
{
    return FCGX_GetParam(name, r->fx->envp);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *http_percent_decode(arena *a, const char *s, size_t n, int plus_is_space)
{
    char *out = arena_alloc(a, n + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out[j++] = ' ';
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

const char *req_query(req *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *s = r->query;
    while (s != NULL && *s != '\0') {
        size_t len = strcspn(s, "&");
        if (len > nlen && s[nlen] == '=' && strncmp(s, name, nlen) == 0)
            return http_percent_decode(r->a, s + nlen + 1, len - nlen - 1, 1);
        if (len == nlen && strncmp(s, name, nlen) == 0)
            return "";
        s += len;
        if (*s == '&')
            s++;
    }
    return NULL;
}

int req_wants_fresh(req *r)
{
    const char *cc = req_param(r, "HTTP_CACHE_CONTROL");
    return cc != NULL &&
           (strcasestr(cc, "no-cache") != NULL || strcasestr(cc, "max-age=0") != NULL);
}

int req_json_body(req *r, json_object **out)
{
    *out = NULL;
    const char *ct = r->content_type;
    size_t ctlen = ct ? strcspn(ct, ";") : 0;
    while (ctlen > 0 && ct[ctlen - 1] == ' ')
        ctlen--;
    if (ct == NULL || ctlen != 16 || strncasecmp(ct, "application/json", 16) != 0)
        return resp_error(r, 415, "unsupported_media_type",
                          "Content-Type must be application/json");
    if (r->content_length > max_body)
        return resp_error(r, 413, "payload_too_large", "request body is too large");
    if (r->content_length <= 0)
        return resp_error(r, 400, "malformed_json", "request body is empty");
    char *buf = arena_alloc(r->a, (size_t)r->content_length + 1);
    if (buf == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    int got = FCGX_GetStr(buf, (int)r->content_length, r->fx->in);
    if (got != r->content_length)
        return resp_error(r, 400, "malformed_json", "request body is shorter than Content-Length");
    buf[got] = '\0';
    const char *err = NULL;
    if (jv_parse_object(buf, (size_t)got, &r->body, &err) != 0)
        return resp_error(r, 400, "malformed_json", err);
    *out = r->body;
    return 0;
}

long http_content_length(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    long v = 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 18)
            return -1;
        v = v * 10 + (s[n] - '0');
    }
    return v;
}

long req_body_read(req *r, char *buf, size_t cap)
{
    if (r->body_done)
        return r->body_done == 2 ? -1 : 0;
    if (cap == 0)
        return 0;
    int want = cap > 1048576 ? 1048576 : (int)cap;
    int got = FCGX_GetStr(buf, want, r->fx->in);
    if (got < 0)
        got = 0;
    r->body_read += got;
    if (got < want) /* the stream ended: short of Content-Length is an error */
        r->body_done = r->content_length > 0 && r->body_read < r->content_length ? 2 : 1;
    if (got == 0)
        return r->body_done == 2 ? -1 : 0;
    return got;
}

void req_body_discard(req *r)
{
    char buf[16384];
    while (req_body_read(r, buf, sizeof(buf)) > 0)
        ;
}

void resp_header(req *r, const char *name, const char *value)
{
    if (value == NULL)
        return;
    if (strpbrk(value, "\r\n") != NULL) {
        log_line(LOG_ERROR, "http", "header %s with a line break not sent", name);
        return;
    }
    char *line = arena_sprintf(r->a, "%s%s: %s\r\n", r->headers ? r->headers : "", name, value);
    if (line != NULL) {
        r->headers = line;
        r->headers_len = strlen(line);
    }
}

static long since_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

static const char *status_text(int s)
{
    switch (s) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return s >= 500 ? "Internal Server Error" : "OK";
    }
}

int resp_send(req *r, int status, const char *body, size_t len)
{
    if (r->sent) {
        log_line(LOG_ERROR, "http", "second response for %s %s ignored", r->method, r->path);
        return r->status;
    }
    r->sent = 1;
    r->status = status;
    int json = r->resp_type == NULL, has_body = status != 204 && status != 304;
    enc e = r->resp_encoded ? r->resp_enc : ENC_IDENTITY;
    if (json && has_body && len > 0 && !r->resp_encoded) {
        enc_accept acc;
        enc_parse(req_param(r, "HTTP_ACCEPT_ENCODING"), &acc);
        e = enc_pick(&acc, len, ENC_FAST);
        char *z;
        size_t zlen;
        if (e != ENC_IDENTITY && enc_compress(r->a, e, ENC_FAST, body, len, &z, &zlen) == 0) {
            body = z;
            len = zlen;
        } else {
            e = ENC_IDENTITY;
        }
    }
    /* Every JSON answer varies with Accept-Encoding (even a small one is
     * compressed for a client that refuses identity); a 304 says so too. */
    char coding[64] = "";
    int k = e != ENC_IDENTITY
                ? snprintf(coding, sizeof(coding), "Content-Encoding: %s\r\n", enc_name(e))
                : 0;
    if (json && (has_body || status == 304))
        snprintf(coding + k, sizeof(coding) - (size_t)k, "Vary: Accept-Encoding\r\n");
    long app = since_us(&r->t0);
    char head[1024], ctype[160] = "";
    if (r->resp_type != NULL)
        snprintf(ctype, sizeof(ctype), "Content-Type: %s\r\n", r->resp_type);
    else if (len || (status != 204 && status != 304))
        snprintf(ctype, sizeof(ctype), "Content-Type: application/json; charset=utf-8\r\n");
    char timing[128] = "";
    if (server_timing)
        snprintf(timing, sizeof(timing),
                 "Server-Timing: db;dur=%.3f, cache;dur=%.3f, app;dur=%.3f\r\n", r->db_us / 1000.0,
                 r->cache_us / 1000.0, app / 1000.0);
    int n = snprintf(head, sizeof(head),
                     "Status: %d %s\r\n"
                     "%s"
                     "X-Request-ID: %s\r\n"
                     "%s"
                     "%s"
                     "Cache-Control: %s\r\n",
                     status, status_text(status), ctype, r->request_id ? r->request_id : "-",
                     timing, coding, r->cache_control ? r->cache_control : "no-store");
    /* A length lets nginx pass the body on without chunking it. */
    if (n > 0 && (size_t)n < sizeof(head) && has_body)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
    if (n < 0 || (size_t)n >= sizeof(head))
        n = 0;
    FCGX_PutStr(head, n, r->fx->out);
    if (r->headers_len > 0)
        FCGX_PutStr(r->headers, (int)r->headers_len, r->fx->out);
    FCGX_PutStr("\r\n", 2, r->fx->out);
    if (len > 0 && has_body && strcmp(r->method, "HEAD") != 0)
        FCGX_PutStr(body, (int)len, r->fx->out);
    r->resp_bytes = len;
    return status;
}

int resp_json(req *r, int status, const char *json)
{
    return resp_send(r, status, json, strlen(json));
}

int resp_obj(req *r, int status, json_object *obj)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
    int rc = resp_send(r, status, s, len);
    json_object_put(obj);
    return rc;
}

int resp_empty(req *r, int status)
{
    return resp_send(r, status, "", 0);
}

/* The representation of the body whose digest is DIGEST that the
 * If-None-Match value INM names (a weak comparison: W/ is ignored, as when
 * a proxy weakened the tag), E for "*", or -1 when it names none. */
static int inm_match(const char *inm, const char *digest, enc e)
{
    size_t dlen = strlen(digest);
    const char *s = inm;
    while (s != NULL && *s != '\0') {
        s += strspn(s, " \t,");
        if (*s == '*')
            return (int)e;
        if (strncmp(s, "W/", 2) == 0)
            s += 2;
        if (*s == '"' && strncmp(s + 1, digest, dlen) == 0) {
            const char *rest = s + 1 + dlen;
            for (int c = 0; c < ENC_N; c++) {
                size_t slen = strlen(enc_etag_suffix((enc)c));
                if (strncmp(rest, enc_etag_suffix((enc)c), slen) == 0 && rest[slen] == '"')
                    return c;
            }
        }
        s = strchr(s, ',');
    }
    return -1;
}

/* The ETag, X-Cache and 304 of resp_etagged, for BODY in E; COMPRESS: E is
 * what the client takes and BODY is still identity. */
static int send_etagged(req *r, const char *digest, enc e, const char *body, size_t len,
                        int compress)
{
    int m = inm_match(req_param(r, "HTTP_IF_NONE_MATCH"), digest, e);
    /* A 304 confirms the representation the client has. */
    enc tag = m >= 0 ? (enc)m : e;
    char *z;
    size_t zlen;
    if (m < 0 && compress && e != ENC_IDENTITY) {
        if (enc_compress(r->a, e, ENC_FAST, body, len, &z, &zlen) == 0) {
            body = z;
            len = zlen;
        } else {
            e = tag = ENC_IDENTITY;
        }
    }
    resp_header(r, "ETag", arena_sprintf(r->a, "\"%s%s\"", digest, enc_etag_suffix(tag)));
    if (r->cache_state != NULL)
        resp_header(r, "X-Cache", r->cache_state);
    if (m >= 0)
        return resp_empty(r, 304);
    r->resp_encoded = 1;
    r->resp_enc = e;
    return resp_send(r, 200, body, len);
}

int resp_etagged(req *r, const char *digest, const char *body, size_t len)
{
    char computed[17];
    if (digest == NULL) {
        crypto_etag(body, len, computed);
        digest = computed;
    }
    enc_accept acc;
    enc_parse(req_param(r, "HTTP_ACCEPT_ENCODING"), &acc);
    return send_etagged(r, digest, enc_pick(&acc, len, ENC_FAST), body, len, 1);
}

int resp_etagged_as(req *r, const char *digest, enc e, const char *body, size_t len)
{
    return send_etagged(r, digest, e, body, len, 0);
}

json_object *resp_error_obj(const char *code, const char *message, json_object *fields)
{
    json_object *err = json_object_new_object();
    json_object_object_add(err, "code", json_object_new_string(code));
    json_object_object_add(err, "message", json_object_new_string(message));
    if (fields != NULL)
        json_object_object_add(err, "fields", fields);
    json_object *top = json_object_new_object();
    json_object_object_add(top, "error", err);
    return top;
}

int resp_error_fields(req *r, int status, const char *code, const char *message,
                      json_object *fields)
{
    return resp_obj(r, status, resp_error_obj(code, message, fields));
}

int resp_error(req *r, int status, const char *code, const char *message)
{
    return resp_error_fields(r, status, code, message, NULL);
}

int resp_db_error(req *r, const char *sqlstate)
{
    if (sqlstate == NULL || sqlstate[0] == '\0' || strncmp(sqlstate, "08", 2) == 0 ||
        strcmp(sqlstate, "57014") == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
        strncmp(sqlstate, "53", 2) == 0) {
        sb_dep_error(SB_DEP_POSTGRES);
        return resp_error(r, 503, "service_unavailable",
                          "the database is unavailable; try again shortly");
    }
    if (strcmp(sqlstate, "23505") == 0)
        return resp_error(r, 409, "conflict", "that already exists");
    log_line(LOG_ERROR, "http", "unexpected database error %s on %s %s", sqlstate, r->method,
             r->path);
    return resp_error(r, 500, "internal_error", "internal error");
}

int resp_not_found(req *r)
{
    return resp_error(r, 404, "not_found", "not found");
}
