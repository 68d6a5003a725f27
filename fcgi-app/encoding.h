/*
 * encoding.h - the content codings of JSON responses: which one a client
 * takes (its Accept-Encoding), and compressing a body into it.
 *
 * A JSON body of ENC_MIN_BYTES or more goes to a client that accepts gzip
 * or br compressed (Content-Encoding, Vary: Accept-Encoding; http.c), a
 * smaller one as it is. A cached list is compressed once, when the cache is
 * filled, at ENC_STORED (listcache.c); any other body on the fly, at
 * ENC_FAST. gzip is libdeflate's, br Brotli's: the measurement that chose
 * them and their levels is in docs/performance.md ("Compressed responses").
 */
#ifndef HD_ENCODING_H
#define HD_ENCODING_H

#include <stddef.h>

#include "arena.h"

typedef enum { ENC_IDENTITY, ENC_GZIP, ENC_BR, ENC_N } enc;

/* Below this a body is sent as it is (unless the client refuses identity). */
#define ENC_MIN_BYTES 1024

/* How hard to compress: on the fly, or once for a cache fill. */
typedef enum { ENC_FAST, ENC_STORED } enc_effort;

/* What an Accept-Encoding value accepts: each coding's weight in
 * thousandths (q=0.5 is 500; 0 refused), after "*" and the defaults. */
typedef struct {
    int q[ENC_N];
} enc_accept;

/* Parse the Accept-Encoding value HEADER (NULL when the request has none)
 * into OUT. A coding that is not listed takes the weight of "*" when "*" is
 * listed, else 0, except identity, which stays acceptable but least
 * preferred (weight 1, so "gzip;q=0.5" still means gzip) unless refused
 * ("identity;q=0", or "*;q=0" without an entry of its own). No header, or an
 * empty one, accepts identity alone. Codings are case-insensitive, x-gzip is
 * gzip, unknown codings and malformed entries (a q that is not a number from
 * 0 to 1 with at most 3 decimals) are ignored; the first entry of a coding
 * counts. */
void enc_parse(const char *header, enc_accept *out);

/* The coding to send a body of LEN bytes in: the accepted one with the
 * highest weight; ties go to compression, between gzip and br to br when
 * the body is STORED compressed (smaller), to gzip when it would be
 * compressed now (cheaper at the fast level). A body under ENC_MIN_BYTES
 * is sent as it is unless identity is refused; when nothing is acceptable,
 * identity (RFC 9110 12.5.3: the server then sends no coding). */
enc enc_pick(const enc_accept *a, size_t len, enc_effort effort);

/* The Content-Encoding value of E ("identity", "gzip", "br"). */
const char *enc_name(enc e);

/* What a representation in E adds to the identity body's ETag: "", "-gz",
 * "-br" (so "\"<digest>-gz\""). */
const char *enc_etag_suffix(enc e);

/* Compress SRC[0..LEN) into E (gzip or br) at EFFORT: *OUT (in A) and
 * *OUT_LEN. Returns 0, or -1 when it could not (out of memory, a library
 * failure, E is identity): the caller sends identity then. */
int enc_compress(arena *a, enc e, enc_effort effort, const char *src, size_t len, char **out,
                 size_t *out_len);

#endif
