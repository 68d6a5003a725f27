/*
 * params.h - request values as named-query parameters (params.c).
 */
#ifndef HD_PARAMS_H
#define HD_PARAMS_H

#include "http.h"

/* ID (r->user_id, a path parameter) as decimal text in the request's arena:
 * a named query's parameter. */
const char *param_id(req *r, long long id);

/* A boolean query parameter: 1 for "true", 0 for "false", -1 otherwise. Pure. */
int param_bool(const char *value);

/* Query parameter NAME as a positive id (its text), or NULL when absent; a
 * malformed value adds "NAME": "must be an id" to ERRORS and gives NULL. */
const char *param_query_id(req *r, const char *name, json_object *errors);

#endif
