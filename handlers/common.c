/*
 * common.c - helpers shared by the resource handlers.
 */
#include "handlers.h"
#include "cache.h"
#include "crypto.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

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
