/*
 * db.h - the process's Postgres connection and its named queries.
 *
 * Each process (API worker, job worker) owns one connection, opened at start
 * and kept; every named query from sql/ is prepared once per connection
 * (or, with DB_PREPARED=off, run as an unnamed parameterized statement, for
 * transaction-mode poolers). A lost connection is re-opened by the next
 * db_exec; nothing here exits the process.
 */
#ifndef HD_DB_H
#define HD_DB_H

#include <libpq-fe.h>

/* Open a connection from the DB_* configuration, with TimeZone=UTC and the
 * configured statement_timeout. DIRECT strips a "-pooler" suffix from the
 * first label of DB_HOST (migrations must bypass the pooler) and logs that
 * it did. Returns NULL after logging (never the password) on failure. */
PGconn *db_connect(const char *application_name, int direct);

/* Open this process's connection and prepare every named query.
 * Returns 0, or -1 after logging. */
int db_open(void);

/* Close this process's connection (at exit). */
void db_close(void);

/* Run named query NAME with N text parameters (NULL for SQL NULL).
 * Reconnects first if the connection was lost. When the connection turns
 * out to be lost while the query runs, a query marked "retry" in sql/ (see
 * sqlfile.h) is run once more on a new connection; any other fails. Returns a PGresult with
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK that the caller must PQclear, or NULL
 * when the database is unavailable or the statement failed (logged; *SQLSTATE
 * receives the 5-char code when there is one, else ""). Adds the time spent
 * to *ELAPSED_US when that is not NULL. */
PGresult *db_exec(const char *name, int n, const char *const *params, char sqlstate[6],
                  long *elapsed_us);

/* 1 when the connection is up (cheap: no round trip). */
int db_ok(void);

/* The connection, for the rare caller that needs libpq directly (schema
 * check, readiness). May be NULL. */
PGconn *db_conn(void);

#endif
