/*
 * router.h - the route table and its matcher.
 *
 * Routes live in one static array (handlers/routes.c), like Redis's command
 * table: method, pattern, handler, flags, and the cache of a route whose
 * body is a per-user list (route_cache; listcache.h serves it). A pattern is a literal path whose
 * segments may be "{name}" placeholders; a placeholder matches a positive
 * decimal integer (every id in this API is one) and is handed to the handler
 * in req->params[] in order of appearance.
 */
#ifndef HD_ROUTER_H
#define HD_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 4

enum {
    ROUTE_AUTH = 1 << 0,   /* needs a valid token (401 otherwise) */
    ROUTE_STAFF = 1 << 1,  /* needs is_staff (403 otherwise); implies AUTH */
    ROUTE_UPLOAD = 1 << 2, /* its body is a file: the handler streams it with
                              req_body_read (no HONEYDUE_MAX_BODY, nothing held in
                              memory), and the worker drops any unread rest */
};

/* A cacheable route (it needs ROUTE_AUTH): its body is user $1's list,
 * kept in Redis under <list>:user:<uid> (keys.h) and read along with the
 * token in one round trip. The writes that change what a list holds
 * invalidate it for every user concerned (handlers/invalidate.c), whatever
 * lists the table declares. */
typedef struct {
    const char *list;  /* the list's name, as its key spells it */
    const char *query; /* the named query that answers it for user $1: column 0
                          the body; an optional column 1, seconds it stays true
                          (a cap on HONEYDUE_CACHE_TTL; 0: not stored) */
} route_cache;

/* A route table entry's cache: ROUTE_CACHE(list, query). */
#define ROUTE_CACHE(list, query) (&(const route_cache){(list), (query)})

struct req;
typedef int (*route_handler)(struct req *r);

typedef struct {
    const char *method;
    const char *pattern;
    route_handler handler;
    unsigned flags;
    const route_cache *cache; /* NULL: not cached */
} route;

typedef struct {
    const route *route;
    long long params[ROUTER_MAX_PARAMS];
    int nparams;
} route_match;

enum { ROUTER_FOUND = 0, ROUTER_NOT_FOUND = 404, ROUTER_BAD_METHOD = 405 };

/* Match METHOD and PATH (no query string) against TABLE[0..N). Returns
 * ROUTER_FOUND and fills *M; or ROUTER_BAD_METHOD when the path exists for
 * other methods, writing them to ALLOW ("GET, POST") when ALLOW is not NULL;
 * or ROUTER_NOT_FOUND. Pure: no allocation. */
int router_match(const route *table, size_t n, const char *method, const char *path, route_match *m,
                 char *allow, size_t allow_cap);

#endif
