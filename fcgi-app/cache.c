/*
 * cache.c - generation-checked entries and remembered invalidations over
 * the shared connection (redis.h does the connecting, back-off and outage
 * log).
 */
#include "cache.h"
#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PENDING_MAX 256
#define PATTERNS_MAX 16

static redis_conn conn;
static int ttl_s = 300;
static char *pending[PENDING_MAX];
static int npending, pending_overflow;
static int pending_ttl = 300;
static char *patterns[PATTERNS_MAX];
static int npatterns;

static long elapsed_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

int cache_setup(void)
{
    ttl_s = (int)config_int("HONEYDUE_CACHE_TTL", 300);
    redis_init(&conn, "cache", "serving from postgres", config_get("REDIS_URL"),
               config_int("REDIS_TIMEOUT_MS", 200));
    return 0;
}

redis_conn *cache_redis(void)
{
    return &conn;
}

int cache_overflow_patterns(const char *const *p, int n)
{
    while (npatterns > 0)
        free(patterns[--npatterns]);
    if (n > PATTERNS_MAX) {
        log_line(LOG_ERROR, "cache", "%d cache key patterns; at most %d are kept", n, PATTERNS_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        patterns[npatterns] = strdup(p[i]);
        if (patterns[npatterns] == NULL)
            return -1;
        npatterns++;
    }
    return 0;
}

/* KEYS: the entries; ARGV[1]: TTL. Drops every field of each but its gen
 * (every representation of a list, whatever the release that stored it
 * called it) and bumps the gen. HDEL comes first, always: at maxmemory
 * (noeviction) Redis refuses a script's first write if it may grow memory,
 * and a deletion is not one, so the gen's bump then goes through. */
static const char invalidate_lua[] =
    "for _,k in ipairs(KEYS) do local f = {'body'} "
    "for _,n in ipairs(redis.call('HKEYS',k)) do if n ~= 'gen' then f[#f+1] = n end end "
    "redis.call('HDEL',k,unpack(f)) redis.call('HINCRBY',k,'gen',1) "
    "redis.call('EXPIRE',k,ARGV[1]) end return #KEYS";
/* KEYS[1]: entry; ARGV: gen, ttl, then field, value pairs. Stores them
 * only when gen is unchanged, "filled" recording it (see
 * cache_lookup_list), and drops what an older fill stored besides. HSET
 * comes first: at maxmemory a fill is refused, not stored. */
static const char fill_lua[] =
    "if (redis.call('HGET',KEYS[1],'gen') or '0') ~= ARGV[1] then return 0 end "
    "redis.call('HSET',KEYS[1],'filled',ARGV[1],unpack(ARGV,3)) "
    "local keep = {gen=true, filled=true} for i = 3, #ARGV, 2 do keep[ARGV[i]] = true end "
    "for _,f in ipairs(redis.call('HKEYS',KEYS[1])) do "
    "if not keep[f] then redis.call('HDEL',KEYS[1],f) end end "
    "redis.call('EXPIRE',KEYS[1],ARGV[2]) return 1";
/* ARGV: key patterns. Deletes every key matching one. */
static const char drop_matching_lua[] =
    "local n=0 for _,p in ipairs(ARGV) do "
    "local c='0' repeat local r=redis.call('SCAN',c,'MATCH',p,'COUNT',1000) "
    "c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) n=n+1 end "
    "until c=='0' end return n";

/* EVAL invalidate_lua over KEYS[0..N). 0 on success. */
static int run_invalidate(const char *const *keys, int n, int ttl)
{
    char ttls[16];
    snprintf(ttls, sizeof(ttls), "%d", ttl);
    const char **argv = malloc(sizeof(char *) * (size_t)(n + 1));
    if (argv == NULL)
        return -1;
    memcpy(argv, keys, sizeof(char *) * (size_t)n);
    argv[n] = ttls;
    redisReply *r = redis_eval(&conn, invalidate_lua, n, n + 1, argv, NULL);
    free(argv);
    if (r == NULL)
        return -1;
    int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    if (rc != 0)
        log_line(LOG_WARN, "cache", "invalidation refused: %s", r->str);
    freeReplyObject(r);
    return rc;
}

/* Retry remembered invalidations; returns 0 when none is left. */
static int flush_pending(void)
{
    if (npending == 0 && !pending_overflow)
        return 0;
    if (!redis_ready(&conn))
        return -1;
    if (pending_overflow) {
        /* Too many lost invalidations to track: drop every entry of the
         * kinds this process invalidates. */
        if (npatterns > 0) {
            redisReply *r = redis_eval(&conn, drop_matching_lua, 0, npatterns,
                                       (const char *const *)patterns, NULL);
            if (r == NULL)
                return -1;
            freeReplyObject(r);
        }
        pending_overflow = 0;
    }
    if (npending > 0) {
        if (run_invalidate((const char *const *)pending, npending, pending_ttl) != 0)
            return -1;
        while (npending > 0)
            free(pending[--npending]);
    }
    return 0;
}

char *cache_lookup(arena *a, const char *key, size_t *len, char *gen, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *out = NULL;
    gen[0] = '\0';
    if (flush_pending() != 0)
        goto done;
    const char *argv[] = {"HMGET", key, "body", "gen"};
    redisReply *r = redis_command(&conn, 4, argv, NULL);
    if (r == NULL)
        goto done;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        redisReply *b = r->element[0], *g = r->element[1];
        snprintf(gen, 24, "%s", g->type == REDIS_REPLY_STRING ? g->str : "0");
        if (b->type == REDIS_REPLY_STRING) {
            out = arena_strndup(a, b->str, b->len);
            *len = b->len;
        }
    }
    /* An error reply (e.g. WRONGTYPE from an older release's plain string)
     * is a miss that cannot be filled: gen stays "". */
    freeReplyObject(r);
done:
    if (us)
        *us += elapsed_us(&t0);
    return out;
}

/* Lua: the first of the fields ARGV[FIRST..] that list entry K holds, if
 * it is still what was filled at its current gen: {index from 0, value,
 * etag, gen}, or {-1, nil, nil, gen}. The first choice comes with the
 * checks, in one call: the others are read only when it is missing. */
#define PICK_LUA                                                                                   \
    "local function pick(k, first) "                                                               \
    "local m = redis.call('HMGET', k, 'etag', 'filled', 'gen', ARGV[first]) "                      \
    "local g = m[3] or '0' "                                                                       \
    "if m[1] and m[2] == g then if m[4] then return {0, m[4], m[1], g} end "                       \
    "for i = first + 1, #ARGV do "                                                                 \
    "local v = redis.call('HGET', k, ARGV[i]) if v then return {i - first, v, m[1], g} end "       \
    "end end return {-1, false, false, g} end "
/* KEYS[1]: the list entry; ARGV: the fields, in order of preference. */
static const char list_lua[] = PICK_LUA "return pick(KEYS[1], 1)";
/* KEYS[1]: the token entry; ARGV[1]: the list key prefix, then the list's
 * fields as for list_lua. Returns {auth body, auth gen} and, when it
 * resolves, the list as pick does (nil for absent). The list key is derived
 * from the token entry, so it cannot be declared in KEYS: fine on a
 * standalone Redis, which is what the service uses. */
static const char auth_list_lua[] =
    PICK_LUA "local a = redis.call('HMGET', KEYS[1], 'body', 'gen') "
             "local uid = a[1] and string.match(a[1], '^(%d+):') "
             "if not uid then return {false, a[2] or '0'} end "
             "local t = pick(ARGV[1] .. uid, 2) "
             "return {a[1], a[2] or '0', t[1], t[2], t[3], t[4]}";

static char *reply_str(arena *a, redisReply *e, size_t *len)
{
    if (e->type != REDIS_REPLY_STRING)
        return NULL;
    if (len)
        *len = e->len;
    return arena_strndup(a, e->str, e->len);
}

/* A list as pick answers it, from E[0..4), into OUT. */
static void read_list(arena *a, redisReply **e, cache_list *out)
{
    if (e[3]->type == REDIS_REPLY_STRING)
        snprintf(out->gen, sizeof(out->gen), "%s", e[3]->str);
    if (e[0]->type != REDIS_REPLY_INTEGER || e[0]->integer < 0 ||
        e[2]->type != REDIS_REPLY_STRING || e[2]->len >= sizeof(out->etag))
        return;
    out->body = reply_str(a, e[1], &out->len);
    if (out->body == NULL)
        return;
    out->field = (int)e[0]->integer;
    memcpy(out->etag, e[2]->str, e[2]->len + 1);
}

static void list_miss(cache_list *out)
{
    out->field = -1;
    out->body = NULL;
    out->len = 0;
    out->etag[0] = out->gen[0] = '\0';
}

int cache_lookup_list(arena *a, const char *key, const char *const *fields, int n, cache_list *out,
                      long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = -1;
    list_miss(out);
    const char *argv[1 + CACHE_LIST_FIELDS_MAX];
    if (n > CACHE_LIST_FIELDS_MAX || flush_pending() != 0)
        goto done;
    argv[0] = key;
    memcpy(argv + 1, fields, sizeof(char *) * (size_t)n);
    redisReply *r = redis_eval(&conn, list_lua, 1, 1 + n, argv, NULL);
    if (r == NULL)
        goto done;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        read_list(a, r->element, out);
        rc = 0;
    }
    freeReplyObject(r);
done:
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

/* Which user a token (its auth entry's key) was for, as this worker last
 * saw it: a guess that lets a cache hit read the token's entry and the
 * user's list in one pipelined round trip without a script. A script has
 * to copy a 20 KB body into Lua and back, which cost Redis 4x a plain
 * HMGET; the guess costs nothing when wrong: the token's entry is read in
 * the same round trip, and anything but the guessed user (or no entry: a
 * revoked or expired token) goes the scripted way. Direct-mapped, 128
 * slots, a worker's own memory. */
#define UID_MEMO 128
static struct {
    char key[80];
    char uid[24];
} uid_memo[UID_MEMO];

static unsigned memo_slot(const char *key)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *key != '\0'; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % UID_MEMO;
}

static const char *memo_uid(const char *key)
{
    unsigned i = memo_slot(key);
    return uid_memo[i].uid[0] != '\0' && strcmp(uid_memo[i].key, key) == 0 ? uid_memo[i].uid : NULL;
}

/* Remember the user of auth entry KEY from its body ("<uid>:..."); with
 * BODY NULL, forget it. */
static void memo_set(const char *key, const char *body)
{
    unsigned i = memo_slot(key);
    size_t kl = strlen(key), ul = body ? strspn(body, "0123456789") : 0;
    if (body == NULL || ul == 0 || body[ul] != ':' || ul >= sizeof(uid_memo[i].uid) ||
        kl >= sizeof(uid_memo[i].key)) {
        if (strcmp(uid_memo[i].key, key) == 0)
            uid_memo[i].uid[0] = '\0';
        return;
    }
    memcpy(uid_memo[i].key, key, kl + 1);
    memcpy(uid_memo[i].uid, body, ul);
    uid_memo[i].uid[ul] = '\0';
}

static int is_str(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING;
}

/* The hit path without a script (see uid_memo): 1 when it answered
 * (*AUTH_BODY, AUTH_GEN and LIST set as the script would), 0 when the
 * scripted way must answer instead. */
static int lookup_guessed(arena *a, const char *auth_key, const char *list_prefix,
                          const char *first_field, char **auth_body, char *auth_gen,
                          cache_list *list)
{
    const char *uid = memo_uid(auth_key);
    if (uid == NULL)
        return 0;
    char *list_key = arena_sprintf(a, "%s%s", list_prefix, uid);
    if (list_key == NULL)
        return 0;
    const char *c1[] = {"HMGET", auth_key, "body", "gen"};
    const char *c2[] = {"HMGET", list_key, "etag", "filled", "gen", first_field};
    redisReply *r1, *r2;
    if (redis_command2(&conn, 4, c1, 6, c2, &r1, &r2) != 0)
        return 0;
    int answered = 0;
    size_t ul = strlen(uid);
    if (r1->type != REDIS_REPLY_ARRAY || r1->elements != 2 || r2->type != REDIS_REPLY_ARRAY ||
        r2->elements != 4)
        goto out;
    redisReply *body = r1->element[0], *agen = r1->element[1];
    if (!is_str(body) || body->len <= ul || memcmp(body->str, uid, ul) != 0 || body->str[ul] != ':')
        goto out;                 /* revoked, expired or someone else's now: the script decides */
    redisReply **e = r2->element; /* etag, filled, gen, value */
    const char *g = is_str(e[2]) ? e[2]->str : "0";
    int current = is_str(e[0]) && is_str(e[1]) && strcmp(e[1]->str, g) == 0;
    if (current && !is_str(e[3]))
        goto out; /* filled, but not in the first choice: the others are the script's */
    *auth_body = arena_strndup(a, body->str, body->len);
    if (*auth_body == NULL)
        goto out;
    snprintf(auth_gen, 24, "%s", is_str(agen) ? agen->str : "0");
    snprintf(list->gen, sizeof(list->gen), "%s", g);
    if (current && e[0]->len < sizeof(list->etag)) {
        list->body = arena_strndup(a, e[3]->str, e[3]->len);
        if (list->body != NULL) {
            list->len = e[3]->len;
            list->field = 0;
            memcpy(list->etag, e[0]->str, e[0]->len + 1);
        }
    }
    answered = 1;
out:
    freeReplyObject(r1);
    freeReplyObject(r2);
    return answered;
}

int cache_lookup_auth_list(arena *a, const char *auth_key, const char *list_prefix,
                           const char *const *fields, int n, char **auth_body, char *auth_gen,
                           cache_list *list, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = -1;
    *auth_body = NULL;
    auth_gen[0] = '\0';
    list_miss(list);
    const char *argv[2 + CACHE_LIST_FIELDS_MAX];
    if (n > CACHE_LIST_FIELDS_MAX || flush_pending() != 0)
        goto done;
    if (n >= 1 &&
        lookup_guessed(a, auth_key, list_prefix, fields[0], auth_body, auth_gen, list) == 1) {
        rc = 0;
        goto done;
    }
    list_miss(list);
    *auth_body = NULL;
    auth_gen[0] = '\0';
    argv[0] = auth_key;
    argv[1] = list_prefix;
    memcpy(argv + 2, fields, sizeof(char *) * (size_t)n);
    redisReply *r = redis_eval(&conn, auth_list_lua, 1, 2 + n, argv, NULL);
    if (r == NULL)
        goto done;
    if (r->type == REDIS_REPLY_ARRAY && (r->elements == 2 || r->elements == 6)) {
        *auth_body = reply_str(a, r->element[0], NULL);
        memo_set(auth_key, *auth_body);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            snprintf(auth_gen, 24, "%s", r->element[1]->str);
        if (r->elements == 6)
            read_list(a, r->element + 2, list);
        rc = 0;
    }
    freeReplyObject(r);
done:
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

int cache_fill_fields(const char *key, const char *gen, int n, const char *const *fields,
                      const char *const *vals, const size_t *lens, int ttl, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = -1;
    if (gen[0] == '\0' || n > CACHE_LIST_FIELDS_MAX)
        goto done;
    char ttls[16];
    snprintf(ttls, sizeof(ttls), "%d", ttl);
    const char *argv[3 + 2 * CACHE_LIST_FIELDS_MAX] = {key, gen, ttls};
    size_t alens[3 + 2 * CACHE_LIST_FIELDS_MAX] = {strlen(key), strlen(gen), strlen(ttls)};
    for (int i = 0; i < n; i++) {
        argv[3 + 2 * i] = fields[i];
        alens[3 + 2 * i] = strlen(fields[i]);
        argv[4 + 2 * i] = vals[i];
        alens[4 + 2 * i] = lens[i];
    }
    redisReply *r = redis_eval(&conn, fill_lua, 1, 3 + 2 * n, argv, alens);
    if (r == NULL)
        goto done;
    /* An error here is typically OOM at maxmemory: not fatal, just not cached. */
    rc = r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? 0 : -1;
    freeReplyObject(r);
done:
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

int cache_fill(const char *key, const char *gen, const char *body, size_t len, int ttl, long *us)
{
    static const char *const field[] = {"body"};
    return cache_fill_fields(key, gen, 1, field, &body, &len, ttl, us);
}

static void remember(const char *key)
{
    for (int i = 0; i < npending; i++)
        if (strcmp(pending[i], key) == 0)
            return;
    if (npending == PENDING_MAX) {
        pending_overflow = 1;
        return;
    }
    pending[npending] = strdup(key);
    if (pending[npending] == NULL)
        pending_overflow = 1;
    else
        npending++;
}

int cache_invalidate(const char *const *keys, int n, int ttl, long *us)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = 0;
    pending_ttl = ttl;
    if (n > 0 && run_invalidate(keys, n, ttl) != 0) {
        for (int i = 0; i < n; i++)
            remember(keys[i]);
        rc = -1;
    }
    if (us)
        *us += elapsed_us(&t0);
    return rc;
}

int cache_pending(void)
{
    return npending > 0 || pending_overflow;
}

int cache_replay_pending(void)
{
    return flush_pending();
}

int cache_ttl(void)
{
    return ttl_s;
}

void cache_close(void)
{
    redis_close(&conn);
    while (npending > 0)
        free(pending[--npending]);
    while (npatterns > 0)
        free(patterns[--npatterns]);
}
