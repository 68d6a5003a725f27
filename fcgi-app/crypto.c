/*
 * crypto.c - libsodium behind the few calls the API needs.
 */
#include "crypto.h"

#include <sodium.h>
#include <string.h>

static unsigned char token_key[crypto_generichash_KEYBYTES];
static unsigned char mac_key[crypto_generichash_KEYBYTES];
static unsigned char seal_key[crypto_generichash_KEYBYTES];
static int seal_ready;
static unsigned long long pw_ops;
static size_t pw_mem;
static char dummy_hash[crypto_pwhash_STRBYTES];

int crypto_setup(const char *secret, unsigned long long opslimit, size_t memlimit_kb)
{
    if (sodium_init() < 0 || secret == NULL || *secret == '\0')
        return -1;
    /* Domain-separated derivation so SECRET_KEY can serve other uses later. */
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(token_key));
    crypto_generichash_update(&st, (const unsigned char *)"honeydue-token-v1", 17);
    crypto_generichash_update(&st, (const unsigned char *)secret, strlen(secret));
    crypto_generichash_final(&st, token_key, sizeof(token_key));
    crypto_generichash_init(&st, NULL, 0, sizeof(mac_key));
    crypto_generichash_update(&st, (const unsigned char *)"honeydue-mac-v1", 15);
    crypto_generichash_update(&st, (const unsigned char *)secret, strlen(secret));
    crypto_generichash_final(&st, mac_key, sizeof(mac_key));
    if (crypto_seal_setup(secret) != 0)
        return -1;
    pw_ops = opslimit ? opslimit : crypto_pwhash_OPSLIMIT_INTERACTIVE;
    pw_mem = memlimit_kb ? memlimit_kb * 1024 : crypto_pwhash_MEMLIMIT_INTERACTIVE;
    if (pw_ops < crypto_pwhash_OPSLIMIT_MIN)
        pw_ops = crypto_pwhash_OPSLIMIT_MIN;
    if (pw_mem < crypto_pwhash_MEMLIMIT_MIN)
        pw_mem = crypto_pwhash_MEMLIMIT_MIN;
    /* The dummy hash costs one argon2id run (~100 ms): the master computes
     * it before forking, so a new worker (a reload) is ready at once. */
    static unsigned long long dummy_ops;
    static size_t dummy_mem;
    if (dummy_hash[0] != '\0' && dummy_ops == pw_ops && dummy_mem == pw_mem)
        return 0;
    char random_pw[TOKEN_LEN + 1];
    if (crypto_token_new(random_pw, sizeof(random_pw)) != 0) /* 40 chars; 32 are enough */
        return -1;
    random_pw[32] = '\0';
    if (crypto_pwhash_str(dummy_hash, random_pw, 32, pw_ops, pw_mem) != 0) {
        dummy_hash[0] = '\0';
        return -1;
    }
    dummy_ops = pw_ops;
    dummy_mem = pw_mem;
    return 0;
}

int crypto_token_new(char *out, size_t cap)
{
    if (cap < TOKEN_LEN + 1)
        return -1;
    unsigned char raw[TOKEN_LEN / 2];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, TOKEN_LEN + 1, raw, sizeof(raw));
    return 0;
}

int crypto_token_valid(const char *s)
{
    size_t i;
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (i >= TOKEN_LEN || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return i == TOKEN_LEN;
}

void crypto_token_hash(const char *token, char *out)
{
    unsigned char h[TOKEN_HASH_LEN / 2];
    crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), token_key,
                       sizeof(token_key));
    sodium_bin2hex(out, TOKEN_HASH_LEN + 1, h, sizeof(h));
}

int crypto_password_hash(const char *password, char *out)
{
    char buf[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(buf, password, strlen(password), pw_ops, pw_mem) != 0)
        return -1;
    if (strlen(buf) >= PASSWORD_HASH_MAX)
        return -1;
    strcpy(out, buf);
    return 0;
}

int crypto_password_verify(const char *password, const char *hash)
{
    if (hash == NULL) {
        if (crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
            return 0; /* cannot happen: the dummy password is random */
        return 0;
    }
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void crypto_share_code_new(char *out, size_t len)
{
    static const char alphabet[] = SHARE_CODE_ALPHABET;
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[len] = '\0';
}

int crypto_share_code_normalize(const char *in, char *out, size_t cap, size_t len)
{
    size_t n = 0;
    for (; *in != '\0'; in++) {
        char c = *in;
        if (c == ' ' || c == '-')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (strchr(SHARE_CODE_ALPHABET, c) == NULL || n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return n == len ? 0 : -1;
}

void crypto_code_new(char *out)
{
    unsigned v = (unsigned)randombytes_uniform(1000000);
    for (int i = CODE_LEN - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[CODE_LEN] = '\0';
}

/* BLAKE2b keyed with KEY over PARTS[0..N), each framed by its length, into
 * H (HLEN bytes). */
static void framed_hash(const unsigned char *key, const char *const *parts, int n,
                        unsigned char *h, size_t hlen)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, crypto_generichash_KEYBYTES, hlen);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(parts[i]);
        unsigned char frame[8];
        for (int b = 0; b < 8; b++)
            frame[b] = (unsigned char)((unsigned long long)len >> (8 * b));
        crypto_generichash_update(&st, frame, sizeof(frame));
        crypto_generichash_update(&st, (const unsigned char *)parts[i], len);
    }
    crypto_generichash_final(&st, h, hlen);
}

void crypto_mac(const char *const *parts, int n, char *out)
{
    unsigned char h[TOKEN_HASH_LEN / 2];
    framed_hash(mac_key, parts, n, h, sizeof(h));
    sodium_bin2hex(out, TOKEN_HASH_LEN + 1, h, sizeof(h));
}

int crypto_seal_setup(const char *secret)
{
    if (sodium_init() < 0 || secret == NULL || *secret == '\0')
        return -1;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(seal_key));
    crypto_generichash_update(&st, (const unsigned char *)"honeydue-jobseal-v1", 19);
    crypto_generichash_update(&st, (const unsigned char *)secret, strlen(secret));
    crypto_generichash_final(&st, seal_key, sizeof(seal_key));
    seal_ready = 1;
    return 0;
}

#define SEAL_OVERHEAD (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
#define SEAL_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

_Static_assert(crypto_secretbox_KEYBYTES == crypto_generichash_BYTES, "a box key is one hash");
_Static_assert(sodium_base64_ENCODED_LEN(SEAL_OVERHEAD + CRYPTO_SEAL_MSG_MAX, SEAL_VARIANT) <=
                   CRYPTO_SEALED_MAX,
               "CRYPTO_SEALED_MAX holds any sealed text");

int crypto_seal(const char *const *ctx, int n, const char *msg, char *out, size_t cap)
{
    size_t len = strlen(msg);
    unsigned char key[crypto_secretbox_KEYBYTES], buf[SEAL_OVERHEAD + CRYPTO_SEAL_MSG_MAX];
    if (!seal_ready || len > CRYPTO_SEAL_MSG_MAX ||
        cap < sodium_base64_ENCODED_LEN(SEAL_OVERHEAD + len, SEAL_VARIANT))
        return -1;
    framed_hash(seal_key, ctx, n, key, sizeof(key));
    randombytes_buf(buf, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(buf + crypto_secretbox_NONCEBYTES, (const unsigned char *)msg, len, buf,
                          key);
    sodium_bin2base64(out, cap, buf, SEAL_OVERHEAD + len, SEAL_VARIANT);
    sodium_memzero(key, sizeof(key));
    return 0;
}

int crypto_open(const char *const *ctx, int n, const char *sealed, char *out, size_t cap)
{
    unsigned char key[crypto_secretbox_KEYBYTES], buf[SEAL_OVERHEAD + CRYPTO_SEAL_MSG_MAX];
    size_t blen;
    if (!seal_ready ||
        sodium_base642bin(buf, sizeof(buf), sealed, strlen(sealed), NULL, &blen, NULL,
                          SEAL_VARIANT) != 0 ||
        blen < SEAL_OVERHEAD || blen - SEAL_OVERHEAD + 1 > cap)
        return -1;
    framed_hash(seal_key, ctx, n, key, sizeof(key));
    int rc = crypto_secretbox_open_easy((unsigned char *)out, buf + crypto_secretbox_NONCEBYTES,
                                        blen - crypto_secretbox_NONCEBYTES, buf, key);
    sodium_memzero(key, sizeof(key));
    if (rc != 0)
        return -1;
    out[blen - SEAL_OVERHEAD] = '\0';
    return 0;
}

void crypto_etag(const char *data, size_t len, char *out)
{
    /* SipHash-2-4 with a fixed key: an ETag needs a good 64-bit checksum,
     * not a secret. BLAKE2b here cost ~40 us per 20 KB task list, the
     * largest item of a cache hit's CPU in `perf`; SipHash is ~4x cheaper. */
    static const unsigned char key[crypto_shorthash_KEYBYTES] = "honeydue-etag-k";
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)data, len, key);
    sodium_bin2hex(out, 17, h, sizeof(h));
}
