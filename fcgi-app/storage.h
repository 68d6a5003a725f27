/*
 * storage.h - documents' files, in one of two backends behind one
 * interface (DESIGN.md section 12), and what the API checks about them.
 *
 * STORAGE_BACKEND=local (the default, `make run`'s): files in STORAGE_DIR.
 * An upload is written to a temporary file in the same directory, fsynced,
 * then renamed into place, so a file exists whole under its final name or
 * not at all. nginx sends them (X-Accel-Redirect to /_documents/<name>, an
 * internal location aliased to STORAGE_DIR), so they are created mode 0640:
 * readable by a group nginx is in when the directory is setgid to it.
 *
 * STORAGE_BACKEND=s3 (the cluster's): objects documents/<name> in the
 * S3_BUCKET of any S3-compatible service (s3.h). An upload is one PutObject
 * whose body is streamed from the request, which the service makes visible
 * only once all of it arrived. nginx fetches a download from a presigned
 * URL valid for two minutes (X-Accel-Redirect to /_s3/...).
 *
 * Either way the server names every file itself (32 random hex characters
 * from libsodium): nothing a client sends becomes part of a path or key.
 * Files are removed by honeydue-worker (documents.sweep), after the row
 * that named them is gone; documents.reconcile compares the two sides.
 *
 * The checks are pure: the allow-list of content types, the leading bytes
 * each type must start with, the display name a client may suggest, and the
 * Content-Disposition built from it.
 */
#ifndef HD_STORAGE_H
#define HD_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STORAGE_NAME_LEN 32 /* hex characters of a stored file's name */
#define STORAGE_HEAD 512    /* leading bytes the type check reads */
#define STORAGE_DISPLAY_MAX 255
#define STORAGE_S3_PREFIX "documents/" /* a stored file's key in the bucket */

/* What the operations return. The API answers UNAVAILABLE and FAILED with
 * 503 and REFUSED with 502. */
typedef enum {
    STORAGE_OK = 0,
    STORAGE_NOT_FOUND = 1,
    STORAGE_UNAVAILABLE = -1, /* the bucket: no connection, a timeout, its 5xx */
    STORAGE_REFUSED = -2,     /* the bucket said no: credentials, signature, no such bucket */
    STORAGE_FAILED = -3,      /* this side: the disk, no memory, not configured */
    STORAGE_SOURCE = -4,      /* storage_put: the source aborted or ended early */
} storage_rc;

/* Read STORAGE_BACKEND, DOCUMENT_MAX_BYTES and the backend's settings
 * (STORAGE_DIR; S3_*), at process start and again after a reload. local:
 * create the directory (mode 0700) when it is missing and remove
 * temporary files an interrupted upload left more than an hour ago.
 * Returns 0, or -1 after logging (storage_ready() is then 0 and uploads
 * answer 503). */
int storage_setup(void);

/* Release the backend (process exit). */
void storage_close(void);

/* 1 when the configured backend is usable. */
int storage_ready(void);

/* "local" or "s3". */
const char *storage_backend(void);

/* The largest file accepted, in bytes (DOCUMENT_MAX_BYTES). */
long storage_max_bytes(void);

/* An upload's source: copy up to CAP bytes into BUF and return how many;
 * (size_t)-1 aborts the upload (the source knows why). */
typedef size_t (*storage_read_fn)(void *ud, char *buf, size_t cap);

/* Store SIZE bytes read from READ as a new file of content type TYPE;
 * NAME (STORAGE_NAME_LEN + 1 bytes) receives its name and SHA256 (65) its
 * hex digest. On anything but STORAGE_OK nothing is visible under NAME,
 * except that after STORAGE_UNAVAILABLE from s3 (a timeout) the service
 * may still store the object: the caller records NAME for removal. */
storage_rc storage_put(const char *type, uint64_t size, storage_read_fn read, void *ud,
                       char *name, char *sha256);

/* storage_put under a name the caller gives: NAME must be a stored file's
 * (storage_name_valid; else STORAGE_FAILED). For copying stored files
 * between backends (honeydue-worker storage copy-local), never for an
 * upload, whose name is always new. local: an existing NAME is never
 * replaced (STORAGE_FAILED); s3: an existing object is (PutObject). SHA256
 * may be NULL. */
storage_rc storage_put_as(const char *name, const char *type, uint64_t size, storage_read_fn read,
                          void *ud, char *sha256);

/* Remove stored file NAME: STORAGE_OK also when it was already gone. */
storage_rc storage_remove(const char *name);

/* Whether NAME exists: STORAGE_OK (its size in *SIZE unless NULL) or
 * STORAGE_NOT_FOUND. */
storage_rc storage_stat(const char *name, uint64_t *size);

/* The X-Accel-Redirect target that makes nginx send NAME, whose response
 * carries DISPOSITION and TYPE (s3: as the presigned URL's overrides;
 * local: the app's own headers survive the redirect). malloc'd, or NULL
 * (not configured, no memory). */
char *storage_accel(const char *name, const char *disposition, const char *type);

/* The stored files, in name order, a page at a time (documents.reconcile). */
typedef struct {
    char name[STORAGE_NAME_LEN + 1];
    time_t mtime;
    uint64_t size;
} storage_entry;

typedef struct storage_lister storage_lister;

/* Start a listing: *OUT, which storage_list_close releases. */
storage_rc storage_list_open(storage_lister **out);

/* The next page: *ENTRIES (owned by the lister, valid until the next call)
 * and *N; *N is 0 at the end. Files whose names are not a stored file's
 * (a foreign key in the bucket, a temporary upload) are skipped. */
storage_rc storage_list_next(storage_lister *l, const storage_entry **entries, size_t *n);
void storage_list_close(storage_lister *l);

/* 1 when NAME has the shape of a stored file's name. Pure. */
int storage_name_valid(const char *name);

/* The canonical type when CONTENT_TYPE (parameters and case ignored) is
 * on the allow-list: application/pdf, image/jpeg, image/png, image/heic,
 * image/webp, text/plain; else NULL. Pure. */
const char *storage_type_allowed(const char *content_type);

/* The file-name extension of allowed TYPE (".pdf"), or "". Pure. */
const char *storage_type_ext(const char *type);

/* 1 when HEAD[0..N), the first bytes of a file, fit allowed TYPE (its magic
 * number; for text/plain, UTF-8 text without control characters). WHOLE
 * says the file ends there (else a UTF-8 sequence may be cut at the end).
 * Pure. */
int storage_magic_ok(const char *type, const unsigned char *head, size_t n, int whole);

/* A client's suggested file name made safe for display: valid UTF-8 only,
 * the part after the last '/' or '\\', no control or bidirectional-override
 * characters, no leading dots or spaces, at most CAP - 1 bytes (cut at a
 * character boundary). Writes OUT and returns its length; 0 means nothing
 * usable was left. Pure. */
size_t storage_clean_name(const char *in, char *out, size_t cap);

/* Content-Disposition for NAME (already clean): attachment, an ASCII
 * filename= fallback and the UTF-8 filename*= (RFC 6266). Writes at most
 * CAP bytes to OUT. Returns 0, or -1 when CAP is too small. Pure. */
int storage_disposition(const char *name, char *out, size_t cap);

#endif
