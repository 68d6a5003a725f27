/*
 * router.c - segment-by-segment matching of a path against patterns.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

/* Match one path against one pattern; fills params on success. */
static int match_path(const char *pat, const char *path, long long *params, int *nparams)
{
    int np = 0;
    while (*pat != '\0' && *path != '\0') {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (close == NULL)
                return 0;
            long long v = 0;
            int digits = 0;
            while (*path >= '0' && *path <= '9') {
                if (digits >= 18)
                    return 0; /* would overflow bigint; no such id */
                v = v * 10 + (*path - '0');
                path++;
                digits++;
            }
            if (digits == 0 || v == 0 || (*path != '/' && *path != '\0'))
                return 0;
            if (np >= ROUTER_MAX_PARAMS)
                return 0;
            params[np++] = v;
            pat = close + 1;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    if (*pat != '\0' || *path != '\0')
        return 0;
    *nparams = np;
    return 1;
}

int router_match(const route *table, size_t n, const char *method, const char *path, route_match *m,
                 char *allow, size_t allow_cap)
{
    int path_found = 0;
    size_t alen = 0;
    if (allow != NULL && allow_cap > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        long long params[ROUTER_MAX_PARAMS] = {0};
        int np = 0;
        if (!match_path(table[i].pattern, path, params, &np))
            continue;
        if (strcmp(table[i].method, method) == 0) {
            m->route = &table[i];
            memcpy(m->params, params, sizeof(params));
            m->nparams = np;
            return ROUTER_FOUND;
        }
        path_found = 1;
        if (allow != NULL && alen < allow_cap) {
            int w =
                snprintf(allow + alen, allow_cap - alen, "%s%s", alen ? ", " : "", table[i].method);
            if (w > 0)
                alen += (size_t)w;
        }
    }
    return path_found ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}
