/*
 * scoreboard.h - what every worker of the pool is doing, in memory shared by
 * the master and its workers (php-fpm's scoreboard; its `?full` status page
 * is the model for GET /api/internal/status/).
 *
 * The master maps it before forking, gives each worker a slot and clears it
 * when the worker ends; a worker writes only its own slot, so nothing is
 * locked. Readers (the status page, /metrics, the master's stuck-request
 * check) may see a slot mid-update; every field is a plain value, so the
 * worst case is one stale number for one scrape.
 */
#ifndef HD_SCOREBOARD_H
#define HD_SCOREBOARD_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define SB_SLOTS 256

enum { SB_FREE = 0, SB_STARTING, SB_IDLE, SB_BUSY };

typedef struct {
    _Atomic int state;
    pid_t pid;
    int generation;
    int64_t started_ms;            /* wall clock (sb_wall_ms), for display only */
    _Atomic int64_t busy_since_ms; /* sb_now_ms() when its request began; 0 when idle */
    _Atomic uint64_t requests;
    _Atomic uint64_t rss_kb;
    char method[8];
    char route[64];
    char path[96];
    char request_id[40];
} sb_slot;

/* Request counters per route, summed over every worker (the last entry
 * counts requests that matched no route). Durations in microseconds. */
#define SB_ROUTES 128
#define SB_BUCKETS 12
extern const double sb_bucket_ms[SB_BUCKETS]; /* upper bounds; the last is +Inf */

typedef struct {
    _Atomic uint64_t by_class[6]; /* [1..5]: 1xx..5xx; [0]: anything else */
    _Atomic uint64_t buckets[SB_BUCKETS];
    _Atomic uint64_t dur_us, db_us, cache_us;
} sb_route_stats;

enum { SB_DEP_POSTGRES, SB_DEP_REDIS, SB_DEPS };

typedef struct {
    int64_t started_ms;           /* wall clock (sb_wall_ms), for display only */
    int64_t started_mono_ms;      /* sb_now_ms(), for the uptime */
    _Atomic uint64_t restarts;    /* workers that ended unexpectedly */
    _Atomic uint64_t killed_slow; /* killed past HONEYDUE_REQUEST_TIMEOUT */
    _Atomic uint64_t recycled;    /* ended by HONEYDUE_MAX_REQUESTS/MAX_MEMORY */
    _Atomic int max_active;
    _Atomic int slots_used; /* 1 + the highest slot ever claimed: what a scan reads */
    int want_workers;
    int listen_fd;                /* the pool's listening socket, -1 if unknown */
    _Atomic int listen_queue;     /* connections waiting for accept(), last sample */
    _Atomic int listen_backlog;   /* the queue's limit (listen()'s backlog) */
    _Atomic int max_listen_queue; /* the most seen waiting since start */
    sb_slot slots[SB_SLOTS];
    sb_route_stats routes[SB_ROUTES + 1];
    _Atomic uint64_t cache_hit, cache_miss, cache_bypass;
    _Atomic uint64_t dep_errors[SB_DEPS];
} scoreboard;

/* Map the scoreboard (once, in the master or a lone worker). 0 or -1. */
int sb_open(void);

/* The board, or NULL before sb_open. */
scoreboard *sb_get(void);

/* This process's slot (a worker), or NULL. */
sb_slot *sb_self(void);

/* Master: claim slot I for a worker about to be forked; the child calls
 * sb_attach(I) first thing. */
void sb_claim(int i, pid_t pid, int generation);
void sb_attach(int i);
void sb_release(pid_t pid);

/* Worker: a request starts (route pattern or path) / ends. */
void sb_busy(const char *method, const char *route, const char *path, const char *request_id);
void sb_idle(void);

/* Count one finished request of route ROUTE (an index in the route table,
 * or -1 for none) with STATUS and its times; CACHE is "hit", "miss",
 * "bypass" or NULL. */
void sb_record(int route, int status, long dur_us, long db_us, long cache_us, const char *cache);

/* Count an error of dependency DEP (SB_DEP_*): a request answered 503 for it,
 * or the cache found Redis unreachable. */
void sb_dep_error(int dep);

/* The accept queue of listening socket FD: connections waiting and the
 * backlog limit (sock_diag for a unix socket, TCP_INFO for TCP). 0 or -1. */
int sb_listen_queue(int fd, int *queued, int *backlog);

/* Master (every second) and the status readers: sample the pool's accept
 * queue into the board, keeping its maximum (php-fpm's "max listen queue"). */
void sb_sample_listen(void);

/* Milliseconds on CLOCK_MONOTONIC, for durations and timeouts (how long a
 * worker has been busy, the uptime): a step of the wall clock does not move
 * it, and every process of the machine reads the same clock, so a value a
 * worker stored compares with the master's. Meaningless as a date. */
int64_t sb_now_ms(void);

/* Milliseconds since the epoch (CLOCK_REALTIME), for showing when something
 * started; never subtract two of them for a duration. */
int64_t sb_wall_ms(void);

/* This process's resident set size, in kB (from /proc/self/statm). */
uint64_t sb_rss_kb(void);

#endif
