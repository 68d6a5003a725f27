/*
 * test_jwt.c - JWTs as APNs and Google's token endpoint read them: the
 * three base64url parts, the header (alg, typ, kid), the claims as given,
 * and a signature that libcrypto verifies with the public key (ES256 as
 * R||S, not DER); a wrong key type or algorithm is refused. The stand-ins
 * of the HTTP suite check the same tokens with PyJWT.
 */
#include "jwt.h"
#include "test.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdlib.h>

/* Part I (0..2) of TOKEN, base64url-decoded into OUT (CAP); its length or -1. */
static long part(const char *token, int i, unsigned char *out, size_t cap)
{
    const char *s = token;
    for (int k = 0; k < i; k++) {
        s = strchr(s, '.');
        if (s == NULL)
            return -1;
        s++;
    }
    const char *e = strchr(s, '.');
    size_t n = e ? (size_t)(e - s) : strlen(s), len;
    if (sodium_base642bin(out, cap, s, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    return (long)len;
}

/* Whether TOKEN's signature verifies with KEY's public half. */
static int verifies(EVP_PKEY *key, const char *token, int ec)
{
    unsigned char sig[512], der[600];
    long n = part(token, 2, sig, sizeof(sig));
    const char *dot = strrchr(token, '.');
    if (n <= 0 || dot == NULL)
        return 0;
    const unsigned char *s = sig;
    size_t slen = (size_t)n;
    if (ec) { /* R||S back to DER */
        if (n != 64)
            return 0;
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
        unsigned char *p = der;
        slen = (size_t)i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        s = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, s, slen, (const unsigned char *)token,
                              (size_t)(dot - token)) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static json_object *claims(void)
{
    json_object *c = json_object_new_object();
    json_object_object_add(c, "iss", json_object_new_string("TEAM123456"));
    json_object_object_add(c, "iat", json_object_new_int64(1700000000));
    return c;
}

static int header_is(const char *token, const char *alg, const char *kid)
{
    unsigned char h[256];
    long n = part(token, 0, h, sizeof(h) - 1);
    if (n < 0)
        return 0;
    h[n] = '\0';
    json_object *o = json_tokener_parse((const char *)h), *v;
    int ok = o && json_object_object_get_ex(o, "alg", &v) &&
             strcmp(json_object_get_string(v), alg) == 0 &&
             json_object_object_get_ex(o, "kid", &v) &&
             strcmp(json_object_get_string(v), kid) == 0 &&
             json_object_object_get_ex(o, "typ", &v) && strcmp(json_object_get_string(v), "JWT") == 0;
    json_object_put(o);
    return ok;
}

TEST(es256_token_verifies_with_the_public_key)
{
    EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
    json_object *c = claims();
    char *t = jwt_sign(key, "ES256", "KEYID12345", c);
    CHECK(t != NULL);
    if (t != NULL) {
        CHECK(header_is(t, "ES256", "KEYID12345"));
        unsigned char body[256];
        long n = part(t, 1, body, sizeof(body) - 1);
        CHECK(n > 0);
        if (n > 0) {
            body[n] = '\0';
            CHECK_STR((char *)body, "{\"iss\":\"TEAM123456\",\"iat\":1700000000}");
        }
        CHECK(verifies(key, t, 1));
        CHECK(!verifies(other, t, 1)); /* another key's signature is not this one's */
        t[strlen(t) - 3] ^= 1;         /* a changed signature fails */
        CHECK(!verifies(key, t, 1));
    }
    free(t);
    CHECK(jwt_sign(key, "RS256", "k", c) == NULL); /* an EC key does not make RS256 */
    CHECK(jwt_sign(key, "HS256", "k", c) == NULL);
    json_object_put(c);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

TEST(rs256_token_verifies_and_a_pem_key_loads)
{
    EVP_PKEY *gen = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, gen, NULL, NULL, 0, NULL, NULL);
    char *pem = NULL;
    long len = BIO_get_mem_data(bio, &pem);
    char *copy = strndup(pem, (size_t)len);
    BIO_free(bio);
    EVP_PKEY *key = jwt_key_from_pem(copy, "test");
    CHECK(key != NULL);
    json_object *c = claims();
    char *t = key ? jwt_sign(key, "RS256", "0123abcd", c) : NULL;
    CHECK(t != NULL && header_is(t, "RS256", "0123abcd"));
    CHECK(t != NULL && verifies(gen, t, 0));
    CHECK(key == NULL || jwt_sign(key, "ES256", "k", c) == NULL);
    CHECK(jwt_key_from_pem("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
                           "test") == NULL);
    CHECK(jwt_key_from_pem(NULL, "test") == NULL);
    free(t);
    free(copy);
    json_object_put(c);
    EVP_PKEY_free(key);
    EVP_PKEY_free(gen);
}

RUN_TESTS()
