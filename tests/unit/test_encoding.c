/*
 * test_encoding.c - Accept-Encoding as RFC 9110 12.5.3 reads it (weights,
 * refusals, "*", identity's default), the coding a body is sent in, and
 * compressed bodies that decode to exactly what went in (encoding.h).
 */
#include "encoding.h"
#include "test.h"

#include <brotli/decode.h>
#include <libdeflate.h>
#include <stdlib.h>

/* The weights HEADER gives identity, gzip and br, as "i,g,b". */
static const char *weights(const char *header)
{
    static char buf[64];
    enc_accept a;
    enc_parse(header, &a);
    snprintf(buf, sizeof(buf), "%d,%d,%d", a.q[ENC_IDENTITY], a.q[ENC_GZIP], a.q[ENC_BR]);
    return buf;
}

TEST(no_header_or_an_empty_one_accepts_identity_alone)
{
    CHECK_STR(weights(NULL), "1,0,0");
    CHECK_STR(weights(""), "1,0,0");
    CHECK_STR(weights(" , ,"), "1,0,0");
}

TEST(codings_and_their_weights)
{
    CHECK_STR(weights("gzip"), "1,1000,0");
    CHECK_STR(weights("gzip, deflate, br"), "1,1000,1000");              /* OkHttp, browsers */
    CHECK_STR(weights("br;q=1.0, gzip;q=0.8, *;q=0.1"), "100,800,1000"); /* * covers identity */
    CHECK_STR(weights("GZIP;Q=0.5"), "1,500,0");
    CHECK_STR(weights("x-gzip"), "1,1000,0");
    CHECK_STR(weights("gzip ; q=0.25 ,br;q=0.125"), "1,250,125");
    CHECK_STR(weights("deflate, zstd"), "1,0,0");        /* unknown codings are not ours */
    CHECK_STR(weights("gzip;level=9;q=0.3"), "1,300,0"); /* other parameters ignored */
}

TEST(q0_refuses_and_star_stands_for_the_rest)
{
    CHECK_STR(weights("gzip;q=0, br"), "1,0,1000");
    CHECK_STR(weights("*"), "1000,1000,1000");
    CHECK_STR(weights("*;q=0"), "0,0,0");
    CHECK_STR(weights("*;q=0, identity"), "1000,0,0");
    CHECK_STR(weights("gzip, identity;q=0"), "0,1000,0");
    CHECK_STR(weights("gzip, *;q=0"), "0,1000,0");
    CHECK_STR(weights("br;q=0, *"), "1000,1000,0");
    CHECK_STR(weights("gzip;q=0.000"), "1,0,0");
}

TEST(malformed_entries_are_ignored)
{
    CHECK_STR(weights("gzip;q=2"), "1,0,0");
    CHECK_STR(weights("gzip;q=1.5"), "1,0,0");
    CHECK_STR(weights("gzip;q=0.1234"), "1,0,0");
    CHECK_STR(weights("gzip;q=-1"), "1,0,0");
    CHECK_STR(weights("gzip;q="), "1,0,0");
    CHECK_STR(weights("gzip;q=abc, br"), "1,0,1000");
    CHECK_STR(weights("gzip foo"), "1,0,0");
    CHECK_STR(weights(";q=1"), "1,0,0");
    CHECK_STR(weights("gzip, gzip;q=0"), "1,1000,0"); /* the first entry counts */
}

static enc pick(const char *header, size_t len, enc_effort effort)
{
    enc_accept a;
    enc_parse(header, &a);
    return enc_pick(&a, len, effort);
}

TEST(the_coding_a_body_is_sent_in)
{
    CHECK(pick(NULL, 20000, ENC_FAST) == ENC_IDENTITY);
    CHECK(pick("gzip", 20000, ENC_FAST) == ENC_GZIP);
    CHECK(pick("gzip", ENC_MIN_BYTES, ENC_FAST) == ENC_GZIP);
    CHECK(pick("gzip", ENC_MIN_BYTES - 1, ENC_FAST) == ENC_IDENTITY); /* small: as it is */
    CHECK(pick("gzip, identity;q=0", 50, ENC_FAST) == ENC_GZIP);      /* ... unless refused */
    /* A tie: br when it is stored (smaller), gzip when compressed now. */
    CHECK(pick("gzip, br", 20000, ENC_STORED) == ENC_BR);
    CHECK(pick("gzip, br", 20000, ENC_FAST) == ENC_GZIP);
    CHECK(pick("br", 20000, ENC_FAST) == ENC_BR);
    CHECK(pick("gzip;q=0.5, br;q=0.4", 20000, ENC_STORED) == ENC_GZIP);
    CHECK(pick("gzip;q=0.5", 20000, ENC_FAST) == ENC_GZIP); /* identity is the last resort */
    CHECK(pick("gzip;q=0.5, identity", 20000, ENC_FAST) == ENC_IDENTITY); /* identity preferred */
    CHECK(pick("gzip;q=0, br;q=0", 20000, ENC_STORED) == ENC_IDENTITY);
    CHECK(pick("*;q=0", 20000, ENC_FAST) == ENC_IDENTITY); /* nothing acceptable: identity */
    CHECK_STR(enc_name(ENC_GZIP), "gzip");
    CHECK_STR(enc_name(ENC_BR), "br");
    CHECK_STR(enc_etag_suffix(ENC_GZIP), "-gz");
    CHECK_STR(enc_etag_suffix(ENC_BR), "-br");
    CHECK_STR(enc_etag_suffix(ENC_IDENTITY), "");
}

TEST(compressed_bodies_decode_to_what_went_in)
{
    arena a;
    CHECK(arena_init(&a, 4096) == 0);
    char src[6000];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = "{\"id\":1,\"title\":\"Clean gutters\"},"[i % 34];
    char back[sizeof(src)];
    for (int effort = ENC_FAST; effort <= ENC_STORED; effort++) {
        char *out;
        size_t n, got = 0;
        CHECK(enc_compress(&a, ENC_GZIP, (enc_effort)effort, src, sizeof(src), &out, &n) == 0);
        CHECK(n > 18 && n < sizeof(src) / 4 && (unsigned char)out[0] == 0x1f);
        struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
        CHECK(libdeflate_gzip_decompress(d, out, n, back, sizeof(back), &got) ==
              LIBDEFLATE_SUCCESS);
        libdeflate_free_decompressor(d);
        CHECK(got == sizeof(src) && memcmp(back, src, sizeof(src)) == 0);

        CHECK(enc_compress(&a, ENC_BR, (enc_effort)effort, src, sizeof(src), &out, &n) == 0);
        CHECK(n > 0 && n < sizeof(src) / 4);
        got = sizeof(back);
        CHECK(BrotliDecoderDecompress(n, (const uint8_t *)out, &got, (uint8_t *)back) ==
              BROTLI_DECODER_RESULT_SUCCESS);
        CHECK(got == sizeof(src) && memcmp(back, src, sizeof(src)) == 0);
    }
    char *out;
    size_t n;
    CHECK(enc_compress(&a, ENC_IDENTITY, ENC_FAST, src, sizeof(src), &out, &n) == -1);
    arena_destroy(&a);
}

RUN_TESTS()
