/*
 * authn.h - who is asking: the "Authorization: Token <key>" check that the
 * worker runs for every route flagged ROUTE_AUTH.
 */
#ifndef HD_AUTHN_H
#define HD_AUTHN_H

#include <libpq-fe.h>

#include "http.h"

/* Resolve the request's token to an active user: sets r->user_id,
 * r->is_staff and r->token_hash and returns 0; or sends 401 (missing,
 * malformed, unknown or revoked token; token_expired for one past its idle
 * lifetime, HONEYDUE_TOKEN_IDLE_DAYS without use, or its absolute one,
 * HONEYDUE_TOKEN_MAX_DAYS after it was made, which is then deleted) or
 * 503 (database down) and returns -1. */
int authn_request(req *r);

/* Seconds a resolved token stays cached in Redis (auth:<hash>), or fewer
 * when the token has less left to live. Anything that revokes a token
 * calls authn_forget; this bounds what a change made behind the API's back
 * (a manual UPDATE) can take to be seen. */
#define AUTHN_CACHE_TTL 60

/* The Redis key of r->token_hash. */
const char *authn_cache_key(req *r);

/* Drop the cached resolution of the request's token (logout). */
void authn_forget(req *r);

/* Drop the cached resolution of every token whose stored hash is in column
 * COL of RES (the rows a "DELETE FROM user_authtoken ... RETURNING key_hash"
 * answered): used wherever tokens are revoked in bulk (password change,
 * deactivation, account deletion), so a revoked token stops working at once
 * rather than when its cache entry expires. */
void authn_forget_hashes(req *r, PGresult *res, int col);

/* Parse an Authorization header value: the token of "Token <key>" when
 * well formed, else NULL. Pure. */
const char *authn_parse_header(const char *value);

#endif
