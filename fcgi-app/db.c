/*
 * db.c - this process's connection and its named queries (see db.h).
 *
 * The queries are parsed once from the embedded sql/ files at the first
 * db_open(); each (re)connection prepares all of them, so a request never
 * pays for parsing or planning setup. With DB_PREPARED=off the same text
 * runs through PQexecParams, which transaction-mode poolers accept.
 */
#include "db.h"
#include "config.h"
#include "embed.h"
#include "log.h"
#include "sqlfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RECONNECT_EVERY_MS 500

static PGconn *conn;
static sql_query *queries;
static int nqueries;
static int prepared = 1;
static long long next_connect_ms;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int load_queries(void)
{
    if (queries != NULL)
        return 0;
    char err[256];
    for (int i = 0; i < embed_sql_n; i++) {
        if (sqlfile_parse(embed_sql[i].path, embed_sql[i].text ? embed_sql[i].text : "", &queries,
                          &nqueries, err, sizeof(err)) != 0) {
            log_line(LOG_ERROR, "db", "%s", err);
            return -1;
        }
    }
    return 0;
}

static int prepare_all(PGconn *c)
{
    for (int i = 0; i < nqueries; i++) {
        PGresult *res = PQprepare(c, queries[i].name, queries[i].sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            log_line(LOG_ERROR, "db", "cannot prepare %s: %s", queries[i].name,
                     PQresultErrorMessage(res));
        PQclear(res);
        if (!ok)
            return -1;
    }
    return 0;
}

static const sql_query *find_query(const char *name);
static PGresult *run(const sql_query *q, int n, const char *const *params);

/* sql/session.sql: one large allocation in the new backend, so that glibc
 * there stops trimming its heap after every list it builds. Best effort. */
static void warm_heap(void)
{
    const sql_query *q = find_query("session_warm_heap");
    const char *bytes = "4194304";
    if (q == NULL)
        return;
    PGresult *res = run(q, 1, &bytes);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        log_line(LOG_WARN, "db", "session_warm_heap: %s", PQresultErrorMessage(res));
    PQclear(res);
}

int db_open(void)
{
    const char *p = config_get("DB_PREPARED");
    prepared =
        !(p && (strcasecmp(p, "off") == 0 || strcmp(p, "0") == 0 || strcasecmp(p, "false") == 0));
    if (load_queries() != 0)
        return -1;
    if (conn != NULL) {
        PQfinish(conn);
        conn = NULL;
    }
    PGconn *c = db_connect("honeydue-fcgi", 0);
    if (c == NULL)
        return -1;
    if (prepared && prepare_all(c) != 0) {
        PQfinish(c);
        return -1;
    }
    conn = c;
    warm_heap();
    return 0;
}

void db_close(void)
{
    if (conn != NULL)
        PQfinish(conn);
    conn = NULL;
    sqlfile_free(queries, nqueries);
    queries = NULL;
    nqueries = 0;
}

int db_ok(void)
{
    return conn != NULL && PQstatus(conn) == CONNECTION_OK;
}

PGconn *db_conn(void)
{
    return conn;
}

/* A usable connection, reconnecting (rate-limited) when it was lost. */
static PGconn *db_ready(void)
{
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        return conn;
    long long now = now_ms();
    if (now < next_connect_ms)
        return NULL;
    next_connect_ms = now + RECONNECT_EVERY_MS;
    if (db_open() != 0)
        return NULL;
    log_line(LOG_INFO, "db", "reconnected to postgres");
    return conn;
}

static const sql_query *find_query(const char *name)
{
    for (int i = 0; i < nqueries; i++)
        if (strcmp(queries[i].name, name) == 0)
            return &queries[i];
    return NULL;
}

static PGresult *run(const sql_query *q, int n, const char *const *params)
{
    if (prepared)
        return PQexecPrepared(conn, q->name, n, params, NULL, NULL, 0);
    return PQexecParams(conn, q->sql, n, NULL, params, NULL, NULL, 0);
}

PGresult *db_exec(const char *name, int n, const char *const *params, char sqlstate[6],
                  long *elapsed_us)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (sqlstate)
        sqlstate[0] = '\0';
    PGresult *res = NULL;
    const sql_query *q = find_query(name);
    if (q == NULL) {
        log_line(LOG_ERROR, "db", "no query named %s", name);
        goto done;
    }
    if (db_ready() == NULL)
        goto done;
    res = run(q, n, params);
    /* The connection died (Postgres restarted since the last request, or the
     * backend was terminated under this statement). A query its sql/ file
     * marks "retry" runs once more on a new connection; any other fails
     * (503), since it may have committed before the connection went. */
    if (PQstatus(conn) == CONNECTION_BAD) {
        PQclear(res);
        res = NULL;
        log_line(LOG_WARN, "db", "connection to postgres lost during %s; %s", name,
                 (q->flags & SQL_RETRY) ? "running it again on a new connection"
                                        : "not run again (a write)");
        next_connect_ms = 0;
        if ((q->flags & SQL_RETRY) && db_ready() != NULL)
            res = run(q, n, params);
        else if (conn != NULL && PQstatus(conn) == CONNECTION_BAD) {
            PQfinish(conn);
            conn = NULL;
        }
        if (res == NULL)
            goto done;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (sqlstate && code)
            snprintf(sqlstate, 6, "%s", code);
        /* Constraint and data errors are the caller's to report; others are ours. */
        if (code == NULL || (strncmp(code, "23", 2) != 0 && strncmp(code, "22", 2) != 0))
            log_line(LOG_ERROR, "db", "%s failed: %s", name, PQresultErrorMessage(res));
        PQclear(res);
        res = NULL;
        if (PQstatus(conn) == CONNECTION_BAD) {
            PQfinish(conn);
            conn = NULL;
        }
    }
done:
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (elapsed_us)
        *elapsed_us += (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    return res;
}
