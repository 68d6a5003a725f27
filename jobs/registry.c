/*
 * registry.c - job type -> handler, from the one table of job types
 * (jobs/types.def, which says how to add one).
 */
#include "jobs.h"

#include <string.h>

#define JOB_QUEUE(name, weight, fallback)
#define JOB_TYPE(type, handler, queue, max_attempts, timeout_s) {type, handler},
const job_handler job_handlers[] = {
#include "types.def"
    {NULL, NULL},
};
#undef JOB_TYPE
#undef JOB_QUEUE

job_fn job_find(const char *type)
{
    for (const job_handler *h = job_handlers; h->type != NULL; h++)
        if (strcmp(h->type, type) == 0)
            return h->fn;
    return NULL;
}
