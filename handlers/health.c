/*
 * health.c - liveness (no dependency touched) and readiness (Postgres and
 * the schema checked; Redis reported, required only to accept REDIS_URL's
 * credentials). Staff see the readiness answer through GET /api/admin/system/ too (admin.c).
 */
#include "handlers.h"
#include "cache.h"
#include "db.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

int health_get(req *r)
{
    return resp_json(r, 200, "{\"status\":\"ok\"}");
}

json_object *health_ready_body(req *r, int *status)
{
    char state[6];
    PGresult *res = db_exec("health_schema_version", 0, NULL, state, &r->db_us);
    const char *redis = redis_status(cache_redis());
    *status = 503;
    if (res == NULL)
        return resp_error_obj("service_unavailable", "postgres is unavailable", NULL);
    const char *version = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "0";
    long long v = strtoll(version, NULL, 10);
    PQclear(res);
    if (v < schema_newest_embedded())
        return resp_error_obj("schema_behind", "the database schema is older than this build",
                              NULL);
    /* Down is an outage the pool serves through; refused is a wrong
     * REDIS_URL, which a new pod must not be taken into service with. */
    if (strcmp(redis, "refused") == 0)
        return resp_error_obj("redis_refused", "redis refused the credentials in REDIS_URL", NULL);
    json_object *out = json_object_new_object();
    json_object_object_add(out, "status", json_object_new_string("ok"));
    json_object_object_add(out, "postgres", json_object_new_string("ok"));
    json_object_object_add(out, "schema_version", json_object_new_int64(v));
    json_object_object_add(out, "redis", json_object_new_string(redis));
    *status = 200;
    return out;
}

int health_ready_get(req *r)
{
    int status;
    json_object *body = health_ready_body(r, &status);
    return resp_obj(r, status, body);
}
