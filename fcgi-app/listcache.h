/*
 * listcache.h - the one path that serves every cacheable route (a route
 * whose table entry declares a route_cache, router.h): its body is the
 * user's list, kept in Redis under <list>:user:<uid> (DESIGN §7).
 *
 *   1. authn_request reads the token's entry and, in the same round trip,
 *      the user's list (listcache_token_lookup), unless the request says
 *      Cache-Control: no-cache (or max-age=0).
 *   2. The route's handler calls listcache_send: the list read in 1 (or
 *      read now), else the route's named query for the user, stored for
 *      the next request unless something was invalidated meanwhile (the
 *      generation check of cache.h), for HONEYDUE_CACHE_TTL or the query's
 *      column 1 when that is sooner (0: not stored).
 *   3. Sent with a strong ETag per representation (a 304 when
 *      If-None-Match names one) and X-Cache: hit, miss or bypass.
 *
 * An entry holds every representation (encoding.h): the body as it is
 * ("body"), and from ENC_MIN_BYTES on gzip ("gz") and br ("br"), each
 * compressed once, when the entry is filled, and the body's digest
 * ("etag"). A hit reads only the representation the client takes, and the
 * etag, in the same round trip, and sends those bytes as they are.
 *
 * Which lists exist is the route table's business alone: the overflow
 * flush (listcache_setup) and the invalidation of a user's lists
 * (listcache_lists) are derived from it.
 */
#ifndef HD_LISTCACHE_H
#define HD_LISTCACHE_H

#include <stddef.h>

#include "http.h"
#include "router.h"

/* The distinct lists that ROUTES[0..N) declare, into OUT[0..CAP): returns
 * how many, or -1 when there are more than CAP (listcache_setup refuses to
 * start then; LISTCACHE_LISTS_MAX is the room to give). */
#define LISTCACHE_LISTS_MAX 8
int listcache_lists(const route *routes, size_t n, const char **out, int cap);

/* Tell the cache which entries to drop when it lost track of its
 * invalidations: every list ROUTES[0..N) declare, and the tokens' entries.
 * Once, at worker start. Returns 0, or -1 (logged) when the table declares
 * more lists than LISTCACHE_LISTS_MAX: a bug the worker must not serve with. */
int listcache_setup(const route *routes, size_t n);

/* The token entry KEY for authn_request: its body (in the arena; NULL on a
 * miss or when Redis is unavailable) and generation (GEN, 24 bytes). For a
 * cacheable route that the request does not ask to bypass, the user's list
 * is read in the same round trip and kept in r->list for listcache_send. */
char *listcache_token_lookup(req *r, const char *key, char *gen);

/* Forget what listcache_token_lookup read along with the token (the token
 * was then resolved by Postgres instead). */
void listcache_token_unused(req *r);

/* Answer the cacheable route r->route for user r->user_id (see above). */
int listcache_send(req *r);

#endif
