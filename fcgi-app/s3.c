/*
 * s3.c - the S3 client (s3.h): PUT, HEAD, DELETE and ListObjectsV2 signed
 * with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"),
 * and presigned GET URLs.
 *
 * Presigned URLs are the one thing libcurl cannot make (it signs the request
 * it sends, with an Authorization header; it has no query signing), so
 * s3_presign_get is SigV4 query signing written by hand here, with
 * libsodium's crypto_auth_hmacsha256 and crypto_hash_sha256.
 *
 * What libcurl's signer (7.88) needs from us, learnt against
 * tests/s3_server.py (which checks signatures with botocore):
 *   - it does not send x-amz-content-sha256, which S3 requires, so every
 *     request carries it: UNSIGNED-PAYLOAD for a PUT (the body is streamed,
 *     its hash unknown until the end), the empty body's hash otherwise;
 *   - it signs the query string as written, so a list's query is written
 *     here already sorted and URI-encoded;
 *   - an upload needs Content-Length (S3 refuses chunked), hence the size
 *     given to s3_put; curl sends Expect: 100-continue, so a refused upload
 *     sends no body.
 */
#include "s3.h"
#include "config.h"
#include "log.h"

#include <curl/curl.h>
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_CONNECT_MAX 5L           /* seconds: the connect's share of S3_TIMEOUT_SECONDS */
#define S3_UPLOAD_MIN_RATE 65536 /* bytes/s an upload is allowed at least */
#define S3_BODY_MAX (16L << 20)     /* a response body kept (a list page, an error) */
#define S3_PRESIGN_MAX (7L * 86400) /* S3's own limit for X-Amz-Expires */

static struct {
    int ready, curl_global;
    CURL *curl;
    char *endpoint; /* scheme://host[:port] */
    char *scheme;   /* "http" or "https" */
    char *host;     /* host[:port] */
    char *region, *bucket, *key_id, *secret, *sigv4;
    int path_style;
    long timeout;
    char last_error[256];
    long last_status;
} s3;

typedef struct {
    char *data;
    size_t len, cap;
    int overflow;
} s3_buf;

static int buf_add(s3_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* S appended; -1 also when S is NULL (a part an earlier append failed to
 * build), so a chain of appends can run on and be checked once. */
static int buf_str(s3_buf *b, const char *s)
{
    return s == NULL ? -1 : buf_add(b, s, strlen(s));
}

/* S percent-encoded as SigV4 wants: unreserved bytes as they are, '/' too
 * when KEEP_SLASH (a path), everything else %XX in capitals. */
static int buf_uri(s3_buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        return -1; /* as buf_str */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
            (keep_slash && *p == '/')) {
            if (buf_add(b, (const char *)p, 1) != 0)
                return -1;
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (buf_add(b, e, 3) != 0)
                return -1;
        }
    }
    return 0;
}

static void s3_free_settings(void)
{
    char **all[] = {&s3.endpoint, &s3.scheme, &s3.host,   &s3.region,
                    &s3.bucket,   &s3.key_id, &s3.secret, &s3.sigv4};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i] != NULL && all[i] == &s3.secret)
            sodium_memzero(*all[i], strlen(*all[i]));
        free(*all[i]);
        *all[i] = NULL;
    }
    s3.ready = 0;
}

static int truthy(const char *v)
{
    return v != NULL && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
                         strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0);
}

int s3_setup(void)
{
    s3_free_settings();
    static const char *const required[] = {"S3_ENDPOINT", "S3_REGION", "S3_BUCKET",
                                           "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", NULL};
    if (config_require(required) != 0)
        return -1;
    const char *ep = config_get("S3_ENDPOINT");
    const char *sep = strstr(ep, "://");
    if (sep == NULL || (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)) {
        log_line(LOG_ERROR, "s3", "S3_ENDPOINT must be http://host[:port] or https://host[:port]");
        return -1;
    }
    size_t hlen = strcspn(sep + 3, "/?#");
    if (hlen == 0 || sep[3 + hlen] == '?' || sep[3 + hlen] == '#' ||
        (sep[3 + hlen] == '/' && sep[4 + hlen] != '\0')) {
        log_line(LOG_ERROR, "s3", "S3_ENDPOINT must name a host and no path");
        return -1;
    }
    s3.scheme = strndup(ep, (size_t)(sep - ep));
    s3.host = strndup(sep + 3, hlen);
    s3.region = strdup(config_get("S3_REGION"));
    s3.bucket = strdup(config_get("S3_BUCKET"));
    s3.key_id = strdup(config_get("S3_ACCESS_KEY_ID"));
    s3.secret = strdup(config_get("S3_SECRET_ACCESS_KEY"));
    s3.path_style = truthy(config_get("S3_FORCE_PATH_STYLE"));
    s3.timeout = config_int("S3_TIMEOUT_SECONDS", 30);
    if (s3.timeout < 1)
        s3.timeout = 1;
    size_t n = strlen(s3.scheme) + strlen(s3.bucket) + strlen(s3.host) + 8;
    s3.endpoint = malloc(n);
    if (s3.endpoint != NULL) {
        if (s3.path_style)
            snprintf(s3.endpoint, n, "%s://%s", s3.scheme, s3.host);
        else
            snprintf(s3.endpoint, n, "%s://%s.%s", s3.scheme, s3.bucket, s3.host);
    }
    n = strlen(s3.region) + 16;
    s3.sigv4 = malloc(n);
    if (s3.sigv4 != NULL)
        snprintf(s3.sigv4, n, "aws:amz:%s:s3", s3.region);
    if (!s3.scheme || !s3.host || !s3.region || !s3.bucket || !s3.key_id || !s3.secret ||
        !s3.endpoint || !s3.sigv4) {
        s3_free_settings();
        log_line(LOG_ERROR, "s3", "out of memory");
        return -1;
    }
    s3.ready = 1;
    log_line(LOG_INFO, "s3", "bucket %s at %s (%s style, region %s, timeout %ld s)", s3.bucket,
             ep, s3.path_style ? "path" : "virtual-host", s3.region, s3.timeout);
    return 0;
}

int s3_configured(void)
{
    return s3.ready;
}

void s3_shutdown(void)
{
    if (s3.curl != NULL)
        curl_easy_cleanup(s3.curl);
    s3.curl = NULL;
    if (s3.curl_global)
        curl_global_cleanup();
    s3.curl_global = 0;
    s3_free_settings();
}

const char *s3_last_error(void)
{
    return s3.last_error;
}

long s3_last_status(void)
{
    return s3.last_status;
}

/* The object's URL path: /bucket/key (path style) or /key, key encoded. */
static int object_path(s3_buf *b, const char *key)
{
    if (buf_str(b, "/") != 0)
        return -1;
    if (s3.path_style && (buf_uri(b, s3.bucket, 0) != 0 || buf_str(b, key ? "/" : "") != 0))
        return -1;
    return key ? buf_uri(b, key, 1) : 0;
}

/* ---- requests -------------------------------------------------------------- */

typedef struct {
    s3_read_fn read;
    void *ud;
    uint64_t left;
    int failed; /* the source aborted or ended early */
} s3_src;

static size_t s3_read_cb(char *buf, size_t size, size_t nitems, void *p)
{
    s3_src *src = p;
    size_t cap = size * nitems;
    if (cap > src->left)
        cap = (size_t)src->left;
    if (cap == 0)
        return 0;
    size_t got = src->read(src->ud, buf, cap);
    if (got == (size_t)-1 || got == 0 || got > cap) {
        src->failed = 1;
        return CURL_READFUNC_ABORT;
    }
    src->left -= got;
    return got;
}

static size_t s3_write_cb(char *data, size_t size, size_t nmemb, void *p)
{
    s3_buf *b = p;
    size_t n = size * nmemb;
    if (b->len + n > (size_t)S3_BODY_MAX) {
        b->overflow = 1;
        return n; /* dropped: only a list page or an error is ever read */
    }
    return buf_add(b, data, n) == 0 ? n : 0;
}

/* The text of the first <NAME>...</NAME> in [S, END), entity-decoded,
 * malloc'd; NULL when absent or out of memory. */
static char *xml_text(const char *s, const char *end, const char *name)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", name);
    snprintf(close, sizeof(close), "</%s>", name);
    const char *a = strstr(s, open);
    if (a == NULL || a >= end)
        return NULL;
    a += strlen(open);
    const char *z = strstr(a, close);
    if (z == NULL || z > end)
        return NULL;
    char *out = malloc((size_t)(z - a) + 1), *o = out;
    if (out == NULL)
        return NULL;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    while (a < z) {
        int done = 0;
        if (*a == '&') {
            for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
                size_t el = strlen(ents[i].ent);
                if ((size_t)(z - a) >= el && strncmp(a, ents[i].ent, el) == 0) {
                    *o++ = ents[i].c;
                    a += el;
                    done = 1;
                }
            }
            if (!done && a + 2 < z && a[1] == '#') {
                char *semi;
                int hexa = a[2] == 'x' || a[2] == 'X';
                unsigned long cp = strtoul(a + (hexa ? 3 : 2), &semi, hexa ? 16 : 10);
                if (semi < z && *semi == ';' && cp > 0 && cp < 0x80) { /* keys here are ASCII */
                    *o++ = (char)cp;
                    a = semi + 1;
                    done = 1;
                }
            }
        }
        if (!done)
            *o++ = *a++;
    }
    *o = '\0';
    return out;
}

/* Decode %XX in place (a listing asked with encoding-type=url). */
static void pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char h[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(h, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* 2026-11-29T17:20:00.000Z as a time_t; 0 when malformed. */
static time_t iso_time(const char *s)
{
    struct tm tm = {0};
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

#define S3_OPT(o, v)                                                                               \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(c, o, v);                                                        \
    } while (0)

/* One request: METHOD on URL (its query already sorted and encoded), the
 * body from SRC when not NULL, the response body into BODY. Classifies the
 * outcome, logs a failure once (OP and KEY name it), fills s3.last_*. */
static s3_rc s3_request(const char *op, const char *key, const char *method, const char *url,
                        const char *type, s3_src *src, uint64_t size, s3_buf *body)
{
    s3.last_error[0] = '\0';
    s3.last_status = 0;
    if (!s3.ready) {
        snprintf(s3.last_error, sizeof(s3.last_error), "not configured");
        return S3_ERROR;
    }
    if (!s3.curl_global) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return S3_ERROR;
        s3.curl_global = 1;
    }
    if (s3.curl == NULL && (s3.curl = curl_easy_init()) == NULL)
        return S3_ERROR;
    CURL *c = s3.curl;
    curl_easy_reset(c); /* keeps the open connection */

    struct curl_slist *hdrs = NULL, *h;
    char line[512];
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s",
             src ? "UNSIGNED-PAYLOAD" : S3_EMPTY_SHA256);
    hdrs = curl_slist_append(NULL, line);
    if (hdrs != NULL && type != NULL && strpbrk(type, "\r\n") == NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s", type);
        h = curl_slist_append(hdrs, line);
        if (h == NULL) {
            curl_slist_free_all(hdrs);
            hdrs = NULL;
        }
    }
    if (hdrs == NULL)
        return S3_ERROR;

    char curl_err[CURL_ERROR_SIZE] = "";
    CURLcode cc = CURLE_OK;
    S3_OPT(CURLOPT_ERRORBUFFER, curl_err);
    S3_OPT(CURLOPT_URL, url);
    S3_OPT(CURLOPT_PROTOCOLS_STR, "http,https");
    S3_OPT(CURLOPT_NOSIGNAL, 1L);
    S3_OPT(CURLOPT_CONNECTTIMEOUT, s3.timeout < S3_CONNECT_MAX ? s3.timeout : S3_CONNECT_MAX);
    S3_OPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
    S3_OPT(CURLOPT_LOW_SPEED_TIME, s3.timeout);
    /* In all: the timeout, and for an upload one more second per
     * S3_UPLOAD_MIN_RATE bytes. The no-progress rule alone cannot catch a
     * server that stalls after a small body: libcurl averages the speed
     * over a few seconds, and the bytes just sent keep it above the floor. */
    S3_OPT(CURLOPT_TIMEOUT, s3.timeout + (long)(size / S3_UPLOAD_MIN_RATE));
    S3_OPT(CURLOPT_AWS_SIGV4, s3.sigv4);
    S3_OPT(CURLOPT_USERNAME, s3.key_id);
    S3_OPT(CURLOPT_PASSWORD, s3.secret);
    S3_OPT(CURLOPT_HTTPHEADER, hdrs);
    S3_OPT(CURLOPT_WRITEFUNCTION, s3_write_cb);
    S3_OPT(CURLOPT_WRITEDATA, body);
    if (strcmp(method, "PUT") == 0) {
        S3_OPT(CURLOPT_UPLOAD, 1L);
        S3_OPT(CURLOPT_READFUNCTION, s3_read_cb);
        S3_OPT(CURLOPT_READDATA, src);
        S3_OPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    } else if (strcmp(method, "HEAD") == 0) {
        S3_OPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "DELETE") == 0) {
        S3_OPT(CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    if (cc == CURLE_OK)
        cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);

    s3_rc rc;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    s3.last_status = status;
    if (src != NULL && src->failed) {
        snprintf(s3.last_error, sizeof(s3.last_error), "the upload's source failed");
        rc = S3_ERROR;
    } else if (cc != CURLE_OK) {
        snprintf(s3.last_error, sizeof(s3.last_error), "%s",
                 curl_err[0] ? curl_err : curl_easy_strerror(cc));
        rc = cc == CURLE_OUT_OF_MEMORY ? S3_ERROR : S3_UNAVAILABLE;
    } else if (status >= 200 && status < 300) {
        return S3_OK;
    } else {
        char *code = body->data ? xml_text(body->data, body->data + body->len, "Code") : NULL;
        snprintf(s3.last_error, sizeof(s3.last_error), "%s", code ? code : "");
        free(code);
        if (status >= 500 || status == 429 || status == 408)
            rc = S3_UNAVAILABLE;
        else if (status == 404 && (strcmp(s3.last_error, "NoSuchKey") == 0 ||
                                   (strcmp(method, "HEAD") == 0 && s3.last_error[0] == '\0')))
            rc = S3_NOT_FOUND;
        else
            rc = S3_REFUSED;
        if (rc == S3_NOT_FOUND)
            return rc;
        if (s3.last_error[0] == '\0')
            snprintf(s3.last_error, sizeof(s3.last_error), "HTTP %ld", status);
    }
    log_line(LOG_WARN, "s3", "%s %s: %s (HTTP %ld): %s", op, key ? key : "", s3.last_error, status,
             rc == S3_UNAVAILABLE ? "unavailable" : rc == S3_REFUSED ? "refused" : "failed");
    return rc;
}

/* The URL of KEY (NULL: the bucket) with QUERY appended when not NULL. */
static char *s3_url(const char *key, const char *query)
{
    s3_buf b = {0};
    if (buf_str(&b, s3.endpoint) != 0 || object_path(&b, key) != 0 ||
        (query && (buf_str(&b, "?") != 0 || buf_str(&b, query) != 0))) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

static s3_rc s3_simple(const char *op, const char *method, const char *key, const char *type,
                       s3_src *src, uint64_t size, s3_buf *body)
{
    if (key == NULL || *key == '\0')
        return S3_ERROR;
    char *url = s3_url(key, NULL);
    if (url == NULL)
        return S3_ERROR;
    s3_rc rc = s3_request(op, key, method, url, type, src, size, body);
    free(url);
    return rc;
}

s3_rc s3_put(const char *key, const char *type, uint64_t size, s3_read_fn read, void *ud)
{
    if (read == NULL)
        return S3_ERROR;
    s3_src src = {read, ud, size, 0};
    s3_buf body = {0};
    s3_rc rc = s3_simple("put", "PUT", key, type, &src, size, &body);
    free(body.data);
    return rc;
}

s3_rc s3_delete(const char *key)
{
    s3_buf body = {0};
    s3_rc rc = s3_simple("delete", "DELETE", key, NULL, NULL, 0, &body);
    free(body.data);
    return rc == S3_NOT_FOUND ? S3_OK : rc;
}

s3_rc s3_head(const char *key, uint64_t *size)
{
    s3_buf body = {0};
    s3_rc rc = s3_simple("head", "HEAD", key, NULL, NULL, 0, &body);
    free(body.data);
    if (rc == S3_OK && size != NULL) {
        curl_off_t len = -1;
        curl_easy_getinfo(s3.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        *size = len > 0 ? (uint64_t)len : 0;
    }
    return rc;
}

void s3_list_free(s3_list_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->objects[i].key);
    free(p->objects);
    free(p->next_token);
    memset(p, 0, sizeof(*p));
}

s3_rc s3_list(const char *prefix, const char *token, int max_keys, s3_list_page *out)
{
    memset(out, 0, sizeof(*out));
    if (max_keys < 1 || max_keys > 1000)
        return S3_ERROR;
    /* The query in SigV4's canonical order (names sorted, values encoded):
     * libcurl signs it as written. */
    s3_buf q = {0};
    char num[32];
    snprintf(num, sizeof(num), "%d", max_keys);
    int bad = 0;
    if (token != NULL)
        bad |= buf_str(&q, "continuation-token=") || buf_uri(&q, token, 0) || buf_str(&q, "&");
    bad |= buf_str(&q, "encoding-type=url&list-type=2&max-keys=") || buf_str(&q, num);
    bad |= buf_str(&q, "&prefix=") || buf_uri(&q, prefix ? prefix : "", 0);
    char *url = bad ? NULL : s3_url(NULL, q.data);
    free(q.data);
    if (url == NULL)
        return S3_ERROR;
    s3_buf body = {0};
    s3_rc rc = s3_request("list", prefix, "GET", url, NULL, NULL, 0, &body);
    free(url);
    if (rc != S3_OK || body.data == NULL || body.overflow) {
        free(body.data);
        return rc == S3_OK ? S3_ERROR : rc == S3_NOT_FOUND ? S3_REFUSED : rc;
    }
    rc = s3_list_parse(body.data, body.len, out);
    free(body.data);
    return rc;
}

s3_rc s3_list_parse(const char *xml, size_t len, s3_list_page *out)
{
    memset(out, 0, sizeof(*out));
    const char *end = xml + len;
    s3_rc rc = S3_OK;
    size_t cap = 0;
    for (const char *p = xml; (p = strstr(p, "<Contents>")) != NULL;) {
        const char *z = strstr(p, "</Contents>");
        if (z == NULL)
            break;
        char *k = xml_text(p, z, "Key");
        char *lm = xml_text(p, z, "LastModified");
        char *sz = xml_text(p, z, "Size");
        if (k != NULL && out->n == cap) {
            cap = cap ? cap * 2 : 64;
            s3_object *o = realloc(out->objects, cap * sizeof(*o));
            if (o == NULL) {
                free(k);
                k = NULL;
                rc = S3_ERROR;
            } else {
                out->objects = o;
            }
        }
        if (k != NULL) {
            pct_decode(k);
            out->objects[out->n++] =
                (s3_object){k, iso_time(lm), sz ? strtoull(sz, NULL, 10) : 0};
        }
        free(lm);
        free(sz);
        if (rc != S3_OK)
            break;
        p = z;
    }
    char *trunc = xml_text(xml, end, "IsTruncated");
    if (rc == S3_OK && trunc != NULL && strcmp(trunc, "true") == 0) {
        out->next_token = xml_text(xml, end, "NextContinuationToken");
        if (out->next_token == NULL)
            rc = S3_ERROR;
    }
    free(trunc);
    if (rc != S3_OK)
        s3_list_free(out);
    return rc;
}

/* ---- presigned URLs: SigV4 query signing by hand ---------------------------- */

static void hmac(unsigned char out[32], const unsigned char *key, size_t klen, const char *msg)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

static void sha256_hex(char out[65], const char *s, size_t n)
{
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)s, n);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

char *s3_presign_get_at(const char *key, long expires_s, const char *disposition,
                        const char *type, time_t now)
{
    if (!s3.ready || key == NULL || *key == '\0' || expires_s < 1 || expires_s > S3_PRESIGN_MAX ||
        sodium_init() < 0)
        return NULL;
    struct tm tm;
    char stamp[20], date[9];
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date, stamp, 8);
    date[8] = '\0';

    s3_buf scope = {0}, cred = {0}, q = {0}, path = {0}, creq = {0}, sts = {0};
    char *url = NULL, num[32];
    snprintf(num, sizeof(num), "%ld", expires_s);
    int bad = buf_str(&scope, date) || buf_str(&scope, "/") || buf_str(&scope, s3.region) ||
              buf_str(&scope, "/s3/aws4_request");
    bad |= buf_str(&cred, s3.key_id) || buf_str(&cred, "/") || buf_str(&cred, scope.data);
    /* Sorted by name, byte order: every X-Amz-* before response-*. */
    bad |= buf_str(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=") ||
           buf_uri(&q, cred.data, 0) || buf_str(&q, "&X-Amz-Date=") || buf_str(&q, stamp) ||
           buf_str(&q, "&X-Amz-Expires=") || buf_str(&q, num) ||
           buf_str(&q, "&X-Amz-SignedHeaders=host");
    if (disposition != NULL)
        bad |= buf_str(&q, "&response-content-disposition=") || buf_uri(&q, disposition, 0);
    if (type != NULL)
        bad |= buf_str(&q, "&response-content-type=") || buf_uri(&q, type, 0);
    bad |= object_path(&path, key);
    bad |= buf_str(&creq, "GET\n") || buf_str(&creq, path.data) || buf_str(&creq, "\n") ||
           buf_str(&creq, q.data) || buf_str(&creq, "\nhost:") || buf_str(&creq, s3.endpoint) ||
           buf_str(&creq, "\n\nhost\nUNSIGNED-PAYLOAD");
    if (!bad) {
        /* The host line is the endpoint's host (with its bucket in
         * virtual-host style): drop the scheme copied in above. */
        char *hl = strstr(creq.data, "\nhost:") + 6;
        char *sep = strstr(hl, "://");
        memmove(hl, sep + 3, strlen(sep + 3) + 1);
        creq.len = strlen(creq.data);
        char hexh[65];
        sha256_hex(hexh, creq.data, creq.len);
        bad |= buf_str(&sts, "AWS4-HMAC-SHA256\n") || buf_str(&sts, stamp) ||
               buf_str(&sts, "\n") || buf_str(&sts, scope.data) || buf_str(&sts, "\n") ||
               buf_str(&sts, hexh);
    }
    if (!bad) {
        size_t slen = strlen(s3.secret);
        unsigned char *k0 = malloc(slen + 5);
        unsigned char k[32], sig[32];
        char sighex[65];
        if (k0 != NULL) {
            snprintf((char *)k0, slen + 5, "AWS4%s", s3.secret);
            hmac(k, k0, slen + 4, date);
            sodium_memzero(k0, slen + 4);
            free(k0);
            hmac(k, k, 32, s3.region);
            hmac(k, k, 32, "s3");
            hmac(k, k, 32, "aws4_request");
            hmac(sig, k, 32, sts.data);
            sodium_memzero(k, sizeof(k));
            sodium_bin2hex(sighex, sizeof(sighex), sig, sizeof(sig));
            s3_buf u = {0};
            if (buf_str(&u, s3.endpoint) || buf_str(&u, path.data) || buf_str(&u, "?") ||
                buf_str(&u, q.data) || buf_str(&u, "&X-Amz-Signature=") || buf_str(&u, sighex))
                free(u.data);
            else
                url = u.data;
        }
    }
    free(scope.data);
    free(cred.data);
    free(q.data);
    free(path.data);
    free(creq.data);
    free(sts.data);
    return url;
}

char *s3_presign_get(const char *key, long expires_s, const char *disposition, const char *type)
{
    return s3_presign_get_at(key, expires_s, disposition, type, time(NULL));
}
