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
 */
#include "jobs.h"

#include <stdio.h>
#include <string.h>

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
