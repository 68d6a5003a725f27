/*
 * dbconnect.h - pure helpers of db_connect (see db.h), for tests.
 */
#ifndef HD_DBCONNECT_H
#define HD_DBCONNECT_H

#include <stddef.h>

/* Write HOST to OUT, stripping a "-pooler" suffix from its first
 * dot-separated label (managed Postgres names its pooler that way).
 * Returns 1 when it stripped, 0 when OUT is HOST unchanged, -1 when OUT is
 * too small. */
int db_direct_host(const char *host, char *out, size_t cap);

#endif
