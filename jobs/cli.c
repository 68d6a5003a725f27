/*
 * cli.c - `honeydue-worker jobs ...`: the operator's view of the queues.
 * The dead-list operations are fcgi-app/queue.c's, the same ones the admin
 * API runs (POST /api/admin/jobs/dead/retry/ and .../discard/).
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

int cli_jobs(int argc, char **argv)
{
    consumer_setup();
    if (argc >= 1 && strcmp(argv[0], "stats") == 0) {
        json_object *o = consumer_stats();
        int ok = o != NULL;
        puts(ok ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "{}");
        json_object_put(o);
        return ok ? 0 : 1;
    }
    if (argc >= 1 && strcmp(argv[0], "dead") == 0) {
        json_object *a =
            queue_dead_texts(consumer_redis(), strtol(argc >= 2 ? argv[1] : "20", NULL, 10), NULL);
        for (size_t i = 0; a && i < json_object_array_length(a); i++)
            puts(json_object_get_string(json_object_array_get_idx(a, i)));
        int ok = a != NULL;
        json_object_put(a);
        return ok ? 0 : 1;
    }
    if (argc == 2 && (strcmp(argv[0], "retry") == 0 || strcmp(argv[0], "delete") == 0)) {
        long long n;
        const char *id = strcmp(argv[1], "all") == 0 ? NULL : argv[1];
        queue_dead_op op = strcmp(argv[0], "retry") == 0 ? QUEUE_DEAD_RETRY : QUEUE_DEAD_DISCARD;
        if (queue_dead_apply(consumer_redis(), id, op, &n, NULL) == 0)
            printf("%lld\n", n);
        else
            fprintf(stderr, "redis unavailable\n");
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

