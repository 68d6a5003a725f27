/*
 * common.c - helpers shared by the resource handlers.
 */
#include "handlers.h"
#include "cache.h"
#include "config.h"

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
            cache_invalidate(keys, n, (int)config_int("HONEYDUE_CACHE_TTL", 300), &r->cache_us);
            n = 0;
        }
        keys[n++] = arena_sprintf(r->a, "tasks:user:%lld", uid);
        keys[n++] = arena_sprintf(r->a, "residences:user:%lld", uid);
    }
    cache_invalidate(keys, n, (int)config_int("HONEYDUE_CACHE_TTL", 300), &r->cache_us);
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

int send_invalid(req *r, json_object *errors)
{
    return resp_error_fields(r, 422, "validation_failed", "some fields are invalid", errors);
}
