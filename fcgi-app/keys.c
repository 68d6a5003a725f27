/*
 * keys.c - the Redis keys of keys.h. Every key string is spelled here once.
 */
#include "keys.h"

#include <stdio.h>

#define JOB "hd:"

const char keys_auth_pattern[] = "auth:*";

const char keys_job_scheduled[] = JOB "scheduled";
const char keys_job_active[] = JOB "active";
const char keys_job_lease[] = JOB "lease";
const char keys_job_dead[] = JOB "dead";
const char keys_job_stats[] = JOB "stats";
const char keys_job_scheduler[] = JOB "scheduler";
const char keys_job_queue_prefix[] = JOB "queue:";
const char keys_job_documents[] = JOB "documents";
const char keys_push_stats[] = JOB "push";

const char *keys_auth(arena *a, const char *token_hash)
{
    return arena_sprintf(a, "auth:%s", token_hash);
}

const char *keys_user_list(arena *a, const char *list, long long uid)
{
    return arena_sprintf(a, "%s:user:%lld", list, uid);
}

const char *keys_user_list_prefix(arena *a, const char *list)
{
    return arena_sprintf(a, "%s:user:", list);
}

const char *keys_user_list_pattern(arena *a, const char *list)
{
    return arena_sprintf(a, "%s:user:*", list);
}

const char *keys_throttle_ip(arena *a, const char *scope, const char *addr)
{
    return arena_sprintf(a, "throttle:%s:ip:%s", scope, addr);
}

const char *keys_throttle_account(arena *a, const char *scope, const char *mac)
{
    return arena_sprintf(a, "throttle:%s:acct:%s", scope, mac);
}

const char *keys_throttle_account_ip(arena *a, const char *scope, const char *mac)
{
    return arena_sprintf(a, "throttle:%s:acct-ip:%s", scope, mac);
}

const char *keys_throttle_user(arena *a, const char *scope, long long uid)
{
    return arena_sprintf(a, "throttle:%s:user:%lld", scope, uid);
}

/* OUT, into which snprintf wrote N characters, or NULL when they did not
 * fit in CAP. */
static const char *fitted(char *out, size_t cap, int n)
{
    return n >= 0 && (size_t)n < cap ? out : NULL;
}

const char *keys_job_queue(char *out, size_t cap, const char *queue)
{
    return fitted(out, cap, snprintf(out, cap, "%s%s", keys_job_queue_prefix, queue));
}

const char *keys_job_unique(char *out, size_t cap, const char *unique_key)
{
    return fitted(out, cap, snprintf(out, cap, JOB "unique:%s", unique_key));
}

const char *keys_job_periodic(char *out, size_t cap, const char *type, long long slot)
{
    return fitted(out, cap, snprintf(out, cap, JOB "periodic:%s:%lld", type, slot));
}
