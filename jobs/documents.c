/*
 * documents.c - the documents' files, from the worker's side.
 *
 * documents.sweep: remove the files no row points at any more. The trigger
 * on document_document records each released name in
 * document_filedeletion in the same transaction as the delete or the
 * replacement; this job removes the file (an unlink, or a DeleteObject in
 * the bucket) and only then forgets the name, so a storage that is
 * unreachable loses nothing: the job is retried with back-off, and its
 * periodic run (HONEYDUE_DOCUMENT_SWEEP_EVERY_SECONDS) catches a name whose
 * enqueue was lost. The API enqueues it after every write that releases a
 * file (handlers/documents.c, documents_sweep).
 *
 * documents.reconcile: compare the storage with the rows, both ways, with
 * memory bounded by one page of the storage's listing (storage.h: names in
 * byte order, a page at a time). For each page, Postgres is asked (the
 * page's names as one text array) which of them no row names: an orphan
 * (an upload whose row never committed, a put that landed after its
 * timeout) older than HONEYDUE_DOCUMENT_ORPHAN_GRACE_SECONDS is removed;
 * a younger one may be an upload whose row is about to commit. And which
 * rows name a file in the page's range of names (after the previous page's
 * last, up to this page's last; after the last page, to the end) that the
 * page does not hold: that file is missing, logged (the first
 * MISSING_LOGGED, then the total) and counted. Only rows uploaded before
 * the listing began are checked: a file stored during the run may not be
 * in it. The numbers go to Redis for /metrics (consumer_documents_record).
 * It runs every HONEYDUE_DOCUMENT_RECONCILE_EVERY_SECONDS (periodic.c).
 */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "consumer.h"
#include "db.h"
#include "log.h"
#include "storage.h"

#define SWEEP_BATCH 100 /* documents_released's LIMIT */

static const char *rc_text(storage_rc rc)
{
    return rc == STORAGE_UNAVAILABLE ? "unavailable"
           : rc == STORAGE_REFUSED   ? "refused"
                                     : "failed";
}

int job_documents_sweep(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    (void)c;
    (void)payload;
    if (!storage_ready()) {
        snprintf(err, errcap, "file storage (%s) is not configured", storage_backend());
        return JOB_RETRY;
    }
    for (;;) {
        char state[6] = "";
        PGresult *res = db_exec("documents_released", 0, NULL, state, NULL);
        if (res == NULL) {
            snprintf(err, errcap, "documents_released failed (sqlstate %s)",
                     state[0] ? state : "none");
            return JOB_RETRY;
        }
        int n = PQntuples(res), left = 0;
        storage_rc last = STORAGE_OK;
        /* The names removed, as a Postgres text array literal: {"a","b"}. A
         * name that is not a stored file's is forgotten too (nothing could
         * ever remove it); document_filedeletion's are varchar(64). */
        char done[SWEEP_BATCH * (64 * 2 + 3) + 3];
        size_t len = 0;
        done[len++] = '{';
        for (int i = 0; i < n && i < SWEEP_BATCH; i++) {
            const char *name = PQgetvalue(res, i, 0);
            if (!storage_name_valid(name)) {
                log_line(LOG_ERROR, "documents",
                         "document_filedeletion holds a name that is not a stored file's: forgotten");
            } else {
                storage_rc rc = storage_remove(name);
                if (rc != STORAGE_OK) { /* the rest would fail (or stall) alike */
                    last = rc;
                    left = n - i;
                    break;
                }
            }
            if (len > 1)
                done[len++] = ',';
            done[len++] = '"';
            for (const char *p = name; *p != '\0' && p - name < 64; p++) {
                if (*p == '"' || *p == '\\')
                    done[len++] = '\\';
                done[len++] = *p;
            }
            done[len++] = '"';
        }
        PQclear(res);
        done[len++] = '}';
        done[len] = '\0';
        if (len > 2) {
            const char *params[] = {done};
            PGresult *f = db_exec("documents_forget", 1, params, state, NULL);
            if (f == NULL) {
                snprintf(err, errcap, "documents_forget failed (sqlstate %s)",
                         state[0] ? state : "none");
                return JOB_RETRY;
            }
            PQclear(f);
        }
        if (left > 0) {
            snprintf(err, errcap, "%d file(s) not removed: the storage is %s", left, rc_text(last));
            return JOB_RETRY;
        }
        job_heartbeat();
        if (n < SWEEP_BATCH)
            return JOB_OK;
    }
}

/* ---- documents.reconcile ---------------------------------------------------- */

#define MISSING_LOGGED 100 /* log lines per run naming a missing file; then the total */
#define REMOVED_LOGGED 100 /* log lines per run naming a removed orphan */

/* What one run has found so far. */
typedef struct {
    const char *since; /* documents_reconcile_start: rows uploaded before it are checked */
    time_t old_before; /* files older than this may be orphans */
    long long files, removed, missing;
    int missing_logged;
} reconcile_run;

/* The names of E[0..N) whose mtime is before BEFORE (0: every one) as a
 * Postgres text array literal, {a,b}: a stored file's name is 32 hex
 * characters, nothing to quote. malloc'd (NULL: no memory); *COUNT names. */
static char *names_array(const storage_entry *e, size_t n, time_t before, size_t *count)
{
    char *out = malloc(n * (STORAGE_NAME_LEN + 1) + 3);
    if (out == NULL)
        return NULL;
    size_t len = 0;
    *count = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (before != 0 && e[i].mtime >= before)
            continue;
        if (*count > 0)
            out[len++] = ',';
        memcpy(out + len, e[i].name, STORAGE_NAME_LEN);
        len += STORAGE_NAME_LEN;
        (*count)++;
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

/* Remove the files of page E[0..N) that are old enough and that no row
 * names. Returns 0, or -1 with the reason in ERR (retry). */
static int remove_orphans(reconcile_run *run, const storage_entry *e, size_t n, char *err,
                          size_t errcap)
{
    size_t count;
    char *old = names_array(e, n, run->old_before, &count);
    if (old == NULL) {
        snprintf(err, errcap, "no memory for a page of names");
        return -1;
    }
    if (count == 0) {
        free(old);
        return 0;
    }
    char state[6] = "";
    const char *params[] = {old};
    PGresult *res = db_exec("documents_unreferenced", 1, params, state, NULL);
    free(old);
    if (res == NULL) {
        snprintf(err, errcap, "documents_unreferenced failed (sqlstate %s)",
                 state[0] ? state : "none");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        storage_rc src = storage_remove(name);
        if (src != STORAGE_OK) {
            snprintf(err, errcap, "an orphaned file was not removed: the storage is %s",
                     rc_text(src));
            rc = -1;
            break;
        }
        if (run->removed++ < REMOVED_LOGGED)
            log_line(LOG_INFO, "documents", "removed %s: no document names it (an orphan)", name);
        job_heartbeat(); /* a page of removals may outlast the lease */
    }
    PQclear(res);
    return rc;
}

/* Log and count the rows that name a file in (AFTER, UPTO] (NULL: open)
 * that page E[0..N) does not hold. Returns 0, or -1 with the reason in ERR. */
static int find_missing(reconcile_run *run, const storage_entry *e, size_t n, const char *after,
                        const char *upto, char *err, size_t errcap)
{
    size_t count;
    char *all = names_array(e, n, 0, &count);
    if (all == NULL) {
        snprintf(err, errcap, "no memory for a page of names");
        return -1;
    }
    char budget[16], state[6] = "";
    snprintf(budget, sizeof(budget), "%d", MISSING_LOGGED - run->missing_logged);
    const char *params[] = {all, after, upto, run->since, budget};
    PGresult *res = db_exec("documents_missing", 5, params, state, NULL);
    free(all);
    if (res == NULL) {
        snprintf(err, errcap, "documents_missing failed (sqlstate %s)", state[0] ? state : "none");
        return -1;
    }
    int rows = PQntuples(res);
    if (rows > 0)
        run->missing += strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    for (int i = 0; i < rows && run->missing_logged < MISSING_LOGGED; i++, run->missing_logged++) {
        log_rec l;
        log_begin(&l, LOG_WARN, "documents");
        log_str(&l, "msg", "a document's file is missing from the storage");
        log_int(&l, "document_id", strtoll(PQgetvalue(res, i, 0), NULL, 10));
        log_str(&l, "stored_name", PQgetvalue(res, i, 1));
        log_str(&l, "backend", storage_backend());
        log_end(&l);
    }
    PQclear(res);
    return 0;
}

/* The run's last line, and its numbers for /metrics. */
static void reconcile_report(const reconcile_run *run, int complete)
{
    log_rec l;
    log_begin(&l, complete && run->missing == 0 ? LOG_INFO : LOG_WARN, "documents");
    log_str(&l, "msg",
            complete ? "reconciled the storage with the documents"
                     : "reconciling the storage stopped part way");
    log_str(&l, "backend", storage_backend());
    log_int(&l, "files", run->files);
    log_int(&l, "orphans_removed", run->removed);
    log_int(&l, "missing", run->missing);
    if (run->missing > run->missing_logged)
        log_int(&l, "missing_logged", run->missing_logged);
    log_end(&l);
    if ((complete || run->removed > 0) &&
        consumer_documents_record(run->removed, complete, run->missing, (long long)time(NULL)) != 0)
        log_line(LOG_WARN, "documents",
                 "redis unavailable: this run's numbers are not in /metrics");
}

int job_documents_reconcile(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    (void)c;
    (void)payload;
    if (!storage_ready()) {
        snprintf(err, errcap, "file storage (%s) is not configured", storage_backend());
        return JOB_RETRY;
    }
    long grace = config_int("HONEYDUE_DOCUMENT_ORPHAN_GRACE_SECONDS", 86400);
    if (grace < 0)
        grace = 0;
    char state[6] = "", since[64];
    PGresult *res = db_exec("documents_reconcile_start", 0, NULL, state, NULL);
    if (res == NULL || PQntuples(res) != 1) {
        snprintf(err, errcap, "documents_reconcile_start failed (sqlstate %s)",
                 state[0] ? state : "none");
        PQclear(res);
        return JOB_RETRY;
    }
    snprintf(since, sizeof(since), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    reconcile_run run = {.since = since, .old_before = time(NULL) - grace};

    storage_lister *l;
    storage_rc src = storage_list_open(&l);
    if (src != STORAGE_OK) {
        snprintf(err, errcap, "cannot list the storage: it is %s", rc_text(src));
        return JOB_RETRY;
    }
    char prev[STORAGE_NAME_LEN + 1] = ""; /* the previous page's last name */
    int complete = 0;
    for (;;) {
        const storage_entry *e;
        size_t n;
        src = storage_list_next(l, &e, &n);
        if (src != STORAGE_OK) {
            snprintf(err, errcap, "cannot list the storage: it is %s", rc_text(src));
            break;
        }
        if (n > 0 && remove_orphans(&run, e, n, err, errcap) != 0)
            break;
        if (find_missing(&run, e, n, prev[0] ? prev : NULL, n > 0 ? e[n - 1].name : NULL, err,
                         errcap) != 0)
            break;
        if (n == 0) { /* the last range, to the end, is checked too */
            complete = 1;
            break;
        }
        run.files += (long long)n;
        memcpy(prev, e[n - 1].name, sizeof(prev));
        job_heartbeat();
    }
    storage_list_close(l);
    reconcile_report(&run, complete);
    return complete ? JOB_OK : JOB_RETRY;
}
