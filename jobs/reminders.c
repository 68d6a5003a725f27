/*
 * reminders.c - reminders.daily: for each user whose reminder hour has come
 * in their time zone, one feed entry and at most one digest email
 * (email.digest) listing the tasks due today and overdue. The day is
 * claimed in Postgres (notification_reminderlog) by the same statement that
 * writes the feed entry, so no restart, retry or second replica sends it
 * twice; a push (push.send) goes with the feed entry when the user has push
 * on. The job runs every HONEYDUE_REMINDER_EVERY_SECONDS and catches up:
 * a user whose hour passed while no worker ran gets it on the next run.
 */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "queue.h"

#define BATCH "200"

int job_reminders_daily(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    (void)c;
    (void)payload;
    for (;;) {
        char state[6] = "";
        const char *params[] = {BATCH};
        PGresult *res = db_exec("jobs_reminders_claim", 1, params, state, NULL);
        if (res == NULL) {
            snprintf(err, errcap, "jobs_reminders_claim failed (sqlstate %s)",
                     state[0] ? state : "none");
            return JOB_RETRY;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            if (!PQgetisnull(res, i, 6) && PQgetvalue(res, i, 7)[0] == 't' &&
                push_enqueue(PQgetvalue(res, i, 6)) < 0)
                log_line(LOG_ERROR, "reminders", "a reminder's push could not be queued");
            if (PQgetvalue(res, i, 3)[0] != 't' || PQgetisnull(res, i, 5))
                continue; /* no email wanted, an unverified address, or nothing due */
            json_object *p = json_object_new_object();
            json_object_object_add(p, "user_id", json_object_new_int64(atoll(PQgetvalue(res, i, 0))));
            json_object_object_add(p, "to", json_object_new_string(PQgetvalue(res, i, 1)));
            json_object_object_add(p, "name", json_object_new_string(PQgetvalue(res, i, 2)));
            json_object_object_add(p, "local_date", json_object_new_string(PQgetvalue(res, i, 4)));
            json_object_object_add(p, "tasks", json_tokener_parse(PQgetvalue(res, i, 5)));
            char unique[64];
            snprintf(unique, sizeof(unique), "digest:%s:%s", PQgetvalue(res, i, 0),
                     PQgetvalue(res, i, 4));
            queue_enqueue("email.digest", p, unique, 86400, 0, NULL);
        }
        PQclear(res);
        job_heartbeat();
        if (n == 0) /* every user due now has been claimed */
            return JOB_OK;
    }
}
