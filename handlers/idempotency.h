/*
 * idempotency.h - Idempotency-Key for writes that create (idempotency.c).
 */
#ifndef HD_IDEMPOTENCY_H
#define HD_IDEMPOTENCY_H

#include "http.h"

/* Idempotency-Key. Returns 0 with *KEY set to the request's key (NULL when
 * it has none) when the write should run, passing *KEY and idem_scope(r)
 * to its query so the answer is stored with it; or sends the stored answer
 * of an earlier request with that key (1), or an error (-1: 422 when the
 * key is malformed or was used for another request, 503). */
int idem_replay(req *r, const char **key);

/* 1 when K is a well-formed Idempotency-Key: 1 to 255 visible ASCII
 * characters. Pure. */
int idem_key_valid(const char *k);

/* What a key is bound to: "METHOD PATH". */
const char *idem_scope(req *r);

#endif
