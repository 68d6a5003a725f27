/*
 * jwt.h - JSON Web Tokens (RFC 7519, compact JWS) signed with OpenSSL's
 * libcrypto: ES256 for APNs' provider token (the .p8 key), RS256 for the
 * assertion Google's token endpoint exchanges for an FCM access token (the
 * service account's key). No cryptography is written here: libcrypto
 * signs, libsodium encodes base64url.
 */
#ifndef HD_JWT_H
#define HD_JWT_H

#include <json-c/json.h>
#include <openssl/evp.h>

/* A private key from PEM text (PKCS#8, as a .p8 file and a service
 * account's private_key are), or NULL after logging under EVENT. The
 * caller frees it with EVP_PKEY_free. */
EVP_PKEY *jwt_key_from_pem(const char *pem, const char *event);

/* The same from a file (mode and owner are the operator's business). */
EVP_PKEY *jwt_key_from_file(const char *path, const char *event);

/* "header.claims.signature" for CLAIMS (not taken) signed with KEY: ALG
 * is "ES256" (an EC P-256 key; the signature is R||S, 64 bytes, as JWS
 * wants, not libcrypto's DER) or "RS256" (RSA, PKCS#1 v1.5). The header
 * carries KID (and typ JWT). malloc'd, or NULL (wrong key type, no
 * memory). */
char *jwt_sign(EVP_PKEY *key, const char *alg, const char *kid, json_object *claims);

#endif
