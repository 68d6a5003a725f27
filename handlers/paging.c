/*
 * paging.c - ?page= and ?page_size= and the envelope of a paginated list
 * (paging.h).
 */
#include "paging.h"
#include "params.h"

#include <stdlib.h>
#include <string.h>

const char *page_parse_int(const char *value, long long def, long long max, long long *out)
{
    *out = def;
    if (value == NULL)
        return NULL;
    long long v = 0;
    const char *s = value;
    if (*s == '\0')
        return "must be a positive integer";
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return "must be a positive integer";
        if (v > max) /* keep going only to reject trailing garbage first */
            continue;
        v = v * 10 + (*s - '0');
    }
    if (v < 1)
        return "must be a positive integer";
    if (v > max)
        return "is out of range";
    *out = v;
    return NULL;
}

void page_links(const page_req *p, long long count, long long *next, long long *previous)
{
    long long last = count > 0 ? (count + p->size - 1) / p->size : 1;
    *next = p->page < last ? p->page + 1 : 0;
    if (p->page <= 1)
        *previous = 0;
    else
        *previous = p->page - 1 < last ? p->page - 1 : last;
}

int page_from_query(req *r, page_req *p, json_object *errors)
{
    int rc = 0;
    const char *msg = page_parse_int(req_query(r, "page"), 1, PAGE_MAX, &p->page);
    if (msg != NULL) {
        json_object_object_add(errors, "page", json_object_new_string(msg));
        rc = -1;
    }
    msg = page_parse_int(req_query(r, "page_size"), PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &p->size);
    if (msg != NULL) {
        json_object_object_add(errors, "page_size",
                               json_object_new_string(strcmp(msg, "is out of range") == 0
                                                          ? "must be at most 100"
                                                          : msg));
        rc = -1;
    }
    return rc;
}

const char *page_limit(req *r, const page_req *p)
{
    return param_id(r, p->size);
}

const char *page_offset(req *r, const page_req *p)
{
    return param_id(r, (p->page - 1) * p->size);
}

/* A page number for the envelope: the number, or null. */
static const char *page_ref(req *r, long long n)
{
    return n > 0 ? param_id(r, n) : "null";
}

int page_send(req *r, const page_req *p, PGresult *res, const char *extra)
{
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, 1)) {
        PQclear(res);
        return resp_not_found(r);
    }
    long long count = strtoll(PQgetvalue(res, 0, 0), NULL, 10), next, previous;
    page_links(p, count, &next, &previous);
    const char *body =
        arena_sprintf(r->a, "{\"count\":%lld,\"next\":%s,\"previous\":%s,%s%s\"results\":%s}",
                      count, page_ref(r, next), page_ref(r, previous), extra ? extra : "",
                      extra ? "," : "", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (body == NULL)
        return resp_error(r, 503, "service_unavailable", "out of memory");
    return resp_json(r, 200, body);
}
