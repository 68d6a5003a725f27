/*
 * metrics.c - GET /metrics in the Prometheus text format, for the scraper
 * on loopback or the pod network (nginx refuses everyone else).
 *
 * Today it carries what honeydue-worker keeps in Redis: the size of every
 * queue, the scheduled (retrying) and running jobs, the dead list, and the
 * counters per job type and outcome (hd:stats). One Redis EVAL builds the
 * whole text. When Redis is down the answer says so (honeydue_redis_up 0)
 * rather than failing the scrape.
 */
#include "handlers.h"
#include "cache.h"

#include <string.h>

static const char metrics_lua[] =
    "local out = {} "
    "local function add(s) out[#out + 1] = s end "
    "add('# HELP honeydue_redis_up Whether the API reached Redis for this scrape.') "
    "add('# TYPE honeydue_redis_up gauge') add('honeydue_redis_up 1') "
    "add('# HELP honeydue_jobs_queued Jobs ready to run, per queue.') "
    "add('# TYPE honeydue_jobs_queued gauge') "
    "for _, q in ipairs({'critical', 'default', 'low'}) do "
    "  add('honeydue_jobs_queued{queue=\"' .. q .. '\"} ' .. redis.call('LLEN', 'hd:queue:' .. q)) "
    "end "
    "add('# HELP honeydue_jobs_scheduled Jobs waiting for their run time or retry back-off.') "
    "add('# TYPE honeydue_jobs_scheduled gauge') "
    "add('honeydue_jobs_scheduled ' .. redis.call('ZCARD', 'hd:scheduled')) "
    "add('# HELP honeydue_jobs_running Jobs under a lease.') "
    "add('# TYPE honeydue_jobs_running gauge') "
    "add('honeydue_jobs_running ' .. redis.call('HLEN', 'hd:active')) "
    "add('# HELP honeydue_jobs_dead Jobs in the dead list.') "
    "add('# TYPE honeydue_jobs_dead gauge') "
    "add('honeydue_jobs_dead ' .. redis.call('LLEN', 'hd:dead')) "
    "add('# HELP honeydue_jobs_total Jobs by type and outcome (processed, failed, dead, "
    "recovered).') "
    "add('# TYPE honeydue_jobs_total counter') "
    "local c = redis.call('HGETALL', 'hd:stats') "
    "for i = 1, #c, 2 do "
    "  local outcome, jtype = string.match(c[i], '^(%a+):(.+)$') "
    "  if outcome then add('honeydue_jobs_total{type=\"' .. jtype .. '\",outcome=\"' .. outcome .. "
    "'\"} ' .. c[i + 1]) end "
    "end "
    "return table.concat(out, '\\n') .. '\\n'";

static const char redis_down[] =
    "# HELP honeydue_redis_up Whether the API reached Redis for this scrape.\n"
    "# TYPE honeydue_redis_up gauge\n"
    "honeydue_redis_up 0\n";

int metrics_get(req *r)
{
    size_t len = 0;
    char *text = cache_eval_text(r->a, metrics_lua, 0, 0, NULL, &len, &r->cache_us);
    r->resp_type = "text/plain; version=0.0.4; charset=utf-8";
    if (text == NULL)
        return resp_send(r, 200, redis_down, sizeof(redis_down) - 1);
    return resp_send(r, 200, text, len);
}
