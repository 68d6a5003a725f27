/*
 * noop.c - the job that does nothing: the bench's baseline, and a way for an
 * operator to check the whole pipeline (`honeydue-worker jobs enqueue noop`),
 * including retries and the dead list ({"fail": "..."}).
 */
#include "jobs.h"

#include <stdio.h>
#include <time.h>

int job_noop(const job_ctx *c, json_object *payload, char *err, size_t errcap)
{
    json_object *v;
    if (json_object_object_get_ex(payload, "sleep_ms", &v)) {
        long ms = (long)json_object_get_int64(v);
        while (ms > 0) {
            long step = ms > 200 ? 200 : ms;
            struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            ms -= step;
            job_heartbeat();
        }
    }
    if (json_object_object_get_ex(payload, "fatal", &v)) {
        snprintf(err, errcap, "%s", json_object_get_string(v));
        return JOB_FATAL;
    }
    if (json_object_object_get_ex(payload, "fail", &v)) {
        snprintf(err, errcap, "%s", json_object_get_string(v));
        return JOB_RETRY;
    }
    return JOB_OK;
}
