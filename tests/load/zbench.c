/*
 * zbench.c - CPU time and ratio of each candidate compressor on a list body,
 * the measurement behind the choice of libraries in fcgi-app/encoding.c
 * (README.md, docs/performance.md "Compressed responses").
 *
 *   cc -O2 -o /tmp/zbench tests/load/zbench.c -lz -ldeflate -lbrotlienc
 *   /tmp/zbench BODY.json...        (e.g. a GET /api/tasks/ body saved by curl)
 *
 * For each file and compressor/level: the compressed size, its share of the
 * input, and the CPU time (CLOCK_PROCESS_CPUTIME_ID) of one compression, the
 * best of 5 batches of enough calls to take ~50 ms, so that other processes
 * on a busy machine inflate it as little as possible. Each compressor is
 * called as the server calls it: zlib with a stream made once and reset,
 * libdeflate with a compressor made once, Brotli one-shot.
 */
#define _GNU_SOURCE
#include <brotli/encode.h>
#include <libdeflate.h>
#include <zlib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char out[1 << 20];

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

enum kind { ZLIB, LIBDEFLATE, BROTLI };

static z_stream zs;
static int zs_level = -100;
static struct libdeflate_compressor *ld;
static int ld_level = -100;

static size_t compress_once(enum kind k, int level, const unsigned char *in, size_t n)
{
    switch (k) {
    case ZLIB:
        if (zs_level != level) {
            if (zs_level != -100)
                deflateEnd(&zs);
            memset(&zs, 0, sizeof(zs));
            if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return 0;
            zs_level = level;
        }
        deflateReset(&zs);
        zs.next_in = (unsigned char *)in;
        zs.avail_in = (unsigned)n;
        zs.next_out = out;
        zs.avail_out = sizeof(out);
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
            return 0;
        return zs.total_out;
    case LIBDEFLATE:
        if (ld_level != level) {
            if (ld != NULL)
                libdeflate_free_compressor(ld);
            ld = libdeflate_alloc_compressor(level);
            ld_level = level;
        }
        return libdeflate_gzip_compress(ld, in, n, out, sizeof(out));
    case BROTLI: {
        size_t len = sizeof(out);
        if (!BrotliEncoderCompress(level, 22, BROTLI_MODE_TEXT, n, in, &len, out))
            return 0;
        return len;
    }
    }
    return 0;
}

static void measure(const char *name, enum kind k, int level, const unsigned char *in, size_t n)
{
    size_t len = compress_once(k, level, in, n);
    double t0 = cpu_s();
    int calls = 0;
    while (cpu_s() - t0 < 0.05) {
        compress_once(k, level, in, n);
        calls++;
    }
    double best = 1e9;
    for (int b = 0; b < 5; b++) {
        double s = cpu_s();
        for (int i = 0; i < calls; i++)
            compress_once(k, level, in, n);
        double per = (cpu_s() - s) / calls;
        if (per < best)
            best = per;
    }
    printf("| %s %d | %zu | %.1f%% | %.0f |\n", name, level, len, 100.0 * (double)len / (double)n,
           best * 1e6);
}

int main(int argc, char **argv)
{
    for (int f = 1; f < argc; f++) {
        FILE *fp = fopen(argv[f], "rb");
        if (fp == NULL) {
            perror(argv[f]);
            return 1;
        }
        static unsigned char in[1 << 20];
        size_t n = fread(in, 1, sizeof(in), fp);
        fclose(fp);
        printf("\n%s: %zu bytes\n\n| compressor | bytes | of identity | CPU µs |\n| --- | ---: | "
               "---: | ---: |\n",
               argv[f], n);
        static const int zl[] = {1, 6, 9}, dl[] = {1, 4, 6, 9, 12}, bl[] = {1, 4, 5, 6, 9, 11};
        for (size_t i = 0; i < sizeof(zl) / sizeof(*zl); i++)
            measure("zlib", ZLIB, zl[i], in, n);
        for (size_t i = 0; i < sizeof(dl) / sizeof(*dl); i++)
            measure("libdeflate", LIBDEFLATE, dl[i], in, n);
        for (size_t i = 0; i < sizeof(bl) / sizeof(*bl); i++)
            measure("brotli", BROTLI, bl[i], in, n);
    }
    return 0;
}
