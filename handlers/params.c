/*
 * params.c - ids and query-string values as the text parameters of named
 * queries (params.h).
 */
#include "params.h"
#include "paging.h"

#include <string.h>

const char *param_id(req *r, long long id)
{
    return arena_sprintf(r->a, "%lld", id);
}

int param_bool(const char *value)
{
    if (value == NULL)
        return -1;
    if (strcmp(value, "true") == 0)
        return 1;
    if (strcmp(value, "false") == 0)
        return 0;
    return -1;
}

const char *param_query_id(req *r, const char *name, json_object *errors)
{
    const char *v = req_query(r, name);
    long long id;
    if (v == NULL)
        return NULL;
    if (page_parse_int(v, 0, 999999999999999LL, &id) != NULL) {
        json_object_object_add(errors, name, json_object_new_string("must be an id"));
        return NULL;
    }
    return v;
}
