/*
 * common.c - helpers shared by the resource handlers.
 */
#include "handlers.h"
#include "cache.h"
#include "crypto.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

const char *id_text(req *r, long long id)
{
    return arena_sprintf(r->a, "%lld", id);
}

void invalidate_members(req *r, const char *members)
{
    if (members == NULL || *members == '\0')
        return;
    const char *keys[128];
    int n = 0;
    const char *s = members;
    while (*s != '\0') {
        while (*s != '\0' && (*s < '0' || *s > '9'))
            s++;
        if (*s == '\0')
            break;
        char *end;
        long long uid = strtoll(s, &end, 10);
        s = end;
        if (n + 2 > (int)(sizeof(keys) / sizeof(keys[0]))) {
            cache_invalidate(keys, n, cache_ttl(), &r->cache_us);
            n = 0;
        }
        keys[n++] = arena_sprintf(r->a, "tasks:user:%lld", uid);
        keys[n++] = arena_sprintf(r->a, "residences:user:%lld", uid);
    }
    cache_invalidate(keys, n, cache_ttl(), &r->cache_us);
}

int send_row(req *r, PGresult *res, int col, int status)
{
    int rc;
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, col))
        rc = resp_not_found(r);
    else
        rc = resp_send(r, status, PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col));
    PQclear(res);
    return rc;
}

int send_query(req *r, const char *name, int n, const char *const *params, int status)
{
    char state[6];
    PGresult *res = db_exec(name, n, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return send_row(r, res, 0, status);
}

int send_invalid(req *r, json_object *errors)
{
    return resp_error_fields(r, 422, "validation_failed", "some fields are invalid", errors);
}

const char *idem_scope(req *r)
{
    return arena_sprintf(r->a, "%s %s", r->method, r->path);
}

int idem_replay(req *r, const char **key)
{
    const char *k = req_param(r, "HTTP_IDEMPOTENCY_KEY");
    *key = NULL;
    if (k == NULL)
        return 0;
    size_t len = strlen(k);
    int printable = len >= 1 && len <= 255;
    for (size_t i = 0; printable && i < len; i++)
        printable = k[i] > ' ' && k[i] < 0x7f;
    if (!printable) {
        resp_error(r, 422, "validation_failed",
                   "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return -1;
    }
    char state[6];
    const char *params[] = {id_text(r, r->user_id), k};
    PGresult *res = db_exec("idem_lookup", 2, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *key = k;
        return 0;
    }
    int rc = 1;
    if (strcmp(PQgetvalue(res, 0, 2), idem_scope(r)) != 0) {
        resp_error(r, 422, "validation_failed",
                   "this Idempotency-Key was used for another request");
        rc = -1;
    } else {
        resp_header(r, "Idempotent-Replayed", "true");
        resp_send(r, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 1),
                  (size_t)PQgetlength(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

int send_etagged(req *r, const char *body, size_t len)
{
    char digest[17];
    crypto_etag(body, len, digest);
    const char *etag = arena_sprintf(r->a, "\"%s\"", digest);
    resp_header(r, "ETag", etag);
    if (r->cache_state != NULL)
        resp_header(r, "X-Cache", r->cache_state);
    const char *inm = req_param(r, "HTTP_IF_NONE_MATCH");
    if (inm != NULL && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0))
        return resp_empty(r, 304);
    return resp_send(r, 200, body, len);
}

int send_cached(req *r, const char *key, const char *name, int n, const char *const *params)
{
    int bypass = req_wants_fresh(r);
    char gen[24] = "";
    size_t len = 0;
    char *body = bypass ? NULL : cache_lookup(r->a, key, &len, gen, &r->cache_us);
    r->cache_state = body ? "hit" : bypass ? "bypass" : "miss";
    if (body == NULL) {
        char state[6];
        PGresult *res = db_exec(name, n, params, state, &r->db_us);
        if (res == NULL)
            return resp_db_error(r, state);
        len = (size_t)PQgetlength(res, 0, 0);
        body = arena_strndup(r->a, PQgetvalue(res, 0, 0), len);
        PQclear(res);
        if (body == NULL)
            return resp_error(r, 503, "service_unavailable", "out of memory");
        if (!bypass)
            cache_fill(key, gen, body, len, cache_ttl(), &r->cache_us);
    }
    return send_etagged(r, body, len);
}

const char *query_id_param(req *r, const char *name, json_object *errors)
{
    const char *v = req_query(r, name);
    if (v == NULL)
        return NULL;
    size_t len = strlen(v);
    int ok = len >= 1 && len <= 15 && v[0] >= '1' && v[0] <= '9';
    for (size_t i = 1; ok && i < len; i++)
        ok = v[i] >= '0' && v[i] <= '9';
    if (!ok) {
        json_object_object_add(errors, name, json_object_new_string("must be an id"));
        return NULL;
    }
    return v;
}
