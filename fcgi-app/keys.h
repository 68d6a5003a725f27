/*
 * keys.h - every Redis key and key pattern the binaries use, built here and
 * nowhere else (a Lua script gets its keys and key prefixes in KEYS and
 * ARGV, never spelled out). Existing data depends on these strings: change
 * one only with a migration of what Redis holds.
 *
 *   auth:<token hash>        a resolved token, "uid:is_staff" (authn.c)
 *   <list>:user:<uid>        a cacheable route's per-user list (route_cache
 *                            in router.h; handlers/routes.c names them)
 *   throttle:<scope>:ip:<addr>, throttle:<scope>:acct:<mac>,
 *   throttle:<scope>:acct-ip:<mac>,
 *   throttle:<scope>:user:<uid>    throttle counters (throttle.h)
 *   hd:...                   the job queue (queue.h, jobs/consumer.h):
 *     hd:queue:<queue>       ready jobs         hd:scheduled  run later / retry
 *     hd:active              id -> running job  hd:lease      id -> lease expiry
 *     hd:dead                the dead list      hd:stats      counters per type
 *     hd:unique:<key>        a pending unique job's claim
 *     hd:scheduler           the periodic scheduler's lock
 *     hd:periodic:<type>:<slot>  a periodic job's run, claimed once
 *     hd:documents           what documents.reconcile found (jobs/documents.c):
 *                            missing, orphans_removed, reconciled_at
 *     hd:push                push counters, "<outcome>:<provider>" (jobs/push.c)
 *
 * Keys a request builds come from its arena. The job queue's, which
 * honeydue-worker builds without one, are written to the caller's buffer
 * (KEYS_JOB_MAX bytes): NULL when they do not fit.
 */
#ifndef HD_KEYS_H
#define HD_KEYS_H

#include <stddef.h>

#include "arena.h"

/* ---- the cache ---- */

/* auth:<TOKEN_HASH> */
const char *keys_auth(arena *a, const char *token_hash);
/* The pattern of every auth: entry. */
extern const char keys_auth_pattern[];

/* LIST:user:<UID> */
const char *keys_user_list(arena *a, const char *list, long long uid);
/* LIST:user: (a script appends the uid) */
const char *keys_user_list_prefix(arena *a, const char *list);
/* LIST:user:* */
const char *keys_user_list_pattern(arena *a, const char *list);

/* ---- throttle counters ---- */

/* throttle:<SCOPE>:ip:<ADDR> */
const char *keys_throttle_ip(arena *a, const char *scope, const char *addr);
/* throttle:<SCOPE>:acct:<MAC> (MAC of the account's normalized name) */
const char *keys_throttle_account(arena *a, const char *scope, const char *mac);
/* throttle:<SCOPE>:acct-ip:<MAC> (MAC of the account's normalized name
 * and the client address) */
const char *keys_throttle_account_ip(arena *a, const char *scope, const char *mac);
/* throttle:<SCOPE>:user:<UID> */
const char *keys_throttle_user(arena *a, const char *scope, long long uid);

/* ---- the job queue ---- */

#define KEYS_JOB_MAX 320

extern const char keys_job_scheduled[];
extern const char keys_job_active[];
extern const char keys_job_lease[];
extern const char keys_job_dead[];
extern const char keys_job_stats[];
extern const char keys_push_stats[];
extern const char keys_job_scheduler[];
/* hd:queue: (a script appends the queue's name) */
extern const char keys_job_queue_prefix[];
/* hd:documents: documents.reconcile's numbers, which /metrics reads */
extern const char keys_job_documents[];

/* hd:queue:<QUEUE> */
const char *keys_job_queue(char *out, size_t cap, const char *queue);
/* hd:unique:<UNIQUE_KEY> */
const char *keys_job_unique(char *out, size_t cap, const char *unique_key);
/* hd:periodic:<TYPE>:<SLOT> */
const char *keys_job_periodic(char *out, size_t cap, const char *type, long long slot);

#endif
