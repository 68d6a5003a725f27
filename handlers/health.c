/*
 * health.c - liveness (no dependency touched) and readiness (Postgres and
 * the schema checked; Redis reported, never required).
 */
#include "handlers.h"
#include "cache.h"
#include "db.h"
#include "schema.h"

#include <stdlib.h>

int health_get(req *r)
{
    return resp_json(r, 200, "{\"status\":\"ok\"}");
}

int health_ready_get(req *r)
{
    char state[6];
    PGresult *res = db_exec("health_schema_version", 0, NULL, state, &r->db_us);
    const char *redis = redis_status(cache_redis());
    if (res == NULL)
        return resp_error(r, 503, "service_unavailable", "postgres is unavailable");
    const char *version = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "0";
    if (strtoll(version, NULL, 10) < schema_newest_embedded()) {
        PQclear(res);
        return resp_error(r, 503, "schema_behind", "the database schema is older than this build");
    }
    const char *body = arena_sprintf(
        r->a, "{\"status\":\"ok\",\"postgres\":\"ok\",\"schema_version\":%s,\"redis\":\"%s\"}",
        version[0] ? version : "0", redis);
    PQclear(res);
    return resp_json(r, 200, body);
}
