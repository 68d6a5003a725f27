/*
 * idempotency.c - Idempotency-Key on the writes that create something: the
 * first request with a key runs and its answer is stored with the key (by
 * the write's own query, in its transaction); a retry with the same key
 * gets that answer again instead of a second object (idempotency.h).
 */
#include "idempotency.h"
#include "db.h"
#include "params.h"

#include <stdlib.h>
#include <string.h>

const char *idem_scope(req *r)
{
    return arena_sprintf(r->a, "%s %s", r->method, r->path);
}

int idem_key_valid(const char *k)
{
    size_t len = strlen(k);
    int printable = len >= 1 && len <= 255;
    for (size_t i = 0; printable && i < len; i++)
        printable = k[i] > ' ' && k[i] < 0x7f;
    return printable;
}

int idem_replay(req *r, const char **key)
{
    const char *k = req_param(r, "HTTP_IDEMPOTENCY_KEY");
    *key = NULL;
    if (k == NULL)
        return 0;
    if (!idem_key_valid(k)) {
        resp_error(r, 422, "validation_failed",
                   "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return -1;
    }
    char state[6];
    const char *params[] = {param_id(r, r->user_id), k};
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
