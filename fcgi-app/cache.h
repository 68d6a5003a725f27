/*
 * cache.h - Redis used as a cache, over the process's shared connection.
 *
 * The cache is an optimisation, never a dependency: when Redis is down every
 * call fails fast (a miss, a skipped write) and redis.h's connection backs
 * off and logs the outage. An invalidation that could not reach Redis is
 * remembered and retried before this process reads the cache again, so it
 * never serves what it failed to invalidate, and from the API worker's idle
 * wait (cache_replay_pending), so other processes do not serve the old entry
 * for longer than Redis stays unreachable plus about a second. (See DESIGN
 * §7 on partitions.) Keys come from keys.h; which lists exist is the
 * route table's business (route_cache in router.h, listcache.h).
 */
#ifndef HD_CACHE_H
#define HD_CACHE_H

#include <stddef.h>

#include "arena.h"
#include "redis.h"

/* Read REDIS_URL, REDIS_TIMEOUT_MS and HONEYDUE_CACHE_TTL and set up the
 * shared connection (connected lazily). Returns 0. A worker's configuration
 * is fixed for its life (SIGHUP replaces workers), so this runs once, at
 * worker start. */
int cache_setup(void);

/* The process's shared Redis connection (REDIS_TIMEOUT_MS), which the queue
 * producer, throttling and metrics use as well as the cache. */
redis_conn *cache_redis(void);

/* The key patterns dropped when more invalidations were lost than this
 * process can remember (PATTERNS[0..N), copied): a process that
 * invalidates sets them once, at start (listcache_setup). Returns 0, or -1
 * when they do not fit (logged). */
int cache_overflow_patterns(const char *const *patterns, int n);

/* HONEYDUE_CACHE_TTL, in seconds, as read by cache_setup. */
int cache_ttl(void);
void cache_close(void);

/* A cached entry is a hash {body, gen}: gen counts invalidations, so a
 * fill computed from data read before an invalidation can be refused.
 *
 * cache_lookup: HMGET KEY body gen. Returns a copy of body in A (*LEN bytes)
 * or NULL on a miss or when Redis is unavailable; GEN (24 bytes) receives
 * the generation to pass to cache_fill ("" when Redis is unavailable). */
char *cache_lookup(arena *a, const char *key, size_t *len, char *gen, long *us);

/* The token-then-list read of a cacheable route in one round trip: looks up
 * AUTH_KEY (an entry whose body is "uid:..."), and when it resolves, the
 * entry LIST_PREFIX<uid>. Bodies are copied into A (NULL when absent);
 * generations as for cache_lookup. Returns 0, or -1 when Redis is
 * unavailable (everything then is a miss with an empty generation). */
int cache_lookup_auth_list(arena *a, const char *auth_key, const char *list_prefix,
                           char **auth_body, char *auth_gen, char **list_body, size_t *list_len,
                           char *list_gen, long *us);

/* Store BODY under KEY with TTL seconds only if KEY's generation is still
 * GEN (nothing was invalidated since the lookup). Returns 0 when stored. */
int cache_fill(const char *key, const char *gen, const char *body, size_t len, int ttl, long *us);

/* Invalidate KEYS[0..N) in one round trip: drop their bodies and bump their
 * generations. Returns 0, or -1 when Redis could not be reached (the keys
 * are then retried before this process next reads the cache). */
int cache_invalidate(const char *const *keys, int n, int ttl, long *us);

/* 1 while invalidations that could not reach Redis wait to be replayed. */
int cache_pending(void);

/* Replay them now (what a cache read does first): 0 when none is left, -1
 * when Redis is still unavailable (the connection's back-off then spaces the
 * attempts a second apart). For the idle wait of a process that may not read
 * the cache again for a long time. */
int cache_replay_pending(void);

#endif
