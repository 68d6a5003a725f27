/*
 * documents.c - warranties, manuals, receipts... kept per residence and
 * optionally tied to one of its tasks, each with at most one file.
 *
 * Metadata is JSON like every other resource. The file is the raw body of
 * PUT /api/documents/{id}/file/ (ROUTE_UPLOAD: streamed to the storage
 * backend, STORAGE_DIR or the bucket, never held in memory), checked against
 * an allow-list of types and their magic numbers before a byte is stored,
 * stored under a random name (storage.h). A download is authorized here and
 * sent by nginx: an empty answer with X-Accel-Redirect to an internal
 * location (storage_accel). Files no row points at any more are removed by
 * honeydue-worker (documents_sweep enqueues it). Documents are not cached.
 *
 * A residence's files share a quota (HONEYDUE_RESIDENCE_STORAGE_QUOTA_MB),
 * checked from Content-Length before a byte is stored and again, binding,
 * when the upload commits (document_set_file, one upload per residence at
 * a time); a user's uploads are throttled (HONEYDUE_UPLOADS_PER_HOUR).
 */
#include "handlers.h"
#include "config.h"
#include "db.h"
#include "jsonv.h"
#include "keys.h"
#include "log.h"
#include "queue.h"
#include "storage.h"
#include "throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The document types of GET /api/static-data/ (static_data.c). */
static const char *const doc_types[] = {"warranty",  "manual", "receipt",
                                        "insurance", "other",  NULL};

static const jv_field document_fields[] = {
    {"residence_id", JV_INT, JV_REQUIRED | JV_IMMUTABLE, 1, 999999999999999LL, NULL},
    {"task_id", JV_INT, JV_NULLABLE, 1, 999999999999999LL, NULL},
    {"document_type", JV_ENUM, 0, 0, 0, doc_types},
    {"title", JV_STRING, JV_REQUIRED, 1, 200, NULL},
    {"notes", JV_STRING, 0, 0, 10000, NULL},
    {"purchase_date", JV_DATE, JV_NULLABLE, 0, 0, NULL},
    {"expiry_date", JV_DATE, JV_NULLABLE, 0, 0, NULL},
};
#define NFIELDS (sizeof(document_fields) / sizeof(document_fields[0]))

/* One field's 422. */
static int invalid_field(req *r, const char *field, const char *msg)
{
    json_object *errors = json_object_new_object();
    json_object_object_add(errors, field, json_object_new_string(msg));
    return reply_invalid(r, errors);
}

/* What only the table can check: the task's residence, the dates' order. */
static int db_error(req *r, const char *state)
{
    if (strcmp(state, "23503") == 0) /* document_document_task_fk */
        return invalid_field(r, "task_id", "is not a task of this residence");
    if (strcmp(state, "23514") == 0) /* document_document_dates_check */
        return invalid_field(r, "expiry_date", "may not be before purchase_date");
    return resp_db_error(r, state);
}

/* GET /api/documents/[?residence=<id>][&task=<id>][&type=<document type>] */
int documents_list(req *r)
{
    json_object *errors = json_object_new_object();
    const char *residence = param_query_id(r, "residence", errors);
    const char *task = param_query_id(r, "task", errors);
    const char *type = req_query(r, "type");
    int known = 0;
    for (int i = 0; type != NULL && doc_types[i] != NULL; i++)
        known |= strcmp(type, doc_types[i]) == 0;
    if (type != NULL && !known)
        json_object_object_add(errors, "type",
                               json_object_new_string("is not one of the allowed values"));
    if (json_object_object_length(errors) > 0)
        return reply_invalid(r, errors);
    json_object_put(errors);
    const char *params[] = {param_id(r, r->user_id), residence, task, type};
    return reply_query(r, "documents_list", 4, params, 200);
}

int documents_create(req *r)
{
    json_object *body, *clean, *errors, *rid;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, document_fields, NFIELDS, 0, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    json_object_object_get_ex(clean, "residence_id", &rid);
    const char *params[] = {param_id(r, r->user_id), param_id(r, json_object_get_int64(rid)),
                            json_object_to_json_string(clean)};
    char state[6];
    PGresult *res = db_exec("documents_create", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    return reply_row(r, res, 0, 201); /* no row: not a member of that residence */
}

int documents_get(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    return reply_query(r, "documents_get", 2, params, 200);
}

int documents_update(req *r)
{
    json_object *body, *clean, *errors;
    if (req_json_body(r, &body) != 0)
        return r->status;
    if (jv_check(body, document_fields, NFIELDS, 1, &clean, &errors) != 0)
        return reply_invalid(r, errors);
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id),
                            json_object_to_json_string(clean)};
    char state[6];
    PGresult *res = db_exec("documents_update", 3, params, state, &r->db_us);
    json_object_put(clean);
    if (res == NULL)
        return db_error(r, state);
    return reply_row(r, res, 0, 200);
}

int documents_delete(req *r)
{
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    char state[6];
    PGresult *res = db_exec("documents_delete", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    int found = PQntuples(res) == 1, had_file = found && !PQgetisnull(res, 0, 1);
    PQclear(res);
    if (!found)
        return resp_not_found(r);
    if (had_file)
        documents_sweep(r);
    return resp_empty(r, 204);
}

/* The file's removal waits for no one: honeydue-worker takes the names the
 * trigger recorded in document_filedeletion (one pending job covers every
 * delete until it runs; its periodic run catches what a lost enqueue left). */
void documents_sweep(req *r)
{
    queue_enqueue("documents.sweep", json_object_new_object(), "documents.sweep", 600, 0,
                  &r->cache_us);
}

/* The display name a client suggested (X-Filename, percent-decoded, or
 * ?filename=), made safe; NULL when there is none. */
static const char *display_name(req *r)
{
    const char *raw = req_param(r, "HTTP_X_FILENAME");
    const char *name =
        raw ? http_percent_decode(r->a, raw, strlen(raw), 0) : req_query(r, "filename");
    char *clean = arena_alloc(r->a, STORAGE_DISPLAY_MAX + 1);
    if (name == NULL || clean == NULL ||
        storage_clean_name(name, clean, STORAGE_DISPLAY_MAX + 1) == 0)
        return NULL;
    return clean;
}

static int too_large(req *r)
{
    char msg[80];
    snprintf(msg, sizeof(msg), "the file is larger than %ld bytes", storage_max_bytes());
    return resp_error(r, 413, "payload_too_large", msg);
}

/* The 413 of a file the residence's quota has no room for. */
static int quota_exceeded(req *r, long long quota, long long used)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "this residence's documents may hold %lld bytes; %lld are used and the file has %ld",
             quota, used, r->content_length);
    return resp_error(r, 413, "quota_exceeded", msg);
}

static int wrong_content(req *r, const char *type)
{
    char msg[80];
    snprintf(msg, sizeof(msg), "the file's content is not %s", type);
    return resp_error(r, 415, "unsupported_media_type", msg);
}

/* The request body as an upload's source: the head already read (and its
 * type checked), then the rest as storage asks for it. */
typedef struct {
    req *r;
    unsigned char head[STORAGE_HEAD];
    size_t head_len, head_at;
    int short_body;
} body_src;

static size_t body_read(void *ud, char *buf, size_t cap)
{
    body_src *b = ud;
    if (b->head_at < b->head_len) {
        size_t n = b->head_len - b->head_at < cap ? b->head_len - b->head_at : cap;
        memcpy(buf, b->head + b->head_at, n);
        b->head_at += n;
        return n;
    }
    long n = req_body_read(b->r, buf, cap);
    if (n <= 0) {
        b->short_body = 1;
        return (size_t)-1;
    }
    return (size_t)n;
}

static int short_body(req *r)
{
    return resp_error(r, 400, "bad_request", "request body is shorter than Content-Length");
}

/* Read the file's first bytes (STORAGE_HEAD, or all of a smaller file)
 * into B. Returns 0, or the status of the error it sent. */
static int read_head(req *r, body_src *b, const char *type)
{
    size_t want = r->content_length < STORAGE_HEAD ? (size_t)r->content_length : STORAGE_HEAD;
    if (want == 0)
        return invalid_field(r, "file", "is empty");
    while (b->head_len < want) {
        long n = req_body_read(r, (char *)b->head + b->head_len, want - b->head_len);
        if (n <= 0)
            return short_body(r);
        b->head_len += (size_t)n;
    }
    if (!storage_magic_ok(type, b->head, b->head_len, r->content_length <= STORAGE_HEAD))
        return wrong_content(r, type);
    return 0;
}

/* The answer to a storage failure (nothing was committed). */
static int storage_failed(req *r, storage_rc rc)
{
    if (rc == STORAGE_REFUSED)
        return resp_error(r, 502, "storage_refused", "the file storage refused the request");
    if (rc == STORAGE_UNAVAILABLE)
        return resp_error(r, 503, "storage_unavailable", "the file storage is not available");
    return resp_error(r, 503, "service_unavailable", "the file could not be stored");
}

/* PUT /api/documents/{id}/file/: the body is the file, Content-Type its
 * type; X-Filename or ?filename= an optional display name. 200 with the
 * document; the file it had before is removed once the new one is
 * committed. */
int documents_upload(req *r)
{
    if (!storage_ready())
        return resp_error(r, 503, "service_unavailable", "file storage is not available");
    /* Every attempt counts, whatever comes of it. */
    throttle_counter uploads = {keys_throttle_user(r->a, "upload", r->user_id),
                                (int)config_int("HONEYDUE_UPLOADS_PER_HOUR", 60), 3600};
    int wait = uploads.limit > 0 ? throttle_hit(&uploads, 1, &r->cache_us) : 0;
    if (wait > 0)
        return reply_throttled(r, wait);
    const char *type = storage_type_allowed(r->content_type);
    if (type == NULL)
        return resp_error(r, 415, "unsupported_media_type",
                          "Content-Type must be one of application/pdf, image/jpeg, image/png, "
                          "image/heic, image/webp, text/plain");
    if (r->content_length > storage_max_bytes())
        return too_large(r);
    /* Nothing is stored for a document the user cannot see, or that its
     * residence has no room for. */
    long long quota = config_int("HONEYDUE_RESIDENCE_STORAGE_QUOTA_MB", 1024) * 1024LL * 1024;
    char state[6];
    const char *doc = param_id(r, r->params[0]), *uid = param_id(r, r->user_id);
    const char *who[] = {doc, uid};
    PGresult *res = db_exec("documents_upload_check", 2, who, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    int found = PQntuples(res) == 1, had_file = found && PQgetvalue(res, 0, 0)[0] == 't';
    long long used = found ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
    PQclear(res);
    if (!found)
        return resp_not_found(r);
    if (quota > 0 && used + r->content_length > quota)
        return quota_exceeded(r, quota, used);

    body_src b = {.r = r};
    int rc = read_head(r, &b, type);
    if (rc != 0)
        return rc;
    char name[STORAGE_NAME_LEN + 1], sha[65];
    storage_rc put = storage_put(type, (uint64_t)r->content_length, body_read, &b, name, sha);
    if (put == STORAGE_SOURCE)
        return short_body(r);
    if (put == STORAGE_UNAVAILABLE) {
        /* A put that timed out may still land: the worker removes it. */
        const char *orphan[] = {name};
        PQclear(db_exec("documents_orphaned", 1, orphan, state, &r->db_us));
        documents_sweep(r);
    }
    if (put != STORAGE_OK)
        return storage_failed(r, put);
    const char *limit = quota > 0 ? arena_sprintf(r->a, "%lld", quota) : NULL;
    const char *params[] = {doc, uid,  name, type, param_id(r, r->content_length), display_name(r),
                            sha, limit};
    res = db_exec("documents_set_file", 8, params, state, &r->db_us);
    if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        /* The document went away meanwhile, or the residence filled up. */
        storage_remove(name); /* failing that, documents.reconcile's */
        if (res == NULL)
            return resp_db_error(r, state);
        int full = PQntuples(res) == 1;
        used = full ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
        PQclear(res);
        return full ? quota_exceeded(r, quota, used) : resp_not_found(r);
    }
    if (had_file)
        documents_sweep(r); /* the file it replaced */
    return reply_row(r, res, 0, 200);
}

/* GET /api/documents/{id}/file/: nginx sends the file (X-Accel-Redirect). */
int documents_download(req *r)
{
    char state[6];
    const char *params[] = {param_id(r, r->params[0]), param_id(r, r->user_id)};
    PGresult *res = db_exec("documents_file", 2, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return resp_not_found(r);
    }
    if (PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return resp_error(r, 404, "not_found", "this document has no file");
    }
    const char *stored = arena_strdup(r->a, PQgetvalue(res, 0, 0));
    const char *type = storage_type_allowed(PQgetvalue(res, 0, 1));
    const char *name = PQgetisnull(res, 0, 2) ? NULL : arena_strdup(r->a, PQgetvalue(res, 0, 2));
    PQclear(res);
    if (!storage_name_valid(stored)) {
        log_line(LOG_ERROR, "documents", "document %lld has a malformed stored name", r->params[0]);
        return resp_error(r, 500, "internal_error", "internal error");
    }
    char fallback[64], disposition[1200];
    snprintf(fallback, sizeof(fallback), "document-%lld%s", r->params[0], storage_type_ext(type));
    if (storage_disposition(name ? name : fallback, disposition, sizeof(disposition)) != 0)
        snprintf(disposition, sizeof(disposition), "attachment");
    r->resp_type = type ? type : "application/octet-stream";
    char *accel = storage_accel(stored, disposition, r->resp_type);
    if (accel == NULL)
        return resp_error(r, 503, "service_unavailable", "file storage is not available");
    resp_header(r, "X-Accel-Redirect", accel); /* copied */
    free(accel);
    resp_header(r, "Content-Disposition", disposition);
    r->cache_control = "private, no-store";
    return resp_empty(r, 200);
}
