/*
 * throttle.h - fixed-window counters in Redis that slow down guessing:
 * failed logins, password-reset requests and code confirmations, per
 * account and per client address.
 *
 * A counter is a Redis integer under a key such as throttle:login:ip:<addr>
 * or throttle:login:acct:<mac of the normalized identifier> (never the
 * identifier itself); its first event starts a window of WINDOW_S seconds
 * (INCR and EXPIRE in one EVAL), and the key's TTL is what a refused client
 * is told to wait (Retry-After). Throttling protects, it does not serve:
 * when Redis is unavailable every call lets the request through (fail
 * open) and the outage is logged at most once per interval.
 */
#ifndef HD_THROTTLE_H
#define HD_THROTTLE_H

#include <stddef.h>

#include "arena.h"

/* The key of counter SCOPE ("login") for the client address ADDR (NULL or
 * "" counts as "unknown"), in A. */
const char *throttle_ip_key(arena *a, const char *scope, const char *addr);

/* The key of counter SCOPE for the account named IDENT (a username or an
 * email address as typed): a keyed hash of its normalized form, in A. */
const char *throttle_account_key(arena *a, const char *scope, const char *ident);

/* The key of counter SCOPE for the account named IDENT as tried from the
 * client address ADDR (as throttle_ip_key's): a keyed hash of both, in A. */
const char *throttle_account_ip_key(arena *a, const char *scope, const char *ident,
                                    const char *addr);

/* Normalize an account identifier into OUT (CAP bytes): surrounding ASCII
 * white space dropped, ASCII letters lowercased, truncated to fit. Pure. */
void throttle_normalize(const char *ident, char *out, size_t cap);

/* One counter and its rule: at most LIMIT events per WINDOW_S seconds. */
typedef struct {
    const char *key;
    int limit;
    int window_s;
} throttle_counter;

#define THROTTLE_MAX 5

/* The count of each counter KEYS[0..N) (N <= THROTTLE_MAX) into COUNT and
 * the seconds left in its window (at least 1) into TTL, in one round trip:
 * for a caller whose rule is more than "LIMIT per window" (a login's). 0, or
 * -1 when Redis is unavailable (then every count is 0: fail open). */
int throttle_peek(const char *const *keys, int n, int *count, int *ttl, long *us);

/* Seconds until every counter of C[0..N) (N <= THROTTLE_MAX) is below its
 * limit: 0 when none is at or over it, or when Redis is unavailable. */
int throttle_wait(const throttle_counter *c, int n, long *us);

/* Count one event on each counter of C[0..N) (a new window lasts its
 * WINDOW_S). Returns the seconds to wait when a counter is now over its
 * limit (this event is one too many), else 0; 0 when Redis is unavailable. */
int throttle_hit(const throttle_counter *c, int n, long *us);

/* Reset counter KEY (a successful login forgives the account's failures). */
void throttle_clear(const char *key, long *us);

#endif
