/*
 * sqlfile.h - named queries in sql/NAME.sql.
 *
 * A file holds blocks that each start with a "-- name: NAME" line; the block's
 * text up to the next such line (trailing blanks and one final ';' removed)
 * is the statement. Other comment lines stay in the statement, where Postgres
 * ignores them. Names are unique across all files.
 */
#ifndef HD_SQLFILE_H
#define HD_SQLFILE_H

#include <stddef.h>

typedef struct {
    char *name;
    char *sql;
} sql_query;

/* Append the queries of TEXT (from file PATH, for messages) to Q and N,
 * growing the malloc'd array. Returns 0, or -1 with a message in ERR
 * (a block without a statement, a duplicate name, text before the first
 * name). */
int sqlfile_parse(const char *path, const char *text, sql_query **q, int *n, char *err,
                  size_t errcap);

void sqlfile_free(sql_query *q, int n);

#endif
