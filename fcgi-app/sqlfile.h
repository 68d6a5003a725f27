/*
 * sqlfile.h - named queries in sql/NAME.sql.
 *
 * A file holds blocks that each start with a "-- name: NAME" line; the block's
 * text up to the next such line (trailing blanks and one final ';' removed)
 * is the statement. Other comment lines stay in the statement, where Postgres
 * ignores them. Names are unique across all files.
 *
 * Annotations follow the name on its line, separated by blanks:
 *
 *   -- name: tasks_list retry
 *
 *   retry  the statement is safe to run a second time: when its connection
 *          turns out to be lost (Postgres restarted, the backend was
 *          terminated), db.c runs it once more on a new connection instead of
 *          answering 503. For reads, and for a write only when a second run
 *          changes nothing and answers the same whether or not the first one
 *          committed (its comment then says why). Without it a lost
 *          connection fails the statement: nobody knows whether it ran.
 *
 * Any other word after the name is an error (as the migrator refuses an
 * unknown goose annotation), so that a misspelt "retry" cannot quietly mean
 * "not safe". List the marked queries with: grep -n '^-- name: .* retry' sql/
 */
#ifndef HD_SQLFILE_H
#define HD_SQLFILE_H

#include <stddef.h>

/* sql_query.flags: the annotations of its "-- name:" line. */
#define SQL_RETRY 1u /* "retry": safe to run again on a new connection */

typedef struct {
    char *name;
    char *sql;
    unsigned flags; /* SQL_* */
} sql_query;

/* Append the queries of TEXT (from file PATH, for messages) to Q and N,
 * growing the malloc'd array. Returns 0, or -1 with a message in ERR
 * (a block without a statement, a duplicate name, text before the first
 * name, a name line with an unknown or repeated annotation). */
int sqlfile_parse(const char *path, const char *text, sql_query **q, int *n, char *err,
                  size_t errcap);

void sqlfile_free(sql_query *q, int n);

#endif
