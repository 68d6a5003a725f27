/*
 * common.c - helpers shared by the resource handlers.
 */
#include "handlers.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

const char *id_text(req *r, long long id)
{
    return arena_sprintf(r->a, "%lld", id);
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

int send_query(req *r, const char *name, int n, const char *const *params, int status)
{
    char state[6];
    PGresult *res = db_exec(name, n, params, state, &r->db_us);
    if (res == NULL)
        return resp_db_error(r, state);
    return send_row(r, res, 0, status);
}

int send_invalid(req *r, json_object *errors)
{
    return resp_error_fields(r, 422, "validation_failed", "some fields are invalid", errors);
}

const char *idem_scope(req *r)
{
    return arena_sprintf(r->a, "%s %s", r->method, r->path);
}

int idem_replay(req *r, const char **key)
{
    const char *k = req_param(r, "HTTP_IDEMPOTENCY_KEY");
    *key = NULL;
    if (k == NULL)
        return 0;
    size_t len = strlen(k);
    int printable = len >= 1 && len <= 255;
    for (size_t i = 0; printable && i < len; i++)
        printable = k[i] > ' ' && k[i] < 0x7f;
    if (!printable) {
        resp_error(r, 422, "validation_failed",
                   "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return -1;
    }
    char state[6];
    const char *params[] = {id_text(r, r->user_id), k};
    PGresult *res = db_exec("idem_lookup", 2, params, state, &r->db_us);
    if (res == NULL) {
        resp_db_error(r, state);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *key = k;
        return 0;
    }
    int rc = 1;
    if (strcmp(PQgetvalue(res, 0, 2), idem_scope(r)) != 0) {
        resp_error(r, 422, "validation_failed",
                   "this Idempotency-Key was used for another request");
        rc = -1;
    } else {
        resp_header(r, "Idempotent-Replayed", "true");
        resp_send(r, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 1),
                  (size_t)PQgetlength(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

int send_invalid_field(req *r, const char *field, const char *message)
{
    json_object *errors = json_object_new_object();
    json_object_object_add(errors, field, json_object_new_string(message));
    return send_invalid(r, errors);
}

/* ---- paginated lists ---- */

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
    return id_text(r, p->size);
}

const char *page_offset(req *r, const page_req *p)
{
    return id_text(r, (p->page - 1) * p->size);
}

/* A page number for the envelope: the number, or null. */
static const char *page_ref(req *r, long long n)
{
    return n > 0 ? id_text(r, n) : "null";
}

int send_page(req *r, const page_req *p, PGresult *res, const char *extra)
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

int query_bool(const char *value)
{
    if (value == NULL)
        return -1;
    if (strcmp(value, "true") == 0)
        return 1;
    if (strcmp(value, "false") == 0)
        return 0;
    return -1;
}

const char *query_id_param(req *r, const char *name, json_object *errors)
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
