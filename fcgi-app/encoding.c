/*
 * encoding.c - Accept-Encoding and the compressors of encoding.h:
 * libdeflate for gzip (a compressor per effort, made once per process),
 * Brotli's one-shot encoder for br.
 */
#include "encoding.h"

#include <brotli/encode.h>
#include <libdeflate.h>
#include <string.h>
#include <strings.h>

/* Levels by effort (ENC_FAST, ENC_STORED), from the measurement in
 * docs/performance.md: libdeflate 1 is zlib 1's ratio or better at less
 * CPU; 9 is zlib 9's ratio at less CPU, where 12 costs 40 times as much for
 * 3% fewer bytes. Brotli 5 is 9% smaller than gzip 9 for a fill's ~0.2 ms;
 * 9 and 11 cost 3 and 30 ms. */
static const int gzip_level[] = {1, 9};
static const int br_quality[] = {1, 5};
#define BR_WINDOW 22 /* Brotli's default; a list is far smaller anyway */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A qvalue (RFC 9110 12.4.2) S[0..N) in thousandths, or -1. */
static int parse_q(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int v = (s[0] - '0') * 1000;
    if (n == 1)
        return v;
    if (s[1] != '.' || n > 5)
        return -1;
    for (size_t i = 2, scale = 100; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v += (s[i] - '0') * (int)scale;
    }
    return v > 1000 ? -1 : v;
}

/* One entry S[0..N): "coding *( OWS ; OWS param )". Its coding (ENC_N for
 * "*", -1 for one not served here) and weight (-1 when malformed). */
static int parse_entry(const char *s, size_t n, int *q)
{
    size_t t = 0;
    while (t < n && s[t] != ';' && !is_ows(s[t]))
        t++;
    int coding = -1;
    if (t == 1 && s[0] == '*')
        coding = ENC_N;
    else if ((t == 4 && strncasecmp(s, "gzip", 4) == 0) ||
             (t == 6 && strncasecmp(s, "x-gzip", 6) == 0))
        coding = ENC_GZIP;
    else if (t == 2 && strncasecmp(s, "br", 2) == 0)
        coding = ENC_BR;
    else if (t == 8 && strncasecmp(s, "identity", 8) == 0)
        coding = ENC_IDENTITY;
    *q = 1000;
    size_t i = t;
    while (i < n) {
        while (i < n && is_ows(s[i]))
            i++;
        if (i == n)
            break;
        if (s[i] != ';') { /* "gzip foo": not an entry */
            *q = -1;
            break;
        }
        i++;
        while (i < n && is_ows(s[i]))
            i++;
        size_t p = i;
        while (i < n && s[i] != ';' && !is_ows(s[i]))
            i++;
        if (i - p >= 2 && (s[p] == 'q' || s[p] == 'Q') && s[p + 1] == '=')
            *q = parse_q(s + p + 2, i - p - 2);
        if (*q < 0)
            break;
    }
    return t == 0 ? -1 : coding;
}

void enc_parse(const char *header, enc_accept *out)
{
    int listed[ENC_N + 1]; /* [ENC_N] is "*" */
    for (int e = 0; e <= ENC_N; e++)
        listed[e] = -1;
    const char *s = header ? header : "";
    while (*s != '\0') {
        while (*s == ',' || is_ows(*s))
            s++;
        size_t n = strcspn(s, ",");
        while (n > 0 && is_ows(s[n - 1]))
            n--;
        int q, coding = parse_entry(s, n, &q);
        if (coding >= 0 && q >= 0 && listed[coding] < 0)
            listed[coding] = q;
        s += strcspn(s, ",");
    }
    for (int e = 0; e < ENC_N; e++) {
        if (listed[e] >= 0)
            out->q[e] = listed[e];
        else if (listed[ENC_N] >= 0)
            out->q[e] = listed[ENC_N];
        else
            out->q[e] = e == ENC_IDENTITY ? 1 : 0; /* acceptable, least preferred */
    }
}

enc enc_pick(const enc_accept *a, size_t len, enc_effort effort)
{
    if (len < ENC_MIN_BYTES && a->q[ENC_IDENTITY] > 0)
        return ENC_IDENTITY;
    /* Later in the order wins a tie. */
    const enc order[] = {ENC_IDENTITY, effort == ENC_STORED ? ENC_GZIP : ENC_BR,
                         effort == ENC_STORED ? ENC_BR : ENC_GZIP};
    enc best = ENC_IDENTITY;
    for (size_t i = 1; i < sizeof(order) / sizeof(order[0]); i++)
        if (a->q[order[i]] > 0 && a->q[order[i]] >= a->q[best])
            best = order[i];
    return best;
}

const char *enc_name(enc e)
{
    return e == ENC_GZIP ? "gzip" : e == ENC_BR ? "br" : "identity";
}

const char *enc_etag_suffix(enc e)
{
    return e == ENC_GZIP ? "-gz" : e == ENC_BR ? "-br" : "";
}

int enc_compress(arena *a, enc e, enc_effort effort, const char *src, size_t len, char **out,
                 size_t *out_len)
{
    if (e == ENC_GZIP) {
        static struct libdeflate_compressor *gz[2];
        if (gz[effort] == NULL)
            gz[effort] = libdeflate_alloc_compressor(gzip_level[effort]);
        if (gz[effort] == NULL)
            return -1;
        size_t cap = libdeflate_gzip_compress_bound(gz[effort], len);
        char *buf = arena_alloc(a, cap);
        size_t n = buf ? libdeflate_gzip_compress(gz[effort], src, len, buf, cap) : 0;
        if (n == 0)
            return -1;
        *out = buf;
        *out_len = n;
        return 0;
    }
    if (e == ENC_BR) {
        size_t cap = BrotliEncoderMaxCompressedSize(len);
        char *buf = cap ? arena_alloc(a, cap) : NULL;
        if (buf == NULL || !BrotliEncoderCompress(br_quality[effort], BR_WINDOW, BROTLI_MODE_TEXT,
                                                  len, (const uint8_t *)src, &cap, (uint8_t *)buf))
            return -1;
        *out = buf;
        *out_len = cap;
        return 0;
    }
    return -1;
}
