/*
 * goose.h - the goose migration file format, parsed (pure, no I/O).
 *
 *   -- +goose Up / -- +goose Down           the two sections
 *   -- +goose StatementBegin / StatementEnd  one statement, taken verbatim
 *   -- +goose NO TRANSACTION                 run this file outside a transaction
 *
 * Outside StatementBegin/End blocks statements end at a ';' that is not
 * inside a string (an E'' string's backslash escapes included), a quoted
 * identifier, a comment or a dollar-quoted body.
 */
#ifndef HD_GOOSE_H
#define HD_GOOSE_H

#include <stddef.h>

typedef struct {
    char **stmts;
    int n;
} goose_section;

typedef struct {
    goose_section up, down;
    int no_transaction;
} goose_migration;

/* Parse TEXT into M. Returns 0, or -1 with a message in ERR. Free with
 * goose_free() in both cases. */
int goose_parse(const char *text, goose_migration *m, char *err, size_t errcap);
void goose_free(goose_migration *m);

/* The version of a migration file name ("000001_init.sql" -> 1, also
 * goose's timestamp names), or -1 when NAME is not a migration file. */
long long goose_version(const char *name);

#endif
