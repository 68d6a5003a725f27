/*
 * authn.c - token authentication (one indexed lookup by keyed hash), and
 * the tokens' lifetimes: a cache miss asks Postgres how long the token has
 * left, refuses and deletes an expired one, and caches a live one no
 * longer than that, so a cache hit (one Redis round trip) needs no clock.
 */
#include "authn.h"
#include "cache.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "keys.h"
#include "listcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *authn_parse_header(const char *value)
{
    if (value == NULL || strncasecmp(value, "Token ", 6) != 0)
        return NULL;
    value += 6;
    while (*value == ' ')
        value++;
    return crypto_token_valid(value) ? value : NULL;
}

static int unauthorized(req *r, const char *msg)
{
    resp_header(r, "WWW-Authenticate", "Token");
    resp_error(r, 401, "not_authenticated", msg);
    return -1;
}

int authn_request(req *r)
{
    const char *hdr = req_param(r, "HTTP_AUTHORIZATION");
    if (hdr == NULL)
        return unauthorized(r, "authentication credentials were not provided");
    const char *token = authn_parse_header(hdr);
    if (token == NULL)
        return unauthorized(r, "invalid token");
    crypto_token_hash(token, r->token_hash);

    /* Redis first: auth:<hash> holds "uid:staff" (the same generation-checked
     * entry as the cached lists, so a logout racing a fill cannot leave a
     * revoked token cached); a cacheable route's list comes with it. */
    const char *key = authn_cache_key(r);
    char gen[24];
    char *cached = listcache_token_lookup(r, key, gen);
    long long uid;
    int staff;
    if (cached != NULL && sscanf(cached, "%lld:%d", &uid, &staff) == 2 && uid > 0) {
        r->user_id = uid;
        r->is_staff = staff;
        return 0;
    }
    listcache_token_unused(r);
    char idle[24], max[24];
    snprintf(idle, sizeof(idle), "%ld", config_int("HONEYDUE_TOKEN_IDLE_DAYS", 30));
    snprintf(max, sizeof(max), "%ld", config_int("HONEYDUE_TOKEN_MAX_DAYS", 365));
    const char *params[] = {r->token_hash, idle, max};
    char state[6];
    PGresult *res = db_exec("auth_token_user", 3, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return unauthorized(r, "invalid token");
    }
    r->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    r->is_staff = PQgetvalue(res, 0, 1)[0] == 't';
    int stale = PQgetvalue(res, 0, 2)[0] == 't';
    long long left =
        PQgetisnull(res, 0, 3) ? AUTHN_CACHE_TTL : strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    if (left <= 0) {
        r->user_id = 0;
        r->is_staff = 0;
        PGresult *del = db_exec("tokens_delete", 1, params, NULL, &r->db_us);
        if (del != NULL) /* failing that, the next use finds it expired again */
            PQclear(del);
        resp_header(r, "WWW-Authenticate", "Token");
        resp_error(r, 401, "token_expired", "the token has expired; log in again");
        return -1;
    }
    if (stale) { /* hourly at most, with the day's activity (auth_user_activity) in the
                  * same statement: a failure only delays the record */
        PGresult *touch = db_exec("auth_token_touch", 1, params, NULL, &r->db_us);
        if (touch != NULL)
            PQclear(touch);
    }
    char val[48];
    int n = snprintf(val, sizeof(val), "%lld:%d", r->user_id, r->is_staff);
    /* Never cached past the token's end (its idle end as of before this
     * use: at worst a shorter entry than needed). */
    int ttl = left < AUTHN_CACHE_TTL ? (int)left : AUTHN_CACHE_TTL;
    cache_fill(key, gen, val, (size_t)n, ttl, &r->cache_us);
    return 0;
}

const char *authn_cache_key(req *r)
{
    return keys_auth(r->a, r->token_hash);
}

void authn_forget(req *r)
{
    const char *key = authn_cache_key(r);
    cache_invalidate(&key, 1, AUTHN_CACHE_TTL, &r->cache_us);
}

void authn_forget_hashes(req *r, PGresult *res, int col)
{
    int n = PQntuples(res);
    if (n == 0)
        return;
    const char **keys = arena_alloc(r->a, sizeof(char *) * (size_t)n);
    if (keys == NULL)
        return;
    for (int i = 0; i < n; i++)
        keys[i] = keys_auth(r->a, PQgetvalue(res, i, col));
    cache_invalidate(keys, n, AUTHN_CACHE_TTL, &r->cache_us);
}
