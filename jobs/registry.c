/*
 * registry.c - job type -> handler. Adding a job type is one line here, one
 * in fcgi-app/queue.c's queue_types (its queue, attempts and timeout) and
 * its handler.
 */
#include "jobs.h"

#include <string.h>

const job_handler job_handlers[] = {
    {"noop", job_noop},
    {"email.welcome", job_email_welcome},
    {"email.verify", job_email_verify},
    {"email.password_reset", job_email_password_reset},
    {"email.notification", job_email_notification},
    {"email.digest", job_email_digest},
    {"notify.task_created", job_notify_task_created},
    {"notify.task_completed", job_notify_task_completed},
    {"notify.member_joined", job_notify_member_joined},
    {"reminders.daily", job_reminders_daily},
    {NULL, NULL},
};

job_fn job_find(const char *type)
{
    for (const job_handler *h = job_handlers; h->type != NULL; h++)
        if (strcmp(h->type, type) == 0)
            return h->fn;
    return NULL;
}
