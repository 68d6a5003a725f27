/*
 * s3_client.c - the S3 client (fcgi-app/s3.c) end to end against the
 * stack's S3 server (tests/s3_server.py, which checks every signature with
 * botocore). Not a unit test (it needs the server), so it is not named
 * test_*: tests/run.sh runs it once the stack is up, with the stack's env
 * (S3_* and HD_S3_DIR, the server's data and its .stall control file), and
 * adds its counts to the totals. Without those variables every test fails
 * rather than pass without checking.
 */
#include "config.h"
#include "log.h"
#include "s3.h"
#include "storage.h"
#include "test.h"

#include <curl/curl.h>
#include <dirent.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* s3_setup from the stack's env as it was at start, with KEY set to VALUE
 * on top (when KEY is not NULL) for this test only. */
static int setup(const char *key, const char *value)
{
    if (getenv("S3_ENDPOINT") == NULL || getenv("HD_S3_DIR") == NULL) {
        fprintf(stderr, "  S3_ENDPOINT and HD_S3_DIR must name the stack's S3 server\n");
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0)
        return -1;
    static const char *keys[] = {"S3_SECRET_ACCESS_KEY", "S3_BUCKET", "S3_TIMEOUT_SECONDS",
                                 "S3_FORCE_PATH_STYLE", "S3_ENDPOINT"};
    static char *orig[5];
    static int have;
    if (!have) {
        for (int i = 0; i < 5; i++)
            orig[i] = getenv(keys[i]) ? strdup(getenv(keys[i])) : NULL;
        have = 1;
    }
    for (int i = 0; i < 5; i++) {
        if (orig[i])
            setenv(keys[i], orig[i], 1);
        else
            unsetenv(keys[i]);
    }
    if (key != NULL)
        setenv(key, value, 1);
    if (config_load() != 0)
        return -1;
    log_set_level("error");
    return s3_setup();
}

static void token(char *out /* 33 */)
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 33, raw, sizeof(raw));
}

/* A source of SIZE pseudo-random bytes made on the fly from SEED (never
 * held whole), with their hash accumulated as they go. */
typedef struct {
    uint64_t left, pos;
    unsigned seed;
    crypto_hash_sha256_state h;
} gen_src;

static unsigned char gen_byte(unsigned seed, uint64_t i)
{
    return (unsigned char)((i * 2654435761u + seed) >> 7);
}

static size_t gen_read(void *ud, char *buf, size_t cap)
{
    gen_src *g = ud;
    size_t n = cap < g->left ? cap : (size_t)g->left;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)gen_byte(g->seed, g->pos + i);
    crypto_hash_sha256_update(&g->h, (unsigned char *)buf, n);
    g->pos += n;
    g->left -= n;
    return n;
}

typedef struct {
    const char *data;
    size_t len, off;
} mem_src;

static size_t mem_read(void *ud, char *buf, size_t cap)
{
    mem_src *m = ud;
    size_t n = m->len - m->off < cap ? m->len - m->off : cap;
    memcpy(buf, m->data + m->off, n);
    m->off += n;
    return n;
}

static s3_rc put_str(const char *key, const char *s)
{
    mem_src m = {s, strlen(s), 0};
    return s3_put(key, "text/plain", m.len, mem_read, &m);
}

/* A GET of URL with plain libcurl (no signing): status, body (malloc'd into
 * *BODY when not NULL), and the Content-Disposition line into DISP. */
typedef struct {
    char *data;
    size_t len;
    char disp[256], type[128];
} fetched;

static size_t fetch_body(char *d, size_t s, size_t n, void *p)
{
    fetched *f = p;
    char *nd = realloc(f->data, f->len + s * n + 1);
    if (nd == NULL)
        return 0;
    memcpy(nd + f->len, d, s * n);
    f->data = nd;
    f->len += s * n;
    f->data[f->len] = '\0';
    return s * n;
}

static size_t fetch_header(char *d, size_t s, size_t n, void *p)
{
    fetched *f = p;
    size_t len = s * n;
    if (len > 20 && strncasecmp(d, "Content-Disposition:", 20) == 0)
        snprintf(f->disp, sizeof(f->disp), "%.*s", (int)(len - 20), d + 20);
    if (len > 13 && strncasecmp(d, "Content-Type:", 13) == 0)
        snprintf(f->type, sizeof(f->type), "%.*s", (int)(len - 13), d + 13);
    return len;
}

static long fetch(const char *url, fetched *f)
{
    memset(f, 0, sizeof(*f));
    CURL *c = curl_easy_init();
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fetch_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

/* How many objects the server holds in BUCKET (its obj/ directory). */
static int stored_objects(const char *bucket)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/obj", getenv("HD_S3_DIR"), bucket);
    DIR *d = opendir(path);
    int n = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

TEST(round_trip_put_head_presign_list_delete)
{
    CHECK(setup(NULL, NULL) == 0);
    char t[33], key[128], prefix[64];
    token(t);
    snprintf(prefix, sizeof(prefix), "rt-%s/", t);
    snprintf(key, sizeof(key), "%sa file+name (1).txt", prefix);
    const char *body = "hello, bucket\n";
    CHECK(put_str(key, body) == S3_OK);
    uint64_t size = 0;
    CHECK(s3_head(key, &size) == S3_OK);
    CHECK(size == strlen(body));

    char *url = s3_presign_get(key, 60, "attachment; filename=\"r\xc3\xa9sum\xc3\xa9.txt\"",
                               "application/octet-stream");
    CHECK(url != NULL);
    fetched f = {0}; /* a CHECK that skips fetch() leaves nothing to free */
    CHECK(url && fetch(url, &f) == 200);
    CHECK(f.data && strcmp(f.data, body) == 0);
    CHECK(strstr(f.disp, "attachment; filename=") != NULL);
    CHECK(strstr(f.type, "application/octet-stream") != NULL);
    free(f.data);
    free(url);

    /* Three more, listed in pages of two. */
    for (int i = 0; i < 3; i++) {
        char k[128];
        snprintf(k, sizeof(k), "%sk%d", prefix, i);
        CHECK(put_str(k, "x") == S3_OK);
    }
    time_t now = time(NULL);
    s3_list_page p;
    CHECK(s3_list(prefix, NULL, 2, &p) == S3_OK);
    CHECK(p.n == 2 && p.next_token != NULL);
    if (p.n == 2) {
        CHECK_STR(p.objects[0].key, key);
        CHECK(p.objects[0].size == strlen(body));
        CHECK(p.objects[0].last_modified > now - 120 && p.objects[0].last_modified <= now + 5);
        CHECK_STR(p.objects[1].key + strlen(prefix), "k0");
    }
    char *next = p.next_token ? strdup(p.next_token) : NULL;
    s3_list_free(&p);
    CHECK(next != NULL && s3_list(prefix, next, 2, &p) == S3_OK);
    CHECK(p.n == 2 && p.next_token == NULL);
    if (p.n == 2)
        CHECK_STR(p.objects[1].key + strlen(prefix), "k2");
    s3_list_free(&p);
    free(next);

    CHECK(s3_delete(key) == S3_OK);
    CHECK(s3_head(key, &size) == S3_NOT_FOUND);
    CHECK(s3_delete(key) == S3_OK); /* absent: still fine */
    for (int i = 0; i < 3; i++) {
        char k[128];
        snprintf(k, sizeof(k), "%sk%d", prefix, i);
        CHECK(s3_delete(k) == S3_OK);
    }
    CHECK(s3_list(prefix, NULL, 10, &p) == S3_OK);
    CHECK(p.n == 0 && p.next_token == NULL);
    s3_list_free(&p);
    s3_shutdown();
}

TEST(large_put_streams)
{
    CHECK(setup(NULL, NULL) == 0);
    char t[33], key[64];
    token(t);
    snprintf(key, sizeof(key), "big-%s", t);
    const uint64_t size = 5u << 20;
    gen_src g = {.left = size, .seed = 77};
    crypto_hash_sha256_init(&g.h);
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    CHECK(s3_put(key, "application/octet-stream", size, gen_read, &g) == S3_OK);
    getrusage(RUSAGE_SELF, &after);
    /* Never the whole 5 MB at once: the peak grew by far less (ASan's own
     * bookkeeping included). */
    CHECK(after.ru_maxrss - before.ru_maxrss < 4096);
    unsigned char sent[32], got[32];
    crypto_hash_sha256_final(&g.h, sent);
    uint64_t n = 0;
    CHECK(s3_head(key, &n) == S3_OK && n == size);
    char *url = s3_presign_get(key, 60, NULL, NULL);
    fetched f = {0}; /* a CHECK that skips fetch() leaves nothing to free */
    CHECK(url && fetch(url, &f) == 200 && f.len == size);
    crypto_hash_sha256(got, (unsigned char *)f.data, f.len);
    CHECK(memcmp(sent, got, 32) == 0);
    free(f.data);
    free(url);
    CHECK(s3_delete(key) == S3_OK);
    s3_shutdown();
}

TEST(short_source_is_an_error_and_nothing_stored)
{
    CHECK(setup(NULL, NULL) == 0);
    char t[33], key[64];
    token(t);
    snprintf(key, sizeof(key), "short-%s", t);
    mem_src m = {"only this", 9, 0};
    CHECK(s3_put(key, NULL, 1000, mem_read, &m) == S3_ERROR);
    CHECK(s3_head(key, NULL) == S3_NOT_FOUND);
    s3_shutdown();
}

TEST(wrong_secret_is_refused_and_nothing_stored)
{
    CHECK(setup("S3_SECRET_ACCESS_KEY", "not-the-secret") == 0);
    char t[33], key[64];
    token(t);
    snprintf(key, sizeof(key), "denied-%s", t);
    int before = stored_objects(getenv("S3_BUCKET"));
    CHECK(put_str(key, "must not land") == S3_REFUSED);
    CHECK_STR(s3_last_error(), "SignatureDoesNotMatch");
    CHECK(s3_last_status() == 403);
    CHECK(s3_head(key, NULL) != S3_OK);
    s3_list_page p;
    CHECK(s3_list("", NULL, 1, &p) == S3_REFUSED);
    s3_list_free(&p);
    CHECK(s3_delete(key) == S3_REFUSED);
    CHECK(stored_objects(getenv("S3_BUCKET")) == before);
    CHECK(setup(NULL, NULL) == 0);
    CHECK(s3_head(key, NULL) == S3_NOT_FOUND);
    s3_shutdown();
}

TEST(missing_bucket_is_refused)
{
    CHECK(setup("S3_BUCKET", "no-such-bucket-here") == 0);
    CHECK(put_str("k", "x") == S3_REFUSED);
    CHECK_STR(s3_last_error(), "NoSuchBucket");
    s3_list_page p;
    CHECK(s3_list(NULL, NULL, 5, &p) == S3_REFUSED);
    s3_list_free(&p);
    CHECK(s3_delete("k") == S3_REFUSED);
    s3_shutdown();
}

TEST(stalled_server_is_unavailable_within_the_timeout)
{
    CHECK(setup("S3_TIMEOUT_SECONDS", "2") == 0);
    char ctl[4096], t[33], key[64];
    token(t);
    snprintf(key, sizeof(key), "stall-%s", t);
    snprintf(ctl, sizeof(ctl), "%s/.stall", getenv("HD_S3_DIR"));
    FILE *fp = fopen(ctl, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs("6", fp);
        fclose(fp);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK(s3_head(key, NULL) == S3_UNAVAILABLE);
    s3_rc prc = put_str(key, "stalled");
    if (prc != S3_UNAVAILABLE)
        fprintf(stderr, "  put: %d %s %ld\n", prc, s3_last_error(), s3_last_status());
    CHECK(prc == S3_UNAVAILABLE);
    s3_list_page p;
    CHECK(s3_list(NULL, NULL, 5, &p) == S3_UNAVAILABLE);
    s3_list_free(&p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    unlink(ctl);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    CHECK(s < 3 * 4.0); /* three requests, each abandoned after about 2 s */
    CHECK(s3_last_status() == 0);
    sleep(5); /* the held requests finish before the next test */
    /* Served again. The abandoned upload may still have landed (the server
     * read it once its stall ended): as with S3, a timed-out put leaves the
     * object unknown, for the caller's clean-up or the reconciler. */
    CHECK(setup(NULL, NULL) == 0);
    s3_rc h = s3_head(key, NULL);
    CHECK(h == S3_OK || h == S3_NOT_FOUND);
    CHECK(s3_delete(key) == S3_OK);
    s3_shutdown();
}

TEST(server_down_is_unavailable)
{
    CHECK(setup("S3_ENDPOINT", "http://127.0.0.1:9") == 0);
    CHECK(s3_head("k", NULL) == S3_UNAVAILABLE);
    CHECK(put_str("k", "x") == S3_UNAVAILABLE);
    s3_shutdown();
}

TEST(expired_and_tampered_presigned_urls_are_403)
{
    CHECK(setup(NULL, NULL) == 0);
    char t[33], key[64];
    token(t);
    snprintf(key, sizeof(key), "presign-%s", t);
    CHECK(put_str(key, "secret document") == S3_OK);
    fetched f = {0}; /* a CHECK that skips fetch() leaves nothing to free */

    char *url = s3_presign_get_at(key, 60, NULL, NULL, time(NULL) - 120);
    CHECK(url && fetch(url, &f) == 403);
    CHECK(f.data && strstr(f.data, "expired") != NULL);
    free(f.data);
    free(url);

    url = s3_presign_get(key, 60, "attachment", NULL);
    CHECK(url && fetch(url, &f) == 200);
    free(f.data);
    /* Another disposition than the one signed. */
    char *at = url ? strstr(url, "response-content-disposition=attachment") : NULL;
    CHECK(at != NULL);
    if (at) {
        memcpy(at + strlen("response-content-disposition="), "inlinexxxx", 10);
        CHECK(fetch(url, &f) == 403);
        CHECK(f.data && strstr(f.data, "SignatureDoesNotMatch") != NULL);
        free(f.data);
    }
    free(url);
    /* One hex digit of the signature changed. */
    url = s3_presign_get(key, 60, NULL, NULL);
    if (url) {
        char *last = url + strlen(url) - 1;
        *last = *last == '0' ? '1' : '0';
        CHECK(fetch(url, &f) == 403);
        free(f.data);
    }
    free(url);
    CHECK(s3_delete(key) == S3_OK);
    s3_shutdown();
}

/* A new, empty bucket on the stack's server (CreateBucket, signed by
 * libcurl); 0, or -1. */
static int create_bucket(const char *name)
{
    char url[512], user[256], sigv4[128];
    snprintf(url, sizeof(url), "%s/%s", getenv("S3_ENDPOINT"), name);
    snprintf(user, sizeof(user), "%s:%s", getenv("S3_ACCESS_KEY_ID"),
             getenv("S3_SECRET_ACCESS_KEY"));
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", getenv("S3_REGION"));
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(
        NULL, "x-amz-content-sha256: "
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    long status = 0;
    if (c && h) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(c, CURLOPT_USERPWD, user);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status == 200 ? 0 : -1;
}

TEST(the_storage_listing_of_an_empty_bucket_is_empty_not_a_failure)
{
    char t[33], bucket[48];
    token(t);
    snprintf(bucket, sizeof(bucket), "empty-%.12s", t);
    CHECK(setup(NULL, NULL) == 0 && create_bucket(bucket) == 0);
    setenv("S3_BUCKET", bucket, 1);
    setenv("STORAGE_BACKEND", "s3", 1);
    CHECK(config_load() == 0 && storage_setup() == 0);
    storage_lister *l = NULL;
    const storage_entry *e = NULL;
    size_t n = 99;
    CHECK(storage_list_open(&l) == STORAGE_OK);
    CHECK(l != NULL && storage_list_next(l, &e, &n) == STORAGE_OK && n == 0);
    storage_list_close(l);
    storage_close();
    unsetenv("STORAGE_BACKEND");
}

TEST(virtual_host_style)
{
    /* bucket.localhost: libcurl resolves *.localhost to loopback itself. */
    const char *ep = getenv("S3_ENDPOINT");
    char vh[256];
    const char *port = ep ? strrchr(ep, ':') : NULL;
    snprintf(vh, sizeof(vh), "http://localhost%s", port ? port : "");
    CHECK(setup("S3_ENDPOINT", vh) == 0);
    setenv("S3_FORCE_PATH_STYLE", "false", 1);
    CHECK(config_load() == 0 && s3_setup() == 0);
    char t[33], key[64];
    token(t);
    snprintf(key, sizeof(key), "vhost-%s", t);
    CHECK(put_str(key, "virtual") == S3_OK);
    uint64_t n = 0;
    CHECK(s3_head(key, &n) == S3_OK && n == 7);
    char *url = s3_presign_get(key, 60, NULL, NULL);
    CHECK(url && strncmp(url, "http://", 7) == 0 && strstr(url, ".localhost:") != NULL);
    fetched f = {0}; /* a CHECK that skips fetch() leaves nothing to free */
    CHECK(url && fetch(url, &f) == 200 && f.data && strcmp(f.data, "virtual") == 0);
    free(f.data);
    free(url);
    CHECK(s3_delete(key) == S3_OK);
    CHECK(s3_head(key, NULL) == S3_NOT_FOUND);
    s3_shutdown();
}

RUN_TESTS()
