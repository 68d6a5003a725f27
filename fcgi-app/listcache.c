/*
 * listcache.c - the cacheable routes' lists (listcache.h), over cache.h's
 * generation-checked entries.
 */
#include "listcache.h"
#include "cache.h"
#include "db.h"
#include "keys.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* A list as read along with the token: BODY NULL on a miss. */
struct listcache_read {
    char *body;
    size_t len;
    char gen[24];
};

int listcache_lists(const route *routes, size_t n, const char **out, int cap)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (routes[i].cache == NULL)
            continue;
        int seen = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = strcmp(out[j], routes[i].cache->list) == 0;
        if (!seen && k == cap)
            return -1;
        if (!seen)
            out[k++] = routes[i].cache->list;
    }
    return k;
}

int listcache_setup(const route *routes, size_t n)
{
    const char *lists[LISTCACHE_LISTS_MAX], *patterns[LISTCACHE_LISTS_MAX + 1];
    arena a;
    if (arena_init(&a, 1024) != 0)
        return -1;
    int k = listcache_lists(routes, n, lists, LISTCACHE_LISTS_MAX);
    if (k < 0) {
        log_line(LOG_ERROR, "cache", "the route table declares more than %d cached lists",
                 LISTCACHE_LISTS_MAX);
        arena_destroy(&a);
        return -1;
    }
    for (int i = 0; i < k; i++)
        patterns[i] = keys_user_list_pattern(&a, lists[i]);
    patterns[k] = keys_auth_pattern;
    int rc = cache_overflow_patterns(patterns, k + 1);
    arena_destroy(&a);
    return rc;
}

char *listcache_token_lookup(req *r, const char *key, char *gen)
{
    const route_cache *c = r->route->cache;
    size_t len = 0;
    r->list = NULL;
    if (c == NULL || req_wants_fresh(r))
        return cache_lookup(r->a, key, &len, gen, &r->cache_us);
    char *auth = NULL;
    struct listcache_read *l = arena_alloc(r->a, sizeof(*l));
    const char *prefix = keys_user_list_prefix(r->a, c->list);
    if (l == NULL || prefix == NULL) {
        gen[0] = '\0';
        return NULL;
    }
    cache_lookup_auth_list(r->a, key, prefix, &auth, gen, &l->body, &l->len, l->gen, &r->cache_us);
    if (auth != NULL) /* the list was read for the uid the token resolved to */
        r->list = l;
    return auth;
}

void listcache_token_unused(req *r)
{
    r->list = NULL;
}

int listcache_send(req *r)
{
    const route_cache *c = r->route->cache;
    int bypass = req_wants_fresh(r);
    const char *key = keys_user_list(r->a, c->list, r->user_id);
    char gen[24] = "";
    size_t len = 0;
    char *body = NULL;
    if (key == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    if (r->list != NULL && !bypass) {
        body = r->list->body;
        len = r->list->len;
        memcpy(gen, r->list->gen, sizeof(gen));
    } else if (!bypass) {
        body = cache_lookup(r->a, key, &len, gen, &r->cache_us);
    }
    r->cache_state = body ? "hit" : bypass ? "bypass" : "miss";
    if (body == NULL) {
        char state[6];
        const char *params[] = {arena_sprintf(r->a, "%lld", r->user_id)};
        PGresult *res = db_exec(c->query, 1, params, state, &r->db_us);
        if (res == NULL)
            return resp_db_error(r, state);
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
            log_line(LOG_ERROR, "cache", "query %s answered no list", c->query);
            PQclear(res);
            return resp_error(r, 500, "internal_error", "internal error");
        }
        len = (size_t)PQgetlength(res, 0, 0);
        body = arena_strndup(r->a, PQgetvalue(res, 0, 0), len);
        /* Column 1, when the query has it: how long the list stays true
         * (one that changes with the time of day says when). */
        int ttl = cache_ttl();
        if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1) && atoi(PQgetvalue(res, 0, 1)) < ttl)
            ttl = atoi(PQgetvalue(res, 0, 1));
        PQclear(res);
        if (body == NULL)
            return resp_error(r, 503, "service_unavailable", "out of memory");
        if (!bypass && ttl > 0)
            cache_fill(key, gen, body, len, ttl, &r->cache_us);
    }
    return resp_etagged(r, NULL, body, len);
}
