/*
 * test_runtime.c - the pure pieces of the runtime: the named-query file
 * parser and its annotations, the arena, tokens and passwords, the
 * Authorization header and REDIS_URL parsing, and the embedded sql/ files
 * themselves.
 */
#include "arena.h"
#include "authn.h"
#include "redis.h"
#include "config.h"
#include "crypto.h"
#include "queue.h"
#include "scoreboard.h"
#include "embed.h"
#include "sqlfile.h"
#include "test.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdint.h>
#include <stddef.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

TEST(sqlfile_parses_named_blocks)
{
    sql_query *q = NULL;
    int n = 0;
    char err[128];
    const char *text = "-- Queries for things.\n\n"
                       "-- name: a_one\n-- comment kept\nSELECT 1;\n\n"
                       "-- name: b_two\nSELECT $1\n  FROM t\n";
    CHECK(sqlfile_parse("x.sql", text, &q, &n, err, sizeof(err)) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK_STR(q[0].name, "a_one");
        CHECK_STR(q[0].sql, "-- comment kept\nSELECT 1");
        CHECK_STR(q[1].name, "b_two");
        CHECK_STR(q[1].sql, "SELECT $1\n  FROM t");
    }
    sqlfile_free(q, n);
}

TEST(sqlfile_rejects_bad_files)
{
    sql_query *q = NULL;
    int n = 0;
    char err[128];
    CHECK(sqlfile_parse("x.sql", "SELECT 1;\n-- name: a\nSELECT 2\n", &q, &n, err, sizeof(err)) ==
          -1);
    CHECK(sqlfile_parse("x.sql", "-- name: a\n-- only a comment\n", &q, &n, err, sizeof(err)) ==
          -1);
    CHECK(sqlfile_parse("x.sql", "-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n", &q, &n, err,
                        sizeof(err)) == -1);
    CHECK(strstr(err, "twice") != NULL);
    sqlfile_free(q, n);
}

TEST(sqlfile_reads_annotations)
{
    sql_query *q = NULL;
    int n = 0;
    char err[128];
    const char *text = "-- name: a_read retry\n-- doc\nSELECT 1\n"
                       "-- name: b_write\nUPDATE t SET x = 1\n"
                       "-- name: c_read \t retry \r\nSELECT 2\n";
    CHECK(sqlfile_parse("x.sql", text, &q, &n, err, sizeof(err)) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_STR(q[0].name, "a_read");
        CHECK(q[0].flags == SQL_RETRY);
        CHECK_STR(q[0].sql, "-- doc\nSELECT 1");
        CHECK_STR(q[1].name, "b_write");
        CHECK(q[1].flags == 0);
        CHECK_STR(q[2].name, "c_read");
        CHECK(q[2].flags == SQL_RETRY);
    }
    sqlfile_free(q, n);
}

TEST(sqlfile_rejects_unknown_annotations)
{
    static const char *const bad[] = {
        "-- name: a retri\nSELECT 1\n",       /* misspelt: must not mean "not safe" */
        "-- name: a RETRY\nSELECT 1\n",       /* annotations are lower case */
        "-- name: a retry=yes\nSELECT 1\n",   /* a word, not a setting */
        "-- name: a retry retry\nSELECT 1\n", /* twice */
        "-- name: a-b\nSELECT 1\n",           /* was quietly read as "a" */
        "-- name: a\nSELECT 1\n-- name: b idempotent\nSELECT 2\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sql_query *q = NULL;
        int n = 0;
        char err[128] = "";
        int rc = sqlfile_parse("x.sql", bad[i], &q, &n, err, sizeof(err));
        if (rc != -1)
            fprintf(stderr, "  accepted: %s", bad[i]);
        CHECK(rc == -1);
        CHECK(strstr(err, "x.sql") != NULL);
        sqlfile_free(q, n);
    }
    sql_query *q = NULL;
    int n = 0;
    char err[128] = "";
    CHECK(sqlfile_parse("x.sql", "-- name: a retri\nSELECT 1\n", &q, &n, err, sizeof(err)) == -1);
    CHECK(strstr(err, "unknown annotation 'retri'") != NULL);
    sqlfile_free(q, n);
}

/* Whether SQL, its comments left out, has WORD (any case) as a whole word. */
static int sql_has_word(const char *sql, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = sql; *p != '\0'; p++) {
        if (p[0] == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n')
                p++;
            if (*p == '\0')
                break;
            continue;
        }
        if (strncasecmp(p, word, wl) == 0 &&
            (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
            !(isalnum((unsigned char)p[wl]) || p[wl] == '_'))
            return 1;
    }
    return 0;
}

/* Every query in sql/ that reads only is marked retry, and every one that
 * writes is not, but for the writes reviewed as safe to run twice (their
 * comment in sql/ says why). The functions the reads call (task_json,
 * task_status, residence_today, document_json) are IMMUTABLE or STABLE and
 * write nothing, which a text check cannot see: review a new one. */
TEST(embedded_sql_retry_marks_reads_only)
{
    static const char *const writes[] = {"INSERT",   "UPDATE",  "DELETE", "MERGE",
                                         "TRUNCATE", "nextval", "setval"};
    static const char *const idempotent_writes[] = {"idem_lookup", "preferences_get"};
    sql_query *q = NULL;
    int n = 0;
    char err[256] = "";
    int rc = 0;
    for (int i = 0; i < embed_sql_n && rc == 0; i++)
        rc = sqlfile_parse(embed_sql[i].path, embed_sql[i].text, &q, &n, err, sizeof(err));
    CHECK(rc == 0);
    int marked = 0;
    for (int i = 0; i < n; i++) {
        int is_write = 0;
        for (size_t w = 0; w < sizeof(writes) / sizeof(writes[0]); w++)
            is_write |= sql_has_word(q[i].sql, writes[w]);
        int reviewed = 0;
        for (size_t k = 0; k < sizeof(idempotent_writes) / sizeof(idempotent_writes[0]); k++)
            reviewed |= strcmp(q[i].name, idempotent_writes[k]) == 0;
        int retry = (q[i].flags & SQL_RETRY) != 0;
        marked += retry;
        if (retry != (!is_write || reviewed)) {
            fprintf(stderr, "  %s %s, but is %smarked retry\n", q[i].name,
                    is_write ? "writes" : "only reads", retry ? "" : "not ");
            *failed = 1;
        }
        if (reviewed && !is_write) {
            fprintf(stderr, "  %s no longer writes: take it out of idempotent_writes\n", q[i].name);
            *failed = 1;
        }
    }
    CHECK(marked >= 20);
    for (int i = 0; i < n; i++) { /* the ones the fault tests lean on */
        if (strcmp(q[i].name, "auth_token_user") == 0 || strcmp(q[i].name, "tasks_list") == 0 ||
            strcmp(q[i].name, "users_me") == 0)
            CHECK(q[i].flags & SQL_RETRY);
        if (strcmp(q[i].name, "auth_token_touch") == 0 || strcmp(q[i].name, "tasks_update") == 0)
            CHECK(!(q[i].flags & SQL_RETRY));
    }
    sqlfile_free(q, n);
}

TEST(embedded_sql_parses_with_unique_names)
{
    sql_query *q = NULL;
    int n = 0;
    char err[256] = "";
    int rc = 0;
    for (int i = 0; i < embed_sql_n && rc == 0; i++)
        rc = sqlfile_parse(embed_sql[i].path, embed_sql[i].text, &q, &n, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK(rc == 0);
    CHECK(n >= 10);
    sqlfile_free(q, n);
}

/* The build embeds each file byte for byte (backslashes, quotes, tabs). */
static int embedded_equals_file(const embed_file *e)
{
    FILE *f = fopen(e->path, "rb");
    if (f == NULL)
        return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, e->text) == 0;
}

TEST(embedded_files_are_byte_exact)
{
    for (int i = 0; i < embed_sql_n; i++)
        if (!embedded_equals_file(&embed_sql[i])) {
            fprintf(stderr, "  %s differs from its embedded copy\n", embed_sql[i].path);
            *failed = 1;
        }
    for (int i = 0; i < embed_migrations_n; i++)
        if (!embedded_equals_file(&embed_migrations[i])) {
            fprintf(stderr, "  %s differs from its embedded copy\n", embed_migrations[i].path);
            *failed = 1;
        }
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The master kills a worker busy for longer than HONEYDUE_REQUEST_TIMEOUT by
 * comparing sb_now_ms() with the worker's busy_since_ms: both must be on
 * CLOCK_MONOTONIC, or a step of the wall clock kills or spares the wrong
 * worker. The start times the status page shows stay wall-clock times. */
TEST(scoreboard_times_requests_on_monotonic_clock)
{
    CHECK(sb_open() == 0);
    scoreboard *b = sb_get();
    if (b == NULL)
        return;
    sb_claim(0, getpid(), 1);
    sb_attach(0);
    int64_t mono = clock_ms(CLOCK_MONOTONIC), wall = clock_ms(CLOCK_REALTIME);
    sb_busy("GET", "/api/x/", "/api/x/", "rid");
    sb_slot *s = sb_self();
    CHECK(s != NULL);
    if (s == NULL)
        return;
    int64_t since = atomic_load(&s->busy_since_ms);
    CHECK(since >= mono && since - mono < 1000);
    int64_t now = sb_now_ms();
    CHECK(now >= since && now - since < 1000);
    CHECK(s->started_ms >= wall - 1000 && s->started_ms <= wall + 1000);
    CHECK(b->started_ms >= wall - 1000 && b->started_ms <= wall + 1000);
    sb_idle();
    CHECK(atomic_load(&s->busy_since_ms) == 0);
    CHECK(atomic_load(&s->requests) == 1);
    sb_release(getpid());
}

TEST(arena_allocates_aligned_and_resets)
{
    arena a;
    CHECK(arena_init(&a, 256) == 0);
    char *p = arena_alloc(&a, 3);
    double *d = arena_alloc(&a, sizeof(double));
    CHECK(p != NULL && d != NULL);
    CHECK(((uintptr_t)d % _Alignof(max_align_t)) == 0);
    char *big = arena_alloc(&a, 10000); /* larger than a block */
    CHECK(big != NULL);
    if (big != NULL)
        memset(big, 'x', 10000);
    CHECK(arena_held(&a) >= 10256);
    CHECK_STR(arena_sprintf(&a, "%s-%d", "id", 7), "id-7");
    arena_reset(&a);
    CHECK(arena_held(&a) == 256);
    CHECK_STR(arena_strndup(&a, "hello", 4), "hell");
    arena_destroy(&a);
}

TEST(tokens_are_40_hex_and_distinct)
{
    CHECK(crypto_setup("test-secret", 1, 8) == 0);
    char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1];
    CHECK(crypto_token_new(a, sizeof(a)) == 0 && crypto_token_new(b, sizeof(b)) == 0);
    CHECK(strlen(a) == 40 && crypto_token_valid(a));
    CHECK(strcmp(a, b) != 0);
    CHECK(!crypto_token_valid("abc"));
    CHECK(!crypto_token_valid("ABCDEF0123456789abcdef0123456789abcdef01"));
    CHECK(!crypto_token_valid("0123456789abcdef0123456789abcdef012345678"));
}

/* crypto_setup made its dummy hash's password in a 33-byte buffer from a
 * 41-byte token: a stack overflow inside libsodium, where ASan does not
 * look. A too-small buffer is now refused, and setup must still work. */
TEST(a_token_never_overflows_its_buffer)
{
    char small[33], big[TOKEN_LEN + 1];
    memset(small, 'x', sizeof(small));
    CHECK(crypto_token_new(small, sizeof(small)) == -1 && small[0] == 'x');
    CHECK(crypto_token_new(big, sizeof(big)) == 0 && crypto_token_valid(big));
    CHECK(crypto_setup("another-secret-for-this-test", 1, 8) == 0);
}

TEST(token_hash_is_keyed_and_stable)
{
    CHECK(crypto_setup("key-one", 1, 8) == 0);
    const char *t = "0123456789abcdef0123456789abcdef01234567";
    char h1[TOKEN_HASH_LEN + 1], h2[TOKEN_HASH_LEN + 1], h3[TOKEN_HASH_LEN + 1];
    crypto_token_hash(t, h1);
    crypto_token_hash(t, h2);
    CHECK(strlen(h1) == 64 && strcmp(h1, h2) == 0);
    CHECK(strstr(h1, t) == NULL);
    CHECK(crypto_setup("key-two", 1, 8) == 0);
    crypto_token_hash(t, h3);
    CHECK(strcmp(h1, h3) != 0);
}

TEST(passwords_hash_with_argon2id_and_verify)
{
    CHECK(crypto_setup("k", 1, 8) == 0);
    char h[PASSWORD_HASH_MAX];
    CHECK(crypto_password_hash("correct horse", h) == 0);
    CHECK(strncmp(h, "$argon2id$", 10) == 0);
    CHECK(crypto_password_verify("correct horse", h) == 1);
    CHECK(crypto_password_verify("wrong horse", h) == 0);
    CHECK(crypto_password_verify("correct horse", NULL) == 0);
}

TEST(authorization_header_parsing)
{
    const char *t = "0123456789abcdef0123456789abcdef01234567";
    char buf[80];
    snprintf(buf, sizeof(buf), "Token %s", t);
    CHECK_STR(authn_parse_header(buf), t);
    snprintf(buf, sizeof(buf), "token  %s", t);
    CHECK_STR(authn_parse_header(buf), t);
    snprintf(buf, sizeof(buf), "Bearer %s", t);
    CHECK(authn_parse_header(buf) == NULL);
    CHECK(authn_parse_header("Token ") == NULL);
    CHECK(authn_parse_header("Token abc") == NULL);
    CHECK(authn_parse_header(NULL) == NULL);
    snprintf(buf, sizeof(buf), "Token %s ", t);
    CHECK(authn_parse_header(buf) == NULL);
}

TEST(redis_url_parsing)
{
    redis_conn c;
    memset(&c, 0, sizeof(c));
    CHECK(redis_parse_url("redis://127.0.0.1:6380/2", &c) == 0);
    CHECK_STR(c.host, "127.0.0.1");
    CHECK(c.port == 6380 && c.db == 2 && !c.is_unix && c.password[0] == '\0' && c.user[0] == '\0');
    CHECK(redis_parse_url("redis://:s3cret@redis:6379/0", &c) == 0);
    CHECK_STR(c.host, "redis");
    CHECK_STR(c.password, "s3cret");
    CHECK(c.user[0] == '\0');
    /* an ACL user, percent-decoded: '@', ':' and '/' in a password */
    CHECK(redis_parse_url("redis://honeydue:p%40ss%3Aw%2Frd@redis:6380/3", &c) == 0);
    CHECK_STR(c.user, "honeydue");
    CHECK_STR(c.password, "p@ss:w/rd");
    CHECK_STR(c.host, "redis");
    CHECK(c.port == 6380 && c.db == 3);
    CHECK(redis_parse_url("redis://s3cret@redis", &c) == 0); /* the older form: a password */
    CHECK_STR(c.password, "s3cret");
    CHECK(c.user[0] == '\0');
    CHECK(redis_parse_url("redis://honeydue:@redis", &c) == -1);   /* a user without its password */
    CHECK(redis_parse_url("redis://:p%4@redis", &c) == -1);        /* a broken escape */
    CHECK(redis_parse_url("redis://:p%00w@redis", &c) == -1);      /* a NUL */
    CHECK(redis_parse_url("redis://localhost", &c) == 0);
    CHECK(c.port == 6379 && c.db == 0 && c.password[0] == '\0');
    CHECK(redis_parse_url("unix:///run/redis.sock", &c) == 0);
    CHECK(c.is_unix && strcmp(c.host, "/run/redis.sock") == 0);
    CHECK(redis_parse_url("http://x", &c) == -1);
    CHECK(redis_parse_url("redis://h:99999", &c) == -1);
    CHECK(redis_parse_url("redis://h:6379/x", &c) == -1);
}

TEST(secret_key_must_hold_32_bytes_of_entropy)
{
    const char *hex64 = "3f9a0c47e2b8d15667a9f0e3c21b8d4f5a6e7c9d0b1a2f3e4d5c6b7a89f0e1d2";
    CHECK(config_secret_key_weakness(hex64) == NULL); /* openssl rand -hex 32 */
    CHECK(config_secret_key_weakness("q3Zk9+Lr/0bW2xYvT8uN1mPa6sHc5dEf7gJh4iKo3lM=") ==
          NULL); /* openssl rand -base64 32: 43 characters and its padding */
    CHECK(config_secret_key_weakness("q3Zk9-Lr_0bW2xYvT8uN1mPa6sHc5dEf7gJh4iKo3lM") == NULL);
    CHECK(config_secret_key_weakness("Tr0ub4dor&3 horse! battery staple #correct") == NULL);
    /* missing, the placeholders (any case) */
    CHECK(config_secret_key_weakness(NULL) != NULL);
    CHECK(config_secret_key_weakness("") != NULL);
    CHECK(config_secret_key_weakness("CHANGE_ME_64_HEX_CHARACTERS") != NULL);
    CHECK(config_secret_key_weakness("x9F2kLm0pQ7rS4tU1vW8yZ3aB6cD5eG-change_me-h1J0k") != NULL);
    /* too short for its alphabet: 63 hex digits, 42 of base64, 39 of text */
    CHECK(config_secret_key_weakness("3f9a0c47e2b8d15667a9f0e3c21b8d4f5a6e7c9d0b1a2f3e4d5c6b7a89f0e1d") !=
          NULL);
    CHECK(config_secret_key_weakness("q3Zk9+Lr/0bW2xYvT8uN1mPa6sHc5dEf7gJh4iKo3l==") != NULL);
    CHECK(config_secret_key_weakness("Tr0ub4dor&3 horse! battery staple #corr") != NULL);
    /* long enough, visibly not random */
    char rep[80];
    memset(rep, 'a', sizeof(rep) - 1);
    rep[sizeof(rep) - 1] = '\0';
    CHECK(config_secret_key_weakness(rep) != NULL);
    CHECK(config_secret_key_weakness(
              "0123456701234567012345670123456701234567012345670123456701234567") != NULL);
    CHECK(config_secret_key_weakness("abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc") != NULL);
    /* the reason never quotes the key */
    CHECK(strstr(config_secret_key_weakness("CHANGE_ME_64_HEX_CHARACTERS"), "CHARACTERS") == NULL);
}

TEST(etag_depends_on_content)
{
    char a[17], b[17], c[17];
    crypto_etag("abc", 3, a);
    crypto_etag("abc", 3, b);
    crypto_etag("abd", 3, c);
    CHECK(strlen(a) == 16 && strcmp(a, b) == 0 && strcmp(a, c) != 0);
}

TEST(share_codes_are_typable_and_normalized)
{
    char code[9], out[16];
    crypto_share_code_new(code, 8);
    CHECK(strlen(code) == 8);
    for (int i = 0; i < 8; i++)
        CHECK(strchr(SHARE_CODE_ALPHABET, code[i]) != NULL);
    CHECK(strpbrk(SHARE_CODE_ALPHABET, "01OIL") == NULL);
    CHECK(crypto_share_code_normalize("abcd-efgh", out, sizeof(out), 8) == 0);
    CHECK_STR(out, "ABCDEFGH");
    CHECK(crypto_share_code_normalize(" AB CD EF GH ", out, sizeof(out), 8) == 0);
    CHECK(crypto_share_code_normalize("ABCDEFG", out, sizeof(out), 8) == -1);   /* short */
    CHECK(crypto_share_code_normalize("ABCDEFGHJ", out, sizeof(out), 8) == -1); /* long */
    CHECK(crypto_share_code_normalize("ABCDEFG0", out, sizeof(out), 8) == -1);  /* not in alphabet */
    CHECK(crypto_share_code_normalize("ABCD'EFG", out, sizeof(out), 8) == -1);
}

TEST(every_job_type_goes_to_a_declared_queue)
{
    int fallbacks = 0;
    CHECK(queue_defs_n >= 1 && queue_defs_n <= QUEUE_MAX);
    for (int i = 0; i < queue_defs_n; i++) {
        CHECK(queue_defs[i].weight > 0);
        fallbacks += queue_defs[i].fallback != 0;
    }
    CHECK(fallbacks == 1);
    CHECK_STR(queue_fallback(), "default");
    int types = 0;
    for (const queue_type *t = queue_types; t->type != NULL; t++, types++) {
        int found = 0;
        for (int i = 0; i < queue_defs_n; i++)
            found |= strcmp(t->queue, queue_defs[i].name) == 0;
        CHECK(found);
        CHECK(t->max_attempts >= 1 && t->timeout_s >= 1);
        CHECK(queue_type_find(t->type) == t);
    }
    /* Every line of the table, counted through the same X-macro. */
    enum {
        DEFINED = 0
#define JOB_QUEUE(name, weight, fallback)
#define JOB_TYPE(type, fn, queue, attempts, timeout) +1
#include "types.def"
#undef JOB_QUEUE
#undef JOB_TYPE
    };
    CHECK(types == DEFINED && types >= 11);
    CHECK_STR(queue_type_find("email.password_reset")->queue, "critical");
    CHECK_STR(queue_type_find("reminders.daily")->queue, "low");
    CHECK_STR(queue_type_find("documents.sweep")->queue, "default");
}

TEST(queue_job_document_has_every_field)
{
    const queue_type *t = queue_type_find("email.password_reset");
    CHECK(t != NULL && strcmp(t->queue, "critical") == 0);
    CHECK(queue_type_find("email.nope") == NULL);
    json_object *payload = json_object_new_object();
    json_object_object_add(payload, "to", json_object_new_string("a@example.com"));
    char *out = NULL;
    CHECK(queue_job_json("00ff", t, payload, "reset:7", 1795000000LL, 1793577600LL, &out) == 0);
    json_object_put(payload);
    json_object *job = json_tokener_parse(out);
    CHECK(job != NULL);
    json_object *v;
    CHECK(json_object_object_get_ex(job, "id", &v) &&
          strcmp(json_object_get_string(v), "00ff") == 0);
    CHECK(json_object_object_get_ex(job, "queue", &v) &&
          strcmp(json_object_get_string(v), "critical") == 0);
    CHECK(json_object_object_get_ex(job, "attempt", &v) && json_object_get_int(v) == 0);
    CHECK(json_object_object_get_ex(job, "max_attempts", &v) && json_object_get_int(v) == 8);
    CHECK(json_object_object_get_ex(job, "enqueued_at", &v) &&
          strcmp(json_object_get_string(v), "2026-11-02T00:00:00Z") == 0);
    CHECK(json_object_object_get_ex(job, "run_at", &v) && json_object_get_int64(v) == 1795000000LL);
    CHECK(json_object_object_get_ex(job, "unique_key", &v) &&
          strcmp(json_object_get_string(v), "reset:7") == 0);
    CHECK(json_object_object_get_ex(job, "payload", &v) && json_object_object_get_ex(v, "to", &v));
    json_object_put(job);
    free(out);
}

RUN_TESTS()
