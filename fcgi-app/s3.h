/*
 * s3.h - the S3 client: objects in one bucket of any S3-compatible service
 * (B2, AWS S3, MinIO, R2), for the document storage's s3 backend
 * (DESIGN.md section 12) and its reconciliation job.
 *
 * Settings (config.c): S3_ENDPOINT (scheme://host[:port], no path),
 * S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY,
 * S3_FORCE_PATH_STYLE (true: ENDPOINT/bucket/key; false: virtual-host style,
 * scheme://bucket.host/key) and S3_TIMEOUT_SECONDS, which bounds every
 * request: the connect gets at most 5 s of it, a transfer that moves no byte
 * for that long is abandoned, and a request is abandoned after that long in
 * all, plus, for an upload, one second per 64 KiB of its body (so a 10 MB
 * file may take 160 s more: a slow link still gets it through).
 *
 * One kept-open libcurl handle per process, made on first use (after fork).
 * Not thread-safe. The caller ignores SIGPIPE (libcurl runs with
 * CURLOPT_NOSIGNAL). The secret and a presigned URL's signature are never
 * logged.
 */
#ifndef HD_S3_H
#define HD_S3_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What every operation returns. The API maps UNAVAILABLE to 503 and
 * REFUSED to 502; ERROR is this side's fault (a source that failed, no
 * memory, not configured). The S3 error code, when there was one, is
 * logged and kept for s3_last_error(). */
typedef enum {
    S3_OK = 0,
    S3_NOT_FOUND = 1,    /* no such key (HEAD: also no such bucket: HEAD has no body) */
    S3_UNAVAILABLE = -1, /* no connection, timeout, or the service's 5xx */
    S3_REFUSED = -2,     /* credentials, signature, bucket, region: any other 4xx */
    S3_ERROR = -3,
} s3_rc;

/* Read the settings (config_load first); again after a reload. Returns 0,
 * or -1 after logging the first missing or malformed setting. */
int s3_setup(void);

/* Whether s3_setup succeeded (S3_ENDPOINT, S3_BUCKET and the keys are set). */
int s3_configured(void);

/* Close the connection and free everything (process exit). */
void s3_shutdown(void);

/* A put's source: copy up to CAP bytes into BUF and return how many, 0 at
 * the end, or (size_t)-1 to abort the upload. */
typedef size_t (*s3_read_fn)(void *ud, char *buf, size_t cap);

/* Upload SIZE bytes read from READ into KEY (Content-Type TYPE unless NULL).
 * The body is streamed (never held whole here); S3 makes the object visible
 * only once it all arrived. A source that ends early or aborts: S3_ERROR.
 * After S3_UNAVAILABLE (a timeout) the object's state is unknown: the
 * service may still store what it received; the caller deletes it or
 * leaves it to the reconciliation job. */
s3_rc s3_put(const char *key, const char *type, uint64_t size, s3_read_fn read, void *ud);

/* Remove KEY; S3_OK also when it was not there. */
s3_rc s3_delete(const char *key);

/* Whether KEY exists: S3_OK with its size in *SIZE (may be NULL), or
 * S3_NOT_FOUND. */
s3_rc s3_head(const char *key, uint64_t *size);

/* One page of a listing. Everything is owned by the page: s3_list_free. */
typedef struct {
    char *key;
    time_t last_modified;
    uint64_t size;
} s3_object;

typedef struct {
    s3_object *objects;
    size_t n;
    char *next_token; /* NULL on the last page */
} s3_list_page;

/* ListObjectsV2: up to MAX_KEYS (1..1000) keys starting with PREFIX (may be
 * NULL), from the page TOKEN names (NULL: the first). Fills *OUT (which
 * s3_list_free releases, whatever the result). */
s3_rc s3_list(const char *prefix, const char *token, int max_keys, s3_list_page *out);
void s3_list_free(s3_list_page *p);

/* s3_list's reading of a ListObjectsV2 answer: XML[0..LEN), NUL-terminated,
 * into *OUT (keys entity- and percent-decoded). S3_OK, or S3_ERROR (no
 * memory, a truncated page without its next token) with *OUT released.
 * Pure; the fuzz harness tests/fuzz/s3list.c runs it on any bytes. */
s3_rc s3_list_parse(const char *xml, size_t len, s3_list_page *out);

/* A presigned GET URL for KEY valid EXPIRES_S seconds (1..604800) from now,
 * with the response's Content-Disposition and Content-Type overridden when
 * DISPOSITION / TYPE are not NULL. malloc'd (the caller frees), or NULL
 * (not configured, bad arguments, no memory). s3_presign_get_at signs as
 * of NOW (for tests). */
char *s3_presign_get(const char *key, long expires_s, const char *disposition, const char *type);
char *s3_presign_get_at(const char *key, long expires_s, const char *disposition,
                        const char *type, time_t now);

/* The S3 error code of the last failed request ("SignatureDoesNotMatch"),
 * or libcurl's error, or "" after a success. */
const char *s3_last_error(void);

/* The HTTP status of the last request, 0 when there was no answer. */
long s3_last_status(void);

#endif
