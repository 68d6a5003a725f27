/*
 * crypto.h - tokens and passwords, all through libsodium.
 *
 * A token is 40 lowercase hex characters (20 random bytes) that the client
 * holds; the database keeps only BLAKE2b-256(token) keyed with a key derived
 * from SECRET_KEY, so a leaked table does not leak usable tokens. Passwords
 * are argon2id strings from crypto_pwhash_str.
 */
#ifndef HD_CRYPTO_H
#define HD_CRYPTO_H

#include <stddef.h>

#define TOKEN_LEN 40
#define TOKEN_HASH_LEN 64
#define PASSWORD_HASH_MAX 128

/* sodium_init and the token key from SECRET; tunes the password cost from
 * OPSLIMIT and MEMLIMIT_KB (0 = libsodium's interactive defaults).
 * Returns 0, or -1 when libsodium cannot start or SECRET is empty. */
int crypto_setup(const char *secret, unsigned long long opslimit, size_t memlimit_kb);

/* Fill OUT (CAP bytes, at least TOKEN_LEN + 1) with a new random token.
 * Returns 0, or -1 with nothing written when CAP is too small. */
int crypto_token_new(char *out, size_t cap);

/* 1 when S is exactly TOKEN_LEN lowercase hex characters. */
int crypto_token_valid(const char *s);

/* Fill OUT (TOKEN_HASH_LEN + 1 bytes) with the keyed hash of TOKEN, hex. */
void crypto_token_hash(const char *token, char *out);

/* Hash PASSWORD into OUT (PASSWORD_HASH_MAX bytes). Returns 0 or -1. */
int crypto_password_hash(const char *password, char *out);

/* 1 when PASSWORD matches HASH. With HASH NULL, spends the same time
 * against a dummy hash and returns 0 (no user-enumeration by timing). */
int crypto_password_verify(const char *password, const char *hash);

/* Fill OUT (LEN + 1 bytes) with a random code a person can read aloud and
 * type: LEN characters from SHARE_CODE_ALPHABET (no 0/O, 1/I/L). */
#define SHARE_CODE_ALPHABET "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
void crypto_share_code_new(char *out, size_t len);

/* Normalize a typed code into OUT (CAP bytes): uppercase, spaces and dashes
 * dropped. Returns 0, or -1 when a character is outside the alphabet or the
 * result is not LEN characters long. */
int crypto_share_code_normalize(const char *in, char *out, size_t cap, size_t len);

/* One-time codes emailed to a user: CODE_LEN decimal digits. */
#define CODE_LEN 6

/* Fill OUT (CODE_LEN + 1 bytes) with a uniformly random code, "000000" to
 * "999999" (randombytes_uniform: no modulo bias). */
void crypto_code_new(char *out);

/* Fill OUT (TOKEN_HASH_LEN + 1 bytes) with the hex keyed hash of the
 * strings PARTS[0..N), each framed by its length so that ("ab", "c") and
 * ("a", "bc") differ. The key is derived from SECRET_KEY apart from the
 * token key. For values that are compared but never stored in clear: a
 * one-time code bound to its purpose and user, a throttle key. */
void crypto_mac(const char *const *parts, int n, char *out);

/* Secrets that must travel through the job queue (a one-time code on its
 * way to the mail): sealed with crypto_secretbox (XSalsa20-Poly1305, a
 * random nonce each time) under a key derived from SECRET_KEY for this use
 * alone, and bound to a context CTX[0..N) (the job type and the recipient,
 * framed as crypto_mac's parts): a box opens only with the same key and
 * context, so one moved to another job or address opens nowhere. The text
 * is URL-safe base64 of nonce || box. Secrets up to CRYPTO_SEAL_MSG_MAX
 * bytes; CRYPTO_SEALED_MAX holds the text of any. */
#define CRYPTO_SEAL_MSG_MAX 32
#define CRYPTO_SEALED_MAX 128

/* Derive the sealing key from SECRET (crypto_setup does it too; the job
 * worker, which hashes no password, calls only this). 0, or -1 when
 * libsodium cannot start or SECRET is empty. */
int crypto_seal_setup(const char *secret);

/* Seal MSG for CTX[0..N) into OUT (CAP bytes). 0, or -1 when MSG is too
 * long, OUT too small or no key is set up. */
int crypto_seal(const char *const *ctx, int n, const char *msg, char *out, size_t cap);

/* Open SEALED for CTX[0..N) into OUT (CAP bytes, NUL-terminated). 0, or -1
 * when it is not one of crypto_seal's texts, was sealed under another key
 * or context, was altered, or does not fit OUT. */
int crypto_open(const char *const *ctx, int n, const char *sealed, char *out, size_t cap);

/* Hex digest of LEN bytes of DATA (16 hex chars), for ETags. */
void crypto_etag(const char *data, size_t len, char *out /* 17 bytes */);

#endif
