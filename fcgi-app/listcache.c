/*
 * listcache.c - the cacheable routes' lists (listcache.h), over cache.h's
 * generation-checked entries.
 */
#include "listcache.h"
#include "cache.h"
#include "crypto.h"
#include "db.h"
#include "keys.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* Each representation's field in a list entry (cache.h). */
static const char *const field_of[ENC_N] = {
    [ENC_IDENTITY] = "body", [ENC_GZIP] = "gz", [ENC_BR] = "br"};

/* A list as read along with the token (its body NULL on a miss), and the
 * representations it asked for. */
struct listcache_read {
    cache_list c;
    enc want[ENC_N];
};

/* The representations of a list to read for R's client, best first into
 * WANT and their fields into FIELDS: what it prefers of what a fill
 * stores, then the other compressed one it takes, then identity, which
 * every entry has (a list under ENC_MIN_BYTES is stored as it is alone).
 * Returns how many. */
static int wanted(req *r, enc *want, const char **fields)
{
    enc_accept acc;
    enc_parse(req_param(r, "HTTP_ACCEPT_ENCODING"), &acc);
    int n = 0;
    want[n++] = enc_pick(&acc, (size_t)-1, ENC_STORED);
    if (want[0] != ENC_IDENTITY) {
        enc other = want[0] == ENC_BR ? ENC_GZIP : ENC_BR;
        if (acc.q[other] > 0)
            want[n++] = other;
        want[n++] = ENC_IDENTITY;
    }
    for (int i = 0; i < n; i++)
        fields[i] = field_of[want[i]];
    return n;
}

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
    const char *fields[ENC_N];
    struct listcache_read *l = arena_alloc(r->a, sizeof(*l));
    const char *prefix = keys_user_list_prefix(r->a, c->list);
    if (l == NULL || prefix == NULL) {
        gen[0] = '\0';
        return NULL;
    }
    int n = wanted(r, l->want, fields);
    cache_lookup_auth_list(r->a, key, prefix, fields, n, &auth, gen, &l->c, &r->cache_us);
    if (auth != NULL) /* the list was read for the uid the token resolved to */
        r->list = l;
    return auth;
}

void listcache_token_unused(req *r)
{
    r->list = NULL;
}

/* Send a stored representation (WANT[L->field]) as it is; identity goes
 * through resp_etagged, which compresses it when the client needs that
 * and nothing else was stored (a small list, identity refused). */
static int send_stored(req *r, const cache_list *l, const enc *want)
{
    if (want[l->field] == ENC_IDENTITY)
        return resp_etagged(r, l->etag, l->body, l->len);
    return resp_etagged_as(r, l->etag, want[l->field], l->body, l->len);
}

/* A list just read from Postgres (BODY, LEN), stored under KEY at
 * generation GEN for TTL seconds with every representation, compressed
 * once, here; then sent in the one R's client takes. */
static int fill_and_send(req *r, const char *key, const char *gen, int ttl, char *body, size_t len)
{
    char digest[17];
    crypto_etag(body, len, digest);
    const char *fields[ENC_N + 1], *vals[ENC_N + 1];
    size_t lens[ENC_N + 1];
    char *repr[ENC_N] = {[ENC_IDENTITY] = body};
    size_t rlen[ENC_N] = {[ENC_IDENTITY] = len};
    int n = 0;
    for (int e = 0; e < ENC_N; e++) {
        if (e != ENC_IDENTITY &&
            (len < ENC_MIN_BYTES ||
             enc_compress(r->a, (enc)e, ENC_STORED, body, len, &repr[e], &rlen[e]) != 0))
            continue;
        fields[n] = field_of[e];
        vals[n] = repr[e];
        lens[n++] = rlen[e];
    }
    fields[n] = "etag";
    vals[n] = digest;
    lens[n++] = strlen(digest);
    cache_fill_fields(key, gen, n, fields, vals, lens, ttl, &r->cache_us);
    enc_accept acc;
    enc_parse(req_param(r, "HTTP_ACCEPT_ENCODING"), &acc);
    enc e = enc_pick(&acc, len, ENC_STORED);
    if (e != ENC_IDENTITY && repr[e] != NULL)
        return resp_etagged_as(r, digest, e, repr[e], rlen[e]);
    return resp_etagged(r, digest, body, len);
}

int listcache_send(req *r)
{
    const route_cache *c = r->route->cache;
    int bypass = req_wants_fresh(r);
    const char *key = keys_user_list(r->a, c->list, r->user_id);
    if (key == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    cache_list miss = {.field = -1}, *l = &miss;
    enc want[ENC_N];
    if (r->list != NULL && !bypass) {
        l = &r->list->c;
        memcpy(want, r->list->want, sizeof(want));
    } else if (!bypass) {
        const char *fields[ENC_N];
        int n = wanted(r, want, fields);
        cache_lookup_list(r->a, key, fields, n, &miss, &r->cache_us);
    }
    r->cache_state = l->body ? "hit" : bypass ? "bypass" : "miss";
    if (l->body != NULL)
        return send_stored(r, l, want);
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
    size_t len = (size_t)PQgetlength(res, 0, 0);
    char *body = arena_strndup(r->a, PQgetvalue(res, 0, 0), len);
    /* Column 1, when the query has it: how long the list stays true
     * (one that changes with the time of day says when). */
    int ttl = cache_ttl();
    if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1) && atoi(PQgetvalue(res, 0, 1)) < ttl)
        ttl = atoi(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (body == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    /* Compressed once, for the cache, when it will be stored; otherwise
     * only what this client takes, on the fly. */
    if (!bypass && ttl > 0 && l->gen[0] != '\0')
        return fill_and_send(r, key, l->gen, ttl, body, len);
    return resp_etagged(r, NULL, body, len);
}
