/*
 * notify.c - notify.task_created, notify.task_completed and
 * notify.member_joined: a feed entry for every other member of the
 * residence who wants that kind, and an email (email.notification) for
 * those who asked for email. Push would plug in here, next to the email:
 * notification_device holds the tokens (see migration 000008).
 */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "queue.h"

static long long payload_id(json_object *p, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(p, key, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    return json_object_get_int64(v);
}

/* Enqueue one email.notification per row of RES (email, name, title, body).
 * Returns JOB_OK, or JOB_RETRY when one could not be queued anywhere. */
static int email_rows(PGresult *res, char *err, size_t errcap)
{
    int rc = JOB_OK;
    for (int i = 0; i < PQntuples(res); i++) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "to", json_object_new_string(PQgetvalue(res, i, 0)));
        json_object_object_add(p, "name", json_object_new_string(PQgetvalue(res, i, 1)));
        json_object_object_add(p, "subject", json_object_new_string(PQgetvalue(res, i, 2)));
        json_object_object_add(p, "text", json_object_new_string(PQgetvalue(res, i, 3)));
        if (queue_enqueue("email.notification", p, NULL, 0, 0, NULL) < 0) {
            snprintf(err, errcap, "could not queue an email");
            rc = JOB_RETRY;
        }
    }
    return rc;
}

/* Run named query NAME and email its rows. */
static int notify(const char *name, int n, const char *const *params, char *err, size_t errcap)
{
    char state[6] = "";
    PGresult *res = db_exec(name, n, params, state, NULL);
    if (res == NULL) {
        snprintf(err, errcap, "%s failed (sqlstate %s)", name, state[0] ? state : "none");
        return JOB_RETRY;
    }
    int rc = email_rows(res, err, errcap);
    PQclear(res);
    return rc;
}

static int notify_task(const job_ctx *c, json_object *payload, const char *kind, char *err,
                       size_t errcap)
{
    long long task = payload_id(payload, "task_id"), actor = payload_id(payload, "actor_id");
    if (task <= 0 || actor <= 0) {
        snprintf(err, errcap, "payload needs task_id and actor_id");
        return JOB_FATAL;
    }
    char t[24], a[24];
    snprintf(t, sizeof(t), "%lld", task);
    snprintf(a, sizeof(a), "%lld", actor);
    const char *params[] = {t, a, kind, c->id};
    return notify("jobs_notify_task", 4, params, err, errcap);
}

int job_notify_task_created(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    return notify_task(c, payload, "task_created", err, errcap);
}

int job_notify_task_completed(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    return notify_task(c, payload, "task_completed", err, errcap);
}

int job_notify_member_joined(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    long long rid = payload_id(payload, "residence_id"), uid = payload_id(payload, "user_id");
    if (rid <= 0 || uid <= 0) {
        snprintf(err, errcap, "payload needs residence_id and user_id");
        return JOB_FATAL;
    }
    char r[24], u[24];
    snprintf(r, sizeof(r), "%lld", rid);
    snprintf(u, sizeof(u), "%lld", uid);
    const char *params[] = {r, u, c->id};
    return notify("jobs_notify_member_joined", 3, params, err, errcap);
}
