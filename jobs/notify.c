/*
 * notify.c - notify.task_created, notify.task_completed and
 * notify.member_joined: a feed entry for every other member of the
 * residence who wants that kind, and an email (email.notification) for
 * those who asked for email, and a push.send for those who have push on
 * and a device (the trigger of migration 000014 wrote which devices).
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

/* For each entry RES answers (id, email wanted and verified, push wanted,
 * address, name, title, body, user id): one email.notification when its
 * user wants email to a verified address, one push.send when push. Returns JOB_OK, or JOB_RETRY when one could not
 * be queued anywhere. */
static int deliver_rows(PGresult *res, char *err, size_t errcap)
{
    int rc = JOB_OK;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetvalue(res, i, 1)[0] == 't') {
            json_object *p = json_object_new_object();
            json_object_object_add(p, "user_id", json_object_new_int64(atoll(PQgetvalue(res, i, 7))));
            json_object_object_add(p, "to", json_object_new_string(PQgetvalue(res, i, 3)));
            json_object_object_add(p, "name", json_object_new_string(PQgetvalue(res, i, 4)));
            json_object_object_add(p, "subject", json_object_new_string(PQgetvalue(res, i, 5)));
            json_object_object_add(p, "text", json_object_new_string(PQgetvalue(res, i, 6)));
            if (queue_enqueue("email.notification", p, NULL, 0, 0, NULL) < 0) {
                snprintf(err, errcap, "could not queue an email");
                rc = JOB_RETRY;
            }
        }
        if (PQgetvalue(res, i, 2)[0] == 't' && push_enqueue(PQgetvalue(res, i, 0)) < 0) {
            snprintf(err, errcap, "could not queue a push");
            rc = JOB_RETRY;
        }
    }
    return rc;
}

/* Run named query NAME and deliver its rows. */
static int notify(const char *name, int n, const char *const *params, char *err, size_t errcap)
{
    char state[6] = "";
    PGresult *res = db_exec(name, n, params, state, NULL);
    if (res == NULL) {
        snprintf(err, errcap, "%s failed (sqlstate %s)", name, state[0] ? state : "none");
        return JOB_RETRY;
    }
    int rc = deliver_rows(res, err, errcap);
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
