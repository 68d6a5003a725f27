/*
 * fuzz.h - what the libFuzzer harnesses of tests/fuzz/ share: the input as
 * a C string, and a request as the worker builds one (worker.c), with its
 * FastCGI parameters and in-memory streams in place of nginx's socket, so
 * that the real request helpers of http.c run on fuzzed headers and
 * bodies. Each harness is one LLVMFuzzerTestOneInput; `make fuzz` builds
 * them with clang -fsanitize=fuzzer,address,undefined (MODE=fuzz).
 *
 * FZ_CHECK is the harnesses' own oracle: a broken promise of the code under
 * test (a header that would split the response, a parse that loses what it
 * read) aborts like a sanitizer report does, so libFuzzer keeps the input.
 */
#ifndef HD_FUZZ_H
#define HD_FUZZ_H

#include <fcgiapp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FZ_CHECK(%s) failed\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* DATA[0..SIZE) as a malloc'd C string (an embedded NUL ends it early, as
 * it would in a FastCGI parameter or a file read as text). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A request's streams: the body to read, and what the response wrote. */
#define FZ_PARAMS_MAX 32
#define FZ_OUT_CAP 65536

typedef struct {
    req r;
    arena a;
    FCGX_Request fx;
    FCGX_Stream in, out;
    char *envp[FZ_PARAMS_MAX + 1];
    int nenv;
    unsigned char outbuf[FZ_OUT_CAP], scratch[4096];
    size_t out_len; /* bytes of the response kept in outbuf */
    int overflow;   /* it wrote more than FZ_OUT_CAP */
} fz_req;

/* The writer's buffer is full: keep what it holds, and drop the rest into
 * a scratch buffer. */
static void fz_out_flush(FCGX_Stream *s, int do_close)
{
    (void)do_close;
    fz_req *f = s->data;
    if (!f->overflow) {
        f->out_len = (size_t)(s->wrNext - f->outbuf);
        f->overflow = 1;
    }
    s->wrNext = f->scratch;
    s->stop = f->scratch + sizeof(f->scratch);
}

/* The reader has nothing more: the body has ended. */
static void fz_in_fill(FCGX_Stream *s)
{
    s->isClosed = 1;
}

/* Start a GET of PATH?QUERY with BODY[0..BODY_LEN) as its body (may be
 * empty); add parameters with fz_param, then fz_req_ready. */
static inline void fz_req_init(fz_req *f, const char *method, const char *path, const char *query,
                               const unsigned char *body, size_t body_len)
{
    static unsigned char none[1];
    if (body == NULL)
        body = none;
    memset(f, 0, sizeof(*f));
    if (arena_init(&f->a, 16384) != 0)
        abort();
    f->in.rdNext = f->in.stopUnget = (unsigned char *)body;
    f->in.stop = (unsigned char *)body + body_len;
    f->in.isReader = 1;
    f->in.fillBuffProc = fz_in_fill;
    f->out.wrNext = f->outbuf;
    f->out.stop = f->outbuf + FZ_OUT_CAP;
    f->out.emptyBuffProc = fz_out_flush;
    f->out.data = f;
    f->fx.in = &f->in;
    f->fx.out = &f->out;
    f->fx.envp = f->envp;
    f->r.a = &f->a;
    f->r.fx = &f->fx;
    f->r.method = method;
    f->r.path = path;
    f->r.query = query;
    f->r.request_id = "fuzz";
}

/* Add FastCGI parameter NAME=VALUE (copied into the request's arena). */
static inline void fz_param(fz_req *f, const char *name, const char *value)
{
    if (f->nenv >= FZ_PARAMS_MAX)
        return;
    char *kv = arena_sprintf(&f->a, "%s=%s", name, value);
    if (kv != NULL)
        f->envp[f->nenv++] = kv;
}

/* The fields the worker reads from the parameters (worker.c's handle). */
static inline void fz_req_ready(fz_req *f)
{
    f->envp[f->nenv] = NULL;
    f->r.content_type = req_param(&f->r, "CONTENT_TYPE");
    const char *cl = req_param(&f->r, "CONTENT_LENGTH");
    f->r.content_length = cl && *cl ? strtol(cl, NULL, 10) : 0;
}

/* What the response wrote so far (its first FZ_OUT_CAP bytes), as a C
 * string in the arena. */
static inline const char *fz_response(fz_req *f)
{
    if (!f->overflow)
        f->out_len = (size_t)(f->out.wrNext - f->outbuf);
    return arena_strndup(&f->a, (const char *)f->outbuf, f->out_len);
}

/* Release everything the request held (json body, arena). */
static inline void fz_req_end(fz_req *f)
{
    json_object_put(f->r.body);
    arena_destroy(&f->a);
}

#endif
