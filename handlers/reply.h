/*
 * reply.h - the answers most handlers end with (reply.c).
 */
#ifndef HD_REPLY_H
#define HD_REPLY_H

#include <libpq-fe.h>

#include "http.h"

/* Send column COL of the first row of RES (a JSON text) with STATUS, or the
 * 404 when RES has no row; clears RES. */
int reply_row(req *r, PGresult *res, int col, int status);

/* Run named query NAME and send its first column (a JSON text) with
 * STATUS, the 404 when it has no row, or the database error. */
int reply_query(req *r, const char *name, int n, const char *const *params, int status);

/* Send a 429 throttled telling the client to wait SECONDS (Retry-After). */
int reply_throttled(req *r, int seconds);

/* Send a 422 validation_failed with ERRORS (taken). */
int reply_invalid(req *r, json_object *errors);

/* Send a 422 validation_failed naming one FIELD with MESSAGE. */
int reply_invalid_field(req *r, const char *field, const char *message);

#endif
