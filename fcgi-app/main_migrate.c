/*
 * main_migrate.c - honeydue-migrate: goose-compatible schema migrations.
 *
 *   honeydue-migrate [-dir DIR] up | up-by-one | up-to V | down | down-to V |
 *                               redo | reset | status | version | create NAME | validate
 *
 * Bookkeeping is exactly pressly/goose v3's (DESIGN §6), so this tool and the
 * goose CLI can be used on the same database. Each migration runs in its own
 * transaction with its goose_db_version row (unless NO TRANSACTION); the
 * whole run holds an advisory lock so two migrate Jobs never interleave.
 * It always connects to the direct endpoint, never through a "-pooler".
 */
#include "config.h"
#include "db.h"
#include "goose.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOCK_KEY "7204185123"

typedef struct {
    long long version;
    char *path;
    char *name;
} mfile;

static mfile *files;
static int nfiles;

static void usage(FILE *f)
{
    fprintf(f, "usage: honeydue-migrate [-dir DIR] COMMAND\n"
               "commands: up, up-by-one, up-to V, down, down-to V, redo, reset,\n"
               "          status, version, create NAME, validate\n"
               "Connection settings come from DB_* (docs/operations.md); DIR defaults to\n"
               "HONEYDUE_MIGRATIONS_DIR or ./migrations.\n");
}

static int cmp_files(const void *a, const void *b)
{
    long long x = ((const mfile *)a)->version, y = ((const mfile *)b)->version;
    return x < y ? -1 : x > y;
}

static int load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_line(LOG_ERROR, "migrate", "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long long v = goose_version(e->d_name);
        if (v < 0)
            continue;
        mfile *nf = realloc(files, sizeof(*files) * (size_t)(nfiles + 1));
        if (nf == NULL)
            break;
        files = nf;
        files[nfiles].version = v;
        files[nfiles].name = strdup(e->d_name);
        size_t plen = strlen(dir) + strlen(e->d_name) + 2;
        files[nfiles].path = malloc(plen);
        if (files[nfiles].name == NULL || files[nfiles].path == NULL) {
            free(files[nfiles].name);
            free(files[nfiles].path);
            break;
        }
        snprintf(files[nfiles].path, plen, "%s/%s", dir, e->d_name);
        nfiles++;
    }
    closedir(d);
    if (nfiles > 1)
        qsort(files, (size_t)nfiles, sizeof(*files), cmp_files);
    for (int i = 1; i < nfiles; i++) {
        if (files[i].version == files[i - 1].version) {
            log_line(LOG_ERROR, "migrate", "duplicate version %lld: %s and %s", files[i].version,
                     files[i - 1].name, files[i].name);
            return -1;
        }
    }
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static int parse_file(const mfile *mf, goose_migration *m)
{
    char *text = read_file(mf->path), err[256];
    if (text == NULL) {
        log_line(LOG_ERROR, "migrate", "cannot read %s", mf->path);
        memset(m, 0, sizeof(*m));
        return -1;
    }
    int rc = goose_parse(text, m, err, sizeof(err));
    free(text);
    if (rc != 0)
        log_line(LOG_ERROR, "migrate", "%s: %s", mf->name, err);
    return rc;
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        log_line(LOG_ERROR, "migrate", "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static int exec_version(PGconn *c, const char *sql, long long v)
{
    char vs[24];
    snprintf(vs, sizeof(vs), "%lld", v);
    const char *p[] = {vs};
    PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        log_line(LOG_ERROR, "migrate", "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static int ensure_table(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT to_regclass('goose_db_version') IS NOT NULL");
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (exists)
        return 0;
    return exec_ok(c, "BEGIN;"
                      "CREATE TABLE goose_db_version (id integer PRIMARY KEY GENERATED BY DEFAULT "
                      "AS IDENTITY, version_id bigint NOT NULL, is_applied boolean NOT NULL, "
                      "tstamp timestamp NOT NULL DEFAULT now());"
                      "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true);"
                      "COMMIT");
}

/* Applied versions: those whose latest row says applied, with its time. */
typedef struct {
    long long version;
    char tstamp[32];
} applied_row;

static int load_applied(PGconn *c, applied_row **out, int *n)
{
    *out = NULL;
    *n = 0;
    PGresult *r = PQexec(c, "SELECT version_id, to_char(tstamp, 'YYYY-MM-DD HH24:MI:SS') FROM "
                            "(SELECT DISTINCT ON (version_id) version_id, is_applied, tstamp "
                            "FROM goose_db_version ORDER BY version_id, id DESC) v "
                            "WHERE is_applied AND version_id > 0 ORDER BY version_id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_line(LOG_ERROR, "migrate", "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r);
    *out = calloc((size_t)rows + 1, sizeof(applied_row));
    for (int i = 0; i < rows && *out; i++) {
        (*out)[i].version = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        snprintf((*out)[i].tstamp, sizeof((*out)[i].tstamp), "%s", PQgetvalue(r, i, 1));
    }
    *n = *out ? rows : 0;
    PQclear(r);
    return *out ? 0 : -1;
}

static const applied_row *find_applied(const applied_row *a, int n, long long v)
{
    for (int i = 0; i < n; i++)
        if (a[i].version == v)
            return &a[i];
    return NULL;
}

static const mfile *find_file(long long v)
{
    for (int i = 0; i < nfiles; i++)
        if (files[i].version == v)
            return &files[i];
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Run one migration in direction UP (1) or down (0). */
static int run_one(PGconn *c, const mfile *mf, int up)
{
    goose_migration m;
    if (parse_file(mf, &m) != 0) {
        goose_free(&m);
        return -1;
    }
    double t0 = now_ms();
    goose_section *sec = up ? &m.up : &m.down;
    int tx = !m.no_transaction, rc = -1;
    if (tx && exec_ok(c, "BEGIN") != 0)
        goto out;
    for (int i = 0; i < sec->n; i++) {
        if (exec_ok(c, sec->stmts[i]) != 0) {
            log_line(LOG_ERROR, "migrate", "%s: statement %d of %s failed; %s", mf->name, i + 1,
                     up ? "Up" : "Down", tx ? "rolled back" : "NOT rolled back (NO TRANSACTION)");
            goto fail;
        }
    }
    if (exec_version(c,
                     up ? "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)"
                        : "DELETE FROM goose_db_version WHERE version_id = $1",
                     mf->version) != 0)
        goto fail;
    if (tx && exec_ok(c, "COMMIT") != 0)
        goto out;
    log_line(LOG_INFO, "migrate", "%s %s (version %lld) in %.1f ms", up ? "applied" : "rolled back",
             mf->name, mf->version, now_ms() - t0);
    rc = 0;
    goto out;
fail:
    if (tx)
        exec_ok(c, "ROLLBACK");
out:
    goose_free(&m);
    return rc;
}

static long long current_version(const applied_row *a, int n)
{
    return n > 0 ? a[n - 1].version : 0;
}

/* Apply pending migrations with version <= TARGET; at most LIMIT (0: all). */
static int cmd_up(PGconn *c, long long target, int limit)
{
    applied_row *a;
    int n;
    if (load_applied(c, &a, &n) != 0)
        return -1;
    long long cur = current_version(a, n);
    int rc = 0, done = 0;
    for (int i = 0; i < nfiles && rc == 0; i++) {
        if (files[i].version > target || (limit && done >= limit))
            break;
        if (find_applied(a, n, files[i].version))
            continue;
        if (files[i].version < cur) {
            log_line(LOG_ERROR, "migrate",
                     "%s is older than the current version %lld but not applied (missing "
                     "migration); apply it by hand or renumber it",
                     files[i].name, cur);
            rc = -1;
            break;
        }
        rc = run_one(c, &files[i], 1);
        done++;
    }
    if (rc == 0 && done == 0)
        log_line(LOG_INFO, "migrate", "no migrations to run; current version %lld", cur);
    free(a);
    return rc;
}

/* Roll back applied migrations above TARGET, newest first; at most LIMIT. */
static int cmd_down(PGconn *c, long long target, int limit)
{
    applied_row *a;
    int n;
    if (load_applied(c, &a, &n) != 0)
        return -1;
    int rc = 0, done = 0;
    for (int i = n - 1; i >= 0 && rc == 0; i--) {
        if (a[i].version <= target || (limit && done >= limit))
            break;
        const mfile *mf = find_file(a[i].version);
        if (mf == NULL) {
            log_line(LOG_ERROR, "migrate",
                     "version %lld is applied but has no file in the directory", a[i].version);
            rc = -1;
            break;
        }
        rc = run_one(c, mf, 0);
        done++;
    }
    if (rc == 0 && done == 0)
        log_line(LOG_INFO, "migrate", "no migrations to roll back");
    free(a);
    return rc;
}

static int cmd_status(PGconn *c)
{
    applied_row *a;
    int n;
    if (load_applied(c, &a, &n) != 0)
        return -1;
    printf("    Applied At                  Migration\n");
    printf("    =======================================\n");
    for (int i = 0; i < nfiles; i++) {
        const applied_row *r = find_applied(a, n, files[i].version);
        printf("    %-27s -- %s\n", r ? r->tstamp : "Pending", files[i].name);
    }
    free(a);
    return 0;
}

static int cmd_version(PGconn *c)
{
    applied_row *a;
    int n;
    if (load_applied(c, &a, &n) != 0)
        return -1;
    printf("goose: version %lld\n", current_version(a, n));
    free(a);
    return 0;
}

static int cmd_create(const char *dir, const char *name)
{
    if (name == NULL || *name == '\0')
        return 2;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            fprintf(stderr, "honeydue-migrate: NAME may hold only a-z, 0-9 and _\n");
            return 2;
        }
    long long next = nfiles ? files[nfiles - 1].version + 1 : 1;
    char path[1024];
    snprintf(path, sizeof(path), "%s/%06lld_%s.sql", dir, next, name);
    FILE *f = fopen(path, "wx");
    if (f == NULL) {
        log_line(LOG_ERROR, "migrate", "cannot create %s: %s", path, strerror(errno));
        return 1;
    }
    fprintf(f, "-- +goose Up\n-- +goose StatementBegin\nSELECT 'up SQL query';\n"
               "-- +goose StatementEnd\n\n-- +goose Down\n-- +goose StatementBegin\n"
               "SELECT 'down SQL query';\n-- +goose StatementEnd\n");
    fclose(f);
    printf("Created new file: %s\n", path);
    return 0;
}

static int cmd_validate(void)
{
    int rc = 0;
    for (int i = 0; i < nfiles; i++) {
        goose_migration m;
        if (parse_file(&files[i], &m) != 0)
            rc = 1;
        goose_free(&m);
    }
    if (rc == 0)
        printf("%d migrations are valid\n", nfiles);
    return rc;
}

/* The advisory lock that serializes migrators; says so when it has to wait. */
static int take_lock(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT pg_try_advisory_lock(" LOCK_KEY ")");
    int got = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (got)
        return 0;
    log_line(LOG_INFO, "migrate", "another migration holds the lock; waiting for it");
    return exec_ok(c, "SELECT pg_advisory_lock(" LOCK_KEY ")");
}

static int parse_version(const char *s, long long *v)
{
    char *end;
    if (s == NULL)
        return -1;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0' && *v >= 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (config_load() != 0)
        return 1;
    log_set_level(config_get("LOG_LEVEL"));
    const char *dir = config_get("HONEYDUE_MIGRATIONS_DIR");
    int i = 1;
    if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (i + 1 < argc && (strcmp(argv[i], "-dir") == 0 || strcmp(argv[i], "--dir") == 0)) {
        dir = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
    int needs_arg = !strcmp(cmd, "up-to") || !strcmp(cmd, "down-to") || !strcmp(cmd, "create");
    if ((needs_arg && arg == NULL) || (!needs_arg && arg != NULL)) {
        usage(stderr);
        return 2;
    }
    long long v = 0;
    if ((!strcmp(cmd, "up-to") || !strcmp(cmd, "down-to")) && parse_version(arg, &v) != 0) {
        fprintf(stderr, "honeydue-migrate: %s needs a version number\n", cmd);
        return 2;
    }
    static const char *const known[] = {"up",      "up-by-one", "up-to",    "down",
                                        "down-to", "redo",      "reset",    "status",
                                        "version", "create",    "validate", NULL};
    int ok = 0;
    for (const char *const *k = known; *k; k++)
        ok |= !strcmp(*k, cmd);
    if (!ok) {
        usage(stderr);
        return 2;
    }
    if (load_dir(dir) != 0)
        return 1;
    int rc;
    if (!strcmp(cmd, "create"))
        rc = cmd_create(dir, arg);
    else if (!strcmp(cmd, "validate"))
        rc = cmd_validate();
    else {
        static const char *const required[] = {"DB_HOST", "DB_NAME", "DB_USER", NULL};
        if (config_require(required) != 0)
            return 1;
        PGconn *c = db_connect("honeydue-migrate", 1);
        if (c == NULL)
            return 1;
        /* A migration may take longer than the API's statement_timeout; a
         * second migrator waits for the first instead of failing. */
        rc = exec_ok(c, "SET client_min_messages = warning") == 0 &&
                     exec_ok(c, "SET statement_timeout = 0") == 0 && take_lock(c) == 0 &&
                     ensure_table(c) == 0
                 ? 0
                 : -1;
        if (rc == 0) {
            if (!strcmp(cmd, "up"))
                rc = cmd_up(c, INT64_MAX, 0);
            else if (!strcmp(cmd, "up-by-one"))
                rc = cmd_up(c, INT64_MAX, 1);
            else if (!strcmp(cmd, "up-to"))
                rc = cmd_up(c, v, 0);
            else if (!strcmp(cmd, "down"))
                rc = cmd_down(c, 0, 1);
            else if (!strcmp(cmd, "down-to"))
                rc = cmd_down(c, v, 0);
            else if (!strcmp(cmd, "reset"))
                rc = cmd_down(c, 0, 0);
            else if (!strcmp(cmd, "redo")) {
                applied_row *a;
                int n;
                rc = load_applied(c, &a, &n);
                if (rc == 0 && n == 0) {
                    log_line(LOG_ERROR, "migrate", "nothing to redo");
                    rc = -1;
                } else if (rc == 0) {
                    long long cur = current_version(a, n);
                    rc = cmd_down(c, 0, 1);
                    if (rc == 0)
                        rc = cmd_up(c, cur, 1);
                }
                free(a);
            } else if (!strcmp(cmd, "status"))
                rc = cmd_status(c);
            else
                rc = cmd_version(c);
        }
        PQfinish(c);
        rc = rc == 0 ? 0 : 1;
    }
    for (int k = 0; k < nfiles; k++) {
        free(files[k].path);
        free(files[k].name);
    }
    free(files);
    return rc;
}
