/*
 * invalidate.c - a write's side of the cached per-user lists (DESIGN §7):
 * every write that changes what users see drops their lists, all of them,
 * as the route table declares them (route_cache in routes.c). A route that
 * becomes cacheable needs no edit here.
 */
#include "handlers.h"
#include "cache.h"
#include "keys.h"
#include "listcache.h"

#include <stdlib.h>

#define BATCH 128 /* keys per round trip */

void invalidate_members(req *r, const char *members)
{
    if (members == NULL || *members == '\0')
        return;
    const char *lists[LISTCACHE_LISTS_MAX], *keys[BATCH];
    int nlists = listcache_lists(routes, routes_n, lists, LISTCACHE_LISTS_MAX), n = 0;
    if (nlists < 0) /* listcache_setup refused to start with such a table */
        return;
    const char *s = members;
    while (*s != '\0') {
        while (*s != '\0' && (*s < '0' || *s > '9'))
            s++;
        if (*s == '\0')
            break;
        char *end;
        long long uid = strtoll(s, &end, 10);
        s = end;
        if (n + nlists > BATCH) {
            cache_invalidate(keys, n, cache_ttl(), &r->cache_us);
            n = 0;
        }
        for (int i = 0; i < nlists; i++) {
            const char *k = keys_user_list(r->a, lists[i], uid);
            if (k != NULL)
                keys[n++] = k;
        }
    }
    cache_invalidate(keys, n, cache_ttl(), &r->cache_us);
}
