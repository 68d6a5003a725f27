/*
 * schema.h - the start-up schema check shared by the API and the worker:
 * refuse to serve on a database whose goose_db_version is missing, whose
 * latest row is not applied, or that is behind this build's migrations.
 */
#ifndef HD_SCHEMA_H
#define HD_SCHEMA_H

#include <libpq-fe.h>

/* Highest version among the migrations compiled into this binary (0: none). */
long long schema_newest_embedded(void);

/* 0 when the schema is current; otherwise logs one "schema" line saying
 * what is wrong and returns -1. */
int schema_check(PGconn *conn);

/* Connect as APP (waiting up to DB_WAIT_SECONDS for Postgres to come up)
 * and run schema_check. Returns 0 when the database is ready for this
 * build. Used by every binary that serves or works at start. */
int schema_wait_and_check(const char *app);

#endif
