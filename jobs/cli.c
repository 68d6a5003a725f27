/*
 * cli.c - `honeydue-worker jobs ...`: the operator's view of the queues.
 *
 *   jobs stats                  queue sizes and job counters (JSON)
 *   jobs dead [N]               the newest N dead jobs, one JSON per line
 *   jobs retry ID|all           dead job(s) back to their queue
 *   jobs delete ID|all          drop dead job(s)
 *   jobs enqueue TYPE [PAYLOAD] [--unique KEY]
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "consumer.h"
#include "db.h"
#include "queue.h"

static void print_reply(char *text)
{
    if (text == NULL) {
        fprintf(stderr, "redis unavailable\n");
        return;
    }
    puts(text);
    free(text);
}

static const char stats_lua[] =
    "local out = {} "
    "for _, q in ipairs({'critical', 'default', 'low'}) do "
    "  out[#out + 1] = 'queue:' .. q out[#out + 1] = redis.call('LLEN', 'hd:queue:' .. q) end "
    "out[#out + 1] = 'scheduled' out[#out + 1] = redis.call('ZCARD', 'hd:scheduled') "
    "out[#out + 1] = 'active' out[#out + 1] = redis.call('HLEN', 'hd:active') "
    "out[#out + 1] = 'dead' out[#out + 1] = redis.call('LLEN', 'hd:dead') "
    "local c = redis.call('HGETALL', 'hd:stats') "
    "for i = 1, #c, 2 do out[#out + 1] = c[i] out[#out + 1] = tonumber(c[i + 1]) end "
    "return out";

/* ARGV: id or "all", "retry" or "delete". A retried job starts over. */
static const char dead_lua[] =
    "local n = 0 "
    "for _, job in ipairs(redis.call('LRANGE', 'hd:dead', 0, -1)) do "
    "  local ok, j = pcall(cjson.decode, job) "
    "  if ARGV[1] == 'all' or (ok and j.id == ARGV[1]) then "
    "    redis.call('LREM', 'hd:dead', 1, job) n = n + 1 "
    "    if ARGV[2] == 'retry' and ok then "
    "      j.attempt = 0 j.last_error = nil j.failed_at = nil "
    "      redis.call('LPUSH', 'hd:queue:' .. (j.queue or 'default'), cjson.encode(j)) end "
    "  end "
    "end return n";

int cli_jobs(int argc, char **argv)
{
    consumer_setup();
    if (argc >= 1 && strcmp(argv[0], "stats") == 0) {
        /* A flat [k, v, ...] from the script, printed as an object. */
        char *t = consumer_eval_json(stats_lua, 0, 0, NULL);
        json_object *a = t ? json_tokener_parse(t) : NULL, *o = json_object_new_object();
        free(t);
        for (size_t i = 0; a && i + 1 < json_object_array_length(a); i += 2)
            json_object_object_add(o, json_object_get_string(json_object_array_get_idx(a, i)),
                                   json_object_get(json_object_array_get_idx(a, i + 1)));
        int ok = a != NULL;
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(a);
        json_object_put(o);
        return ok ? 0 : 1;
    }
    if (argc >= 1 && strcmp(argv[0], "dead") == 0) {
        const char *stop = argc >= 2 ? argv[1] : "20";
        char last[24];
        snprintf(last, sizeof(last), "%ld", strtol(stop, NULL, 10) - 1);
        const char *c[] = {"LRANGE", "hd:dead", "0", last};
        char *t = consumer_command_json(4, c);
        json_object *a = t ? json_tokener_parse(t) : NULL;
        free(t);
        for (size_t i = 0; a && i < json_object_array_length(a); i++)
            puts(json_object_get_string(json_object_array_get_idx(a, i)));
        int ok = a != NULL;
        json_object_put(a);
        return ok ? 0 : 1;
    }
    if (argc == 2 && (strcmp(argv[0], "retry") == 0 || strcmp(argv[0], "delete") == 0)) {
        const char *a[] = {argv[1], argv[0]};
        print_reply(consumer_eval_json(dead_lua, 0, 2, a));
        return 0;
    }
    const char *unique = NULL;
    if (argc >= 4 && strcmp(argv[argc - 2], "--unique") == 0) {
        unique = argv[argc - 1];
        argc -= 2;
    }
    if ((argc == 2 || argc == 3) && strcmp(argv[0], "enqueue") == 0) {
        json_object *payload = json_tokener_parse(argc == 3 ? argv[2] : "{}");
        if (payload == NULL || !json_object_is_type(payload, json_type_object)) {
            fprintf(stderr, "the payload must be a JSON object\n");
            json_object_put(payload);
            return 2;
        }
        if (queue_type_find(argv[1]) == NULL) {
            fprintf(stderr, "unknown job type %s\n", argv[1]);
            json_object_put(payload);
            return 2;
        }
        cache_setup();
        db_open();
        int rc = queue_enqueue(argv[1], payload, unique, 3600, 0, NULL);
        puts(rc == 0 ? "queued" : rc == 1 ? "duplicate" : "failed");
        return rc < 0;
    }
    fprintf(stderr, "usage: honeydue-worker jobs stats | dead [N] | retry ID|all | "
                    "delete ID|all | enqueue TYPE [PAYLOAD] [--unique KEY]\n");
    return 2;
}

