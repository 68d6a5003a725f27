/*
 * mail_check.h - the receiving side of a message, written independently of
 * fcgi-app/mail.c so the tests can check what it builds: quoted-printable
 * well-formedness and decoding, header unfolding, RFC 2047 "B" encoded-word
 * decoding. Shared by test_mail.c and smtp_send.c; test code only.
 */
#ifndef HD_MAIL_CHECK_H
#define HD_MAIL_CHECK_H

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1 when S (LEN bytes) is well-formed quoted-printable as RFC 2045 6.7
 * wants it: CRLF only, lines of at most 76 characters, no trailing white
 * space, only printable ASCII, every '=' starting =XX (uppercase) or a soft
 * break. */
static inline int qp_well_formed(const char *s, size_t len)
{
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') {
            if (i + 1 >= len || s[i + 1] != '\n')
                return 0;
            if (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
                return 0;
            i++;
            col = 0;
            continue;
        }
        if (c == '\n' || ++col > 76)
            return 0;
        if (c == '=') {
            int soft = i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n';
            if (!soft && (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0))
                return 0;
        } else if (!(c == ' ' || c == '\t' || (c >= '!' && c <= '~'))) {
            return 0;
        }
    }
    if (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        return 0;
    return 1;
}

/* Decode quoted-printable S into a malloc'd buffer (*OUT, *OUTLEN). */
static inline void qp_decode(const char *s, size_t len, char **out, size_t *outlen)
{
    char *o = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
            i += 2; /* soft break */
        } else if (s[i] == '=' && i + 2 < len) {
            o[n++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            o[n++] = s[i];
        }
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
}

/* S with every lone "\n" turned into "\r\n" (what the encoder promises). */
static inline char *crlf(const char *s, size_t len, size_t *outlen)
{
    char *o = malloc(2 * len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            o[n++] = '\r';
        o[n++] = s[i];
    }
    o[n] = '\0';
    *outlen = n;
    return o;
}

/* The header block of message M (up to the blank line), unfolded. */
static inline char *unfolded_headers(const char *m)
{
    const char *end = strstr(m, "\r\n\r\n");
    size_t len = end ? (size_t)(end - m) + 2 : strlen(m);
    char *o = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (m[i] == '\r' && m[i + 1] == '\n' && (m[i + 2] == ' ' || m[i + 2] == '\t')) {
            i++;
            continue;
        }
        o[n++] = m[i];
    }
    o[n] = '\0';
    return o;
}

/* Decode the encoded-words of header value V (after "Name: ") into OUT;
 * returns the number of words, or -1 when one is malformed or longer than
 * 75 characters. Plain text between words must be folding white space. */
static inline int decode_words(const char *v, char *out, size_t cap)
{
    size_t n = 0;
    int words = 0;
    while (*v != '\0') {
        while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
            v++;
        if (*v == '\0')
            break;
        if (strncmp(v, "=?UTF-8?B?", 10) != 0)
            return -1;
        const char *end = strstr(v + 10, "?=");
        if (end == NULL || end + 2 - v > 75)
            return -1;
        size_t bin = 0;
        if (sodium_base642bin((unsigned char *)out + n, cap - n - 1, v + 10, (size_t)(end - v - 10),
                              NULL, &bin, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
            return -1;
        out[n + bin] = '\0';
        /* Each word on its own must be whole UTF-8 characters. */
        const unsigned char *w = (const unsigned char *)out + n;
        if (bin > 0 && ((w[0] & 0xC0) == 0x80))
            return -1;
        n += bin;
        words++;
        v = end + 2;
    }
    out[n] = '\0';
    return words;
}

/* The value of header NAME in unfolded HEADERS, copied into OUT. */
static inline int header_value(const char *headers, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *p;
    if (strncmp(headers, key + 2, strlen(key + 2)) == 0)
        p = headers + strlen(key + 2);
    else if ((p = strstr(headers, key)) != NULL)
        p += strlen(key);
    else
        return -1;
    size_t len = strcspn(p, "\r");
    if (len >= cap)
        return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

/* The decoded body of the MIME part of message M whose Content-Type starts
 * with TYPE (the boundary is read from M's own Content-Type), malloc'd; NULL
 * when there is no such part or its quoted-printable is malformed. */
static inline char *part_body(const char *m, const char *type)
{
    char boundary[128], key[256];
    const char *b = strstr(m, "boundary=\"");
    if (b == NULL)
        return NULL;
    b += strlen("boundary=\"");
    size_t blen = strcspn(b, "\"");
    if (blen >= sizeof(boundary))
        return NULL;
    memcpy(boundary, b, blen);
    boundary[blen] = '\0';
    snprintf(key, sizeof(key), "\r\n--%s\r\nContent-Type: %s;", boundary, type);
    const char *p = strstr(m, key);
    if (p == NULL || (p = strstr(p, "\r\n\r\n")) == NULL)
        return NULL;
    p += 4;
    snprintf(key, sizeof(key), "\r\n--%s", boundary);
    const char *end = strstr(p, key);
    if (end == NULL || !qp_well_formed(p, (size_t)(end - p)))
        return NULL;
    char *d;
    size_t dl;
    qp_decode(p, (size_t)(end - p), &d, &dl);
    return d;
}

static inline size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

#endif
