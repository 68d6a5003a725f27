/*
 * jwt.c - compact JWS signing with libcrypto (jwt.h).
 */
#include "jwt.h"
#include "log.h"

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libcrypto's first queued error, for a log line. */
static const char *ssl_error(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, cap, "unknown error");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

EVP_PKEY *jwt_key_from_pem(const char *pem, const char *event)
{
    char err[256];
    BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key == NULL)
        log_line(LOG_ERROR, event, "not a PEM private key: %s", ssl_error(err, sizeof(err)));
    return key;
}

EVP_PKEY *jwt_key_from_file(const char *path, const char *event)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        log_line(LOG_ERROR, event, "cannot read %s", path);
        return NULL;
    }
    char err[256];
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL)
        log_line(LOG_ERROR, event, "%s is not a PEM private key: %s", path,
                 ssl_error(err, sizeof(err)));
    return key;
}

/* Append base64url(DATA[0..N)) to OUT at *LEN (OUT has room: callers size it). */
static void b64url(char *out, size_t *len, const unsigned char *data, size_t n)
{
    size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(out + *len, cap, data, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *len += strlen(out + *len);
}

/* The signature of MSG with KEY: RS256 as libcrypto gives it, ES256
 * converted from DER to R||S. Returns its length in SIG (512 bytes), or 0. */
static size_t sign(EVP_PKEY *key, int ec, const char *msg, size_t n, unsigned char *sig)
{
    unsigned char der[512];
    size_t dlen = sizeof(der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)msg, n) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return 0;
    if (!ec) {
        memcpy(sig, der, dlen);
        return dlen;
    }
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (es == NULL)
        return 0;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    return ok ? 64 : 0;
}

char *jwt_sign(EVP_PKEY *key, const char *alg, const char *kid, json_object *claims)
{
    int ec = strcmp(alg, "ES256") == 0;
    if (key == NULL || claims == NULL || (!ec && strcmp(alg, "RS256") != 0) ||
        EVP_PKEY_get_base_id(key) != (ec ? EVP_PKEY_EC : EVP_PKEY_RSA))
        return NULL;
    json_object *head = json_object_new_object();
    json_object_object_add(head, "alg", json_object_new_string(alg));
    json_object_object_add(head, "typ", json_object_new_string("JWT"));
    if (kid != NULL)
        json_object_object_add(head, "kid", json_object_new_string(kid));
    const char *h = json_object_to_json_string_ext(head, JSON_C_TO_STRING_PLAIN);
    const char *c = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN);
    size_t hn = strlen(h), cn = strlen(c);
    size_t cap = (hn + cn + 512) * 4 / 3 + 64;
    char *out = malloc(cap);
    size_t len = 0;
    if (out != NULL) {
        b64url(out, &len, (const unsigned char *)h, hn);
        out[len++] = '.';
        b64url(out, &len, (const unsigned char *)c, cn);
        unsigned char sig[512];
        size_t slen = sign(key, ec, out, len, sig);
        if (slen == 0) {
            char err[256];
            log_line(LOG_ERROR, "jwt", "cannot sign a token: %s", ssl_error(err, sizeof(err)));
            free(out);
            out = NULL;
        } else {
            out[len++] = '.';
            b64url(out, &len, sig, slen);
        }
    }
    json_object_put(head);
    return out;
}
