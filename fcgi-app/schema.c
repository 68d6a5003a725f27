/*
 * schema.c - compare goose_db_version with the compiled-in migrations.
 */
#include "schema.h"
#include "embed.h"
#include "goose.h"
#include "config.h"
#include "db.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long long schema_newest_embedded(void)
{
    long long newest = 0;
    for (int i = 0; i < embed_migrations_n; i++) {
        long long v = goose_version(embed_migrations[i].path);
        if (v > newest)
            newest = v;
    }
    return newest;
}

int schema_check(PGconn *conn)
{
    int rc = -1;
    long long need = schema_newest_embedded();
    PGresult *res = PQexec(conn, "SELECT to_regclass('goose_db_version') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_line(LOG_ERROR, "schema", "cannot read the schema version: %s",
                 PQresultErrorMessage(res));
        goto out;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        log_line(LOG_ERROR, "schema",
                 "table goose_db_version is missing: the database has no schema; run "
                 "honeydue-migrate up (this build needs version %lld)",
                 need);
        goto out;
    }
    PQclear(res);
    res = PQexec(conn,
                 "SELECT (SELECT is_applied FROM goose_db_version ORDER BY id DESC LIMIT 1),"
                 " (SELECT version_id FROM goose_db_version ORDER BY id DESC LIMIT 1),"
                 " (SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied)");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_line(LOG_ERROR, "schema", "cannot read goose_db_version: %s",
                 PQresultErrorMessage(res));
        goto out;
    }
    if (PQgetisnull(res, 0, 0)) {
        log_line(LOG_ERROR, "schema", "goose_db_version is empty; run honeydue-migrate up");
        goto out;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        log_line(LOG_ERROR, "schema",
                 "the latest goose_db_version row (version %s) is not applied: a rollback or "
                 "failed migration left the schema in between; run honeydue-migrate status",
                 PQgetvalue(res, 0, 1));
        goto out;
    }
    long long have = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    if (have < need) {
        log_line(LOG_ERROR, "schema",
                 "database is at version %lld but this build needs %lld; run honeydue-migrate up",
                 have, need);
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

int schema_wait_and_check(const char *app)
{
    long wait_s = config_int("DB_WAIT_SECONDS", 30);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    PGconn *c;
    for (;;) {
        c = db_connect(app, 0);
        if (c != NULL)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= wait_s) {
            log_line(LOG_ERROR, "start", "postgres unreachable for %lds; giving up", wait_s);
            return -1;
        }
        sleep(1);
    }
    int rc = schema_check(c);
    PQfinish(c);
    return rc;
}
