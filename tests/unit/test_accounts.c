/*
 * test_accounts.c - the pure pieces of the account lifecycle: one-time
 * codes and their keyed hashes (crypto.h), and the normalization and keys
 * of the throttle counters (throttle.h).
 */
#include "arena.h"
#include "crypto.h"
#include "test.h"
#include "throttle.h"

#include <stdlib.h>

TEST(codes_are_six_digits_and_spread_over_the_range)
{
    CHECK(crypto_setup("test-secret", 1, 8) == 0);
    char code[CODE_LEN + 1];
    int first_digit[10] = {0}, distinct = 0;
    char seen[64][CODE_LEN + 1];
    for (int i = 0; i < 2000; i++) {
        crypto_code_new(code);
        CHECK(strlen(code) == CODE_LEN);
        for (int k = 0; k < CODE_LEN; k++)
            CHECK(code[k] >= '0' && code[k] <= '9');
        first_digit[code[0] - '0']++;
        if (i < 64) {
            int dup = 0;
            for (int j = 0; j < distinct; j++)
                dup |= strcmp(seen[j], code) == 0;
            if (!dup)
                strcpy(seen[distinct++], code);
        }
    }
    /* Leading zeros are kept ("000123"), and every leading digit turns up:
     * 2000 draws put about 200 on each. */
    for (int d = 0; d < 10; d++)
        CHECK(first_digit[d] > 100 && first_digit[d] < 300);
    CHECK(distinct >= 60);
}

TEST(crypto_mac_is_keyed_framed_and_stable)
{
    CHECK(crypto_setup("key-one", 1, 8) == 0);
    char a[TOKEN_HASH_LEN + 1], b[TOKEN_HASH_LEN + 1], c[TOKEN_HASH_LEN + 1], t[TOKEN_HASH_LEN + 1];
    const char *p1[] = {"code", "password_reset", "42", "123456"};
    const char *p2[] = {"code", "password_reset", "421", "23456"}; /* same bytes, other split */
    const char *p3[] = {"code", "verify_email", "42", "123456"};
    crypto_mac(p1, 4, a);
    crypto_mac(p1, 4, b);
    CHECK(strlen(a) == 64 && strcmp(a, b) == 0);
    CHECK(strstr(a, "123456") == NULL);
    crypto_mac(p2, 4, c);
    CHECK(strcmp(a, c) != 0);
    crypto_mac(p3, 4, c);
    CHECK(strcmp(a, c) != 0);
    /* Not the token hash of the same text: the keys are separate. */
    crypto_token_hash("123456", t);
    const char *p4[] = {"123456"};
    crypto_mac(p4, 1, c);
    CHECK(strcmp(t, c) != 0);
    CHECK(crypto_setup("key-two", 1, 8) == 0);
    crypto_mac(p1, 4, c);
    CHECK(strcmp(a, c) != 0);
}

TEST(throttle_normalizes_identifiers)
{
    char out[32];
    throttle_normalize("  Alice@Example.COM \t", out, sizeof(out));
    CHECK_STR(out, "alice@example.com");
    throttle_normalize("bob", out, sizeof(out));
    CHECK_STR(out, "bob");
    throttle_normalize("   ", out, sizeof(out));
    CHECK_STR(out, "");
    throttle_normalize("\xc3\x89lan", out, sizeof(out)); /* non-ASCII bytes kept as they are */
    CHECK_STR(out, "\xc3\x89lan");
    throttle_normalize("ABCDEFGHIJ", out, 5); /* truncated to fit */
    CHECK_STR(out, "abcd");
}

TEST(throttle_keys_hide_the_identifier_and_name_the_address)
{
    CHECK(crypto_setup("test-secret", 1, 8) == 0);
    arena a;
    CHECK(arena_init(&a, 1024) == 0);
    const char *k1 = throttle_account_key(&a, "login", "Alice");
    const char *k2 = throttle_account_key(&a, "login", " alice ");
    const char *k3 = throttle_account_key(&a, "reset", "alice");
    CHECK(strncmp(k1, "throttle:login:acct:", 20) == 0 && strlen(k1) == 20 + 64);
    CHECK_STR(k1, k2);
    CHECK(strcmp(k1 + 20, k3 + 20) == 0); /* same account, scope in the prefix */
    CHECK(strstr(k1, "alice") == NULL);
    CHECK(strcmp(k1, throttle_account_key(&a, "login", "alicia")) != 0);
    const char *p1 = throttle_account_ip_key(&a, "login", "Alice", "127.0.0.2");
    CHECK(strncmp(p1, "throttle:login:acct-ip:", 23) == 0 && strlen(p1) == 23 + 64);
    CHECK_STR(p1, throttle_account_ip_key(&a, "login", " alice ", "127.0.0.2"));
    CHECK(strcmp(p1, throttle_account_ip_key(&a, "login", "alice", "127.0.0.3")) != 0);
    CHECK(strcmp(p1 + 23, k1 + 20) != 0 && strstr(p1, "127.0.0.2") == NULL);
    CHECK_STR(throttle_account_ip_key(&a, "login", "alice", NULL),
              throttle_account_ip_key(&a, "login", "alice", "unknown"));
    CHECK_STR(throttle_ip_key(&a, "login", "127.0.0.2"), "throttle:login:ip:127.0.0.2");
    CHECK_STR(throttle_ip_key(&a, "login", "::1"), "throttle:login:ip:::1");
    CHECK_STR(throttle_ip_key(&a, "login", NULL), "throttle:login:ip:unknown");
    CHECK_STR(throttle_ip_key(&a, "login", ""), "throttle:login:ip:unknown");
    arena_destroy(&a);
}

TEST(job_secrets_are_sealed_bound_to_their_job_and_keyed)
{
    CHECK(crypto_setup("test-secret", 1, 8) == 0);
    const char *ctx[] = {"email.verify", "a@example.com"};
    char box[CRYPTO_SEALED_MAX], box2[CRYPTO_SEALED_MAX], out[CODE_LEN + 1];
    CHECK(crypto_seal(ctx, 2, "012345", box, sizeof(box)) == 0);
    CHECK(strstr(box, "012345") == NULL);
    CHECK(crypto_open(ctx, 2, box, out, sizeof(out)) == 0);
    CHECK_STR(out, "012345");
    /* A random nonce each time: the same code never looks the same. */
    CHECK(crypto_seal(ctx, 2, "012345", box2, sizeof(box2)) == 0);
    CHECK(strcmp(box, box2) != 0);
    /* Bound to its job type and address, framed ("a", "bc" is not "ab", "c"). */
    const char *to_other[] = {"email.verify", "b@example.com"};
    const char *other_type[] = {"email.password_reset", "a@example.com"};
    const char *shifted[] = {"email.verifya", "@example.com"};
    CHECK(crypto_open(to_other, 2, box, out, sizeof(out)) == -1);
    CHECK(crypto_open(other_type, 2, box, out, sizeof(out)) == -1);
    CHECK(crypto_open(shifted, 2, box, out, sizeof(out)) == -1);
    /* Tampered, cut, not base64, empty, too big for OUT: refused. */
    char bad[CRYPTO_SEALED_MAX];
    strcpy(bad, box);
    bad[strlen(bad) / 2] = bad[strlen(bad) / 2] == 'A' ? 'B' : 'A';
    CHECK(crypto_open(ctx, 2, bad, out, sizeof(out)) == -1);
    strcpy(bad, box);
    bad[strlen(bad) - 4] = '\0';
    CHECK(crypto_open(ctx, 2, bad, out, sizeof(out)) == -1);
    CHECK(crypto_open(ctx, 2, "not base64 at all!", out, sizeof(out)) == -1);
    CHECK(crypto_open(ctx, 2, "", out, sizeof(out)) == -1);
    CHECK(crypto_open(ctx, 2, box, out, CODE_LEN) == -1);
    /* Too small a buffer to seal into, or too long a secret: refused. */
    CHECK(crypto_seal(ctx, 2, "012345", box2, 20) == -1);
    char long_secret[CRYPTO_SEAL_MSG_MAX + 2];
    memset(long_secret, 'x', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    CHECK(crypto_seal(ctx, 2, long_secret, box2, sizeof(box2)) == -1);
    /* Another SECRET_KEY cannot open it; the worker's setup alone can. */
    CHECK(crypto_setup("another-secret", 1, 8) == 0);
    CHECK(crypto_open(ctx, 2, box, out, sizeof(out)) == -1);
    CHECK(crypto_seal_setup("test-secret") == 0);
    CHECK(crypto_open(ctx, 2, box, out, sizeof(out)) == 0);
    CHECK_STR(out, "012345");
    CHECK(crypto_seal_setup("") == -1);
}

RUN_TESTS()
