/*
 * push.c - push.send: one feed entry to every device of its user
 * ({"notification_id": N}). The rows to send were written with the entry
 * (notification_push, migration 000014: only when the user has push on and
 * wants that kind); this job claims them, sends each through its platform's
 * provider (fcgi-app/push.h) and marks it, so a retry sends only what has
 * not gone out, and one bad device never stops the others:
 *
 *   sent                      marked sent
 *   the token is dead         the device is deleted (APNs 410, BadDeviceToken,
 *                             Unregistered; FCM UNREGISTERED, an invalid token)
 *   429, 5xx, no connection   left pending: the job is retried after its
 *                             back-off, and not before the Retry-After
 *   any other refusal         marked failed (the message can never go)
 *   the provider is off       marked skipped; the device is left alone
 *
 * On the job's last attempt what is still pending is marked failed.
 * Enqueued by notify.c and reminders.c for each entry they write.
 */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "push.h"
#include "queue.h"

#define PUSH_CLAIM_SECONDS "120" /* longer than push.send's timeout */
#define PUSH_KEEP_SECONDS 86400  /* a push older than this is not worth showing */

static long long payload_id(json_object *p, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(p, key, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    return json_object_get_int64(v);
}

/* Record one device's result. */
static void done(const char *nid, const char *device, const char *status, const char *result)
{
    char state[6];
    const char *params[] = {nid, device, status, result};
    PQclear(db_exec("push_done", 4, params, state, NULL));
}

/* /metrics' honeydue_push_total{provider, outcome}. */
static void push_count(const char *provider, const char *outcome)
{
    char field[32];
    snprintf(field, sizeof(field), "%s:%s", outcome, provider);
    consumer_count(keys_push_stats, field);
}

int push_enqueue(const char *notification_id)
{
    json_object *p = json_object_new_object();
    json_object_object_add(p, "notification_id",
                           json_object_new_int64(strtoll(notification_id, NULL, 10)));
    char unique[48];
    snprintf(unique, sizeof(unique), "push:%s", notification_id);
    return queue_enqueue("push.send", p, unique, 3600, 0, NULL) < 0 ? -1 : 0;
}

static const char *provider_of(const char *platform)
{
    return strcmp(platform, "ios") == 0 ? "apns" : "fcm";
}

int job_push_send(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    long long id = payload_id(payload, "notification_id");
    if (id <= 0) {
        snprintf(err, errcap, "payload needs notification_id");
        return JOB_FATAL;
    }
    char nid[24];
    snprintf(nid, sizeof(nid), "%lld", id);
    const queue_type *qt = queue_type_find(c->type);
    int last = qt != NULL && c->attempt + 1 >= qt->max_attempts;
    char state[6] = "";
    const char *params[] = {nid, PUSH_CLAIM_SECONDS};
    PGresult *res = db_exec("push_claim", 2, params, state, NULL);
    if (res == NULL) {
        snprintf(err, errcap, "push_claim failed (sqlstate %s)", state[0] ? state : "none");
        return JOB_RETRY;
    }
    int n = PQntuples(res), again = 0;
    long wait = 0;
    char why[160] = "";
    for (int i = 0; i < n; i++) {
        const char *device = PQgetvalue(res, i, 0), *platform = PQgetvalue(res, i, 1);
        const char *token = PQgetvalue(res, i, 2), *kind = PQgetvalue(res, i, 3);
        long long task = strtoll(PQgetvalue(res, i, 7), NULL, 10);
        char collapse[48];
        /* A newer reminder replaces the older one on the lock screen: the
         * daily one per user, a task's own per task. */
        if (strcmp(kind, "reminder") == 0)
            snprintf(collapse, sizeof(collapse), "reminder");
        else if (task > 0 && (strcmp(kind, "task_due") == 0 || strcmp(kind, "task_overdue") == 0))
            snprintf(collapse, sizeof(collapse), "task-%lld", task);
        else
            collapse[0] = '\0';
        push_msg m = {.notification_id = id,
                      .kind = kind,
                      .title = PQgetvalue(res, i, 4),
                      .body = PQgetvalue(res, i, 5),
                      .residence_id = strtoll(PQgetvalue(res, i, 6), NULL, 10),
                      .task_id = task,
                      .badge = strtol(PQgetvalue(res, i, 8), NULL, 10),
                      .collapse_id = collapse[0] ? collapse : NULL,
                      .expires_at = strtoll(PQgetvalue(res, i, 9), NULL, 10) + PUSH_KEEP_SECONDS};
        const char *provider = provider_of(platform);
        push_outcome o = strcmp(provider, "apns") == 0 ? apns_send(token, &m) : fcm_send(token, &m);
        switch (o.result) {
        case PUSH_SENT:
            done(nid, device, "sent", "sent");
            push_count(provider, "sent");
            break;
        case PUSH_GONE: {
            const char *gone[] = {device, token};
            PQclear(db_exec("push_device_gone", 2, gone, state, NULL));
            log_line(LOG_INFO, "push", "%s: device %s removed: %s", provider, device, o.reason);
            push_count(provider, "removed");
            break;
        }
        case PUSH_RETRY:
            done(nid, device, last ? "failed" : "pending", o.reason);
            if (last)
                push_count(provider, "failed");
            again++;
            if (o.retry_after > wait)
                wait = o.retry_after;
            snprintf(why, sizeof(why), "%s: %s", provider, o.reason);
            break;
        case PUSH_REJECTED:
            done(nid, device, "failed", o.reason);
            log_line(LOG_WARN, "push", "%s: push of notification %s to device %s refused: %s",
                     provider, nid, device, o.reason);
            push_count(provider, "failed");
            break;
        case PUSH_OFF:
            done(nid, device, "skipped", o.reason);
            break;
        }
        job_heartbeat();
    }
    PQclear(res);
    if (again > 0) { /* on the last attempt: dead, its devices marked failed */
        job_retry_after(wait);
        snprintf(err, errcap, "%d device(s) to try again (%s)", again, why);
        return JOB_RETRY;
    }
    return JOB_OK;
}
