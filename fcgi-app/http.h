/*
 * http.h - one request and its response, as handlers see them.
 *
 * The worker fills a req from the FastCGI parameters, authenticates it when
 * the route asks, calls the handler, and logs one line when it is done.
 * A handler sends exactly one response with a resp_* call and returns its
 * status. Everything reachable from a req (strings, the parsed body, error
 * objects) belongs to the request and is released when it ends.
 */
#ifndef HD_HTTP_H
#define HD_HTTP_H

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stddef.h>
#include <time.h>

#include "arena.h"
#include "encoding.h"
#include "router.h"

typedef struct req {
    arena *a;
    FCGX_Request *fx;

    /* from nginx */
    const char *method;
    const char *path;  /* without the query string */
    const char *query; /* may be "" */
    const char *request_id;
    const char *remote_addr;
    const char *content_type;
    long content_length;

    /* routing */
    const route *route;
    long long params[ROUTER_MAX_PARAMS];

    /* authentication (ROUTE_AUTH routes) */
    long long user_id;
    int is_staff;
    char token_hash[65];

    /* the parsed JSON body (req_json_body), put when the request ends */
    json_object *body;
    /* ROUTE_UPLOAD: bytes of the body read so far; 1 when it ended, 2 when
     * it ended short of its Content-Length */
    long body_read;
    int body_done;

    /* response state */
    int status;
    int sent;
    size_t resp_bytes;
    char *headers;             /* extra response header lines, "Name: value\r\n"... */
    const char *cache_control; /* default "no-store" */
    const char *resp_type;     /* Content-Type when not JSON (a file) */
    size_t headers_len;
    /* 1 when the body given to resp_send is already in resp_enc (a stored
     * representation); otherwise resp_send compresses a JSON body of
     * ENC_MIN_BYTES or more for a client that takes gzip or br */
    int resp_encoded;
    enc resp_enc;

    /* timing: monotonic start, and time spent waiting on dependencies */
    struct timespec t0;
    long db_us;
    long cache_us;
    const char *cache_state; /* "hit", "miss", "bypass" or NULL */

    /* a cacheable route's list as read along with the token (listcache.c);
     * NULL when it was not */
    struct listcache_read *list;
} req;

/* 1 when the client asked to skip caches (Cache-Control: no-cache or max-age=0). */
int req_wants_fresh(req *r);

/* Read HONEYDUE_MAX_BODY once, at worker start. */
void http_setup(void);

/* A FastCGI parameter (request header: "HTTP_IF_NONE_MATCH"), or NULL. */
const char *req_param(req *r, const char *name);

/* The value of query parameter NAME (percent-decoded, in the arena), or NULL. */
const char *req_query(req *r, const char *name);

/* Read and parse the request body as a JSON object. On success stores it in
 * r->body (owned by the request) and *OUT, and returns 0. Otherwise sends
 * the error response (415 not JSON, 413 too large, 400 malformed or bad
 * UTF-8, 400 not an object) and returns -1: the handler returns r->status. */
int req_json_body(req *r, json_object **out);

/* ROUTE_UPLOAD: read the next bytes of the request body (a file, which the
 * handler streams instead of holding it in memory) into BUF, at most CAP.
 * Returns how many (0 at the end of the body), or -1 when the body ended
 * before its Content-Length (the client went away). */
long req_body_read(req *r, char *buf, size_t cap);

/* Read and drop whatever is left of the request body. The worker calls it
 * after every ROUTE_UPLOAD handler, so that an early answer (413, 415)
 * never leaves nginx writing the rest into a closed connection. */
void req_body_discard(req *r);

/* CONTENT_LENGTH as FastCGI passes it: NULL or "" is 0; otherwise only
 * decimal digits (at most 18) are a length. Returns it, or -1 when it is not
 * one (a sign, a space, junk, too long): the worker answers 400 before any
 * handler sizes a read by it. */
long http_content_length(const char *s);

/* Percent-decode S[0..N) into the arena; PLUS_IS_SPACE for a query string.
 * Returns NULL when out of memory. */
char *http_percent_decode(arena *a, const char *s, size_t n, int plus_is_space);

/* Add a response header line. NAME and VALUE are copied; a VALUE holding a
 * CR or LF is refused (logged, not sent). */
void resp_header(req *r, const char *name, const char *value);

/* Send BODY (LEN bytes of JSON) with STATUS and the standard headers. A
 * JSON body goes in the coding the client prefers (encoding.h: compressed
 * at the fast level when it is ENC_MIN_BYTES or more), with
 * Content-Encoding, and Vary: Accept-Encoding on every JSON answer (and
 * 304). Not a file's (r->resp_type). */
int resp_send(req *r, int status, const char *body, size_t len);

/* Send a NUL-terminated JSON text. */
int resp_json(req *r, int status, const char *json);

/* Send a json-c object; takes ownership of OBJ (puts it). */
int resp_obj(req *r, int status, json_object *obj);

/* Send no body (204, 304). */
int resp_empty(req *r, int status);

/* Send BODY as the 200 answer of a GET that clients revalidate: a strong
 * ETag per representation, "\"<DIGEST>\"" for identity and
 * "\"<DIGEST>-gz\"", "\"<DIGEST>-br\"" for the compressed ones (DIGEST, 16
 * hex digits, computed from BODY when NULL), X-Cache (r->cache_state, when
 * set), and a 304 when If-None-Match names any representation of this body
 * (weakly compared; the 304's ETag is the one named). */
int resp_etagged(req *r, const char *digest, const char *body, size_t len);

/* As resp_etagged for BODY already in E (a stored representation of the
 * identity body whose digest is DIGEST): sent as it is. */
int resp_etagged_as(req *r, const char *digest, enc e, const char *body, size_t len);

/* Send {"error": {"code": CODE, "message": MESSAGE}}. */
int resp_error(req *r, int status, const char *code, const char *message);

/* The body resp_error_fields sends, without sending it: a new object
 * (caller puts) that takes FIELDS (may be NULL). */
json_object *resp_error_obj(const char *code, const char *message, json_object *fields);

/* As resp_error with "fields": FIELDS (taken, may be NULL). */
int resp_error_fields(req *r, int status, const char *code, const char *message,
                      json_object *fields);

/* Map a failed db_exec (NULL result) to a response: 503 when the database
 * is unavailable or timed out, 409 for a uniqueness conflict, 500 otherwise. */
int resp_db_error(req *r, const char *sqlstate);

/* The standard 404 for an unknown or foreign object. */
int resp_not_found(req *r);

#endif
