/*
 * headers.c - libFuzzer harness: request headers and a body, as nginx hands
 * them over (HTTP_* FastCGI parameters, CONTENT_TYPE, CONTENT_LENGTH, the
 * body on FCGI_STDIN), through every reader of a client's header:
 * Authorization (authn_parse_header), Cache-Control (req_wants_fresh),
 * Idempotency-Key (idem_key_valid), X-Filename (percent-decoded and
 * cleaned as documents.c's display name, then sent back in a
 * Content-Disposition), Content-Type (storage_type_allowed, and
 * req_json_body with the body, Content-Length and the JSON validator),
 * If-None-Match and Accept-Encoding (resp_etagged, enc_parse, enc_pick,
 * the compressors). The response head written must stay one well-formed
 * "Name: value" line per header, whatever the client sent; its
 * Content-Length must be the body's; a compressed body must decompress to
 * the answer (or to the JSON error) it stands for.
 * The application sets no cookies and reads none (nginx drops Set-Cookie).
 *
 * Input: "Name: value" lines, an empty line, then the body; as a request
 * head is, but with "\n" or "\r\n".
 */
#include "authn.h"
#include "crypto.h"
#include "encoding.h"
#include "fuzz.h"
#include "idempotency.h"
#include "jsonv.h"
#include "storage.h"

#include <brotli/decode.h>
#include <ctype.h>
#include <libdeflate.h>

static fz_req f, g;

/* "Content-Type" -> "CONTENT_TYPE"; "If-None-Match" -> "HTTP_IF_NONE_MATCH". */
static void param_name(const char *name, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    int special = (n == 12 && strncasecmp(name, "Content-Type", n) == 0) ||
                  (n == 14 && strncasecmp(name, "Content-Length", n) == 0);
    if (!special)
        o = (size_t)snprintf(out, cap, "HTTP_");
    for (size_t i = 0; i < n && o + 1 < cap; i++)
        out[o++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    out[o] = '\0';
}

/* Each response header line is "Name: value\r\n" with no other CR or LF,
 * up to the empty line that ends the head. */
static void check_head(const char *resp)
{
    const char *end = strstr(resp, "\r\n\r\n");
    if (end == NULL)
        return; /* nothing sent */
    end += 2;
    for (const char *s = resp; s < end;) {
        const char *crlf = strstr(s, "\r\n");
        FZ_CHECK(crlf != NULL && crlf < end);
        const char *colon = memchr(s, ':', (size_t)(crlf - s));
        FZ_CHECK(colon != NULL && colon > s && colon[1] == ' ');
        for (const char *p = s; p < colon; p++)
            FZ_CHECK(isalnum((unsigned char)*p) || *p == '-');
        for (const char *p = s; p < crlf; p++)
            FZ_CHECK(*p != '\r' && *p != '\n');
        s = crlf + 2;
    }
}

/* The response Q wrote: a well-formed head, a Content-Length that is the
 * body's, and a body that is WANT[0..WANT_LEN) once decoded (any JSON
 * object when WANT is NULL). */
static void check_response(fz_req *q, const char *want, size_t want_len)
{
    if (q->overflow || !q->r.sent)
        return;
    const char *out = (const char *)q->outbuf;
    size_t len = (size_t)(q->out.wrNext - q->outbuf);
    const char *end = memmem(out, len, "\r\n\r\n", 4);
    FZ_CHECK(end != NULL);
    char *head = arena_strndup(&q->a, out, (size_t)(end - out) + 4);
    FZ_CHECK(head != NULL && strlen(head) == (size_t)(end - out) + 4);
    check_head(head);
    const char *body = end + 4;
    size_t blen = len - (size_t)(body - out);
    const char *cl = strstr(head, "\r\nContent-Length: ");
    if (cl != NULL)
        FZ_CHECK(strtoul(cl + 18, NULL, 10) == blen);
    else
        FZ_CHECK(blen == 0);
    if (q->r.status == 304 || blen == 0)
        return;
    static char plain[65536];
    size_t plen = 0;
    if (strstr(head, "\r\nContent-Encoding: gzip\r\n") != NULL) {
        struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
        FZ_CHECK(d != NULL && libdeflate_gzip_decompress(d, body, blen, plain, sizeof(plain),
                                                         &plen) == LIBDEFLATE_SUCCESS);
        libdeflate_free_decompressor(d);
    } else if (strstr(head, "\r\nContent-Encoding: br\r\n") != NULL) {
        plen = sizeof(plain);
        FZ_CHECK(BrotliDecoderDecompress(blen, (const uint8_t *)body, &plen, (uint8_t *)plain) ==
                 BROTLI_DECODER_RESULT_SUCCESS);
    } else {
        FZ_CHECK(strstr(head, "\r\nContent-Encoding:") == NULL && blen < sizeof(plain));
        memcpy(plain, body, blen);
        plen = blen;
    }
    if (want != NULL) {
        FZ_CHECK(plen == want_len && memcmp(plain, want, plen) == 0);
    } else {
        json_object *o = NULL;
        const char *err = NULL;
        FZ_CHECK(jv_parse_object(plain, plen, &o, &err) == 0);
        json_object_put(o);
    }
}

/* Add the head's lines as parameters of both requests; returns the body. */
static const char *parse_head(const char *in, size_t size, size_t *body_len)
{
    const char *s = in, *end = in + size;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        size_t len = (size_t)(le - s);
        if (len > 0 && s[len - 1] == '\r')
            len--;
        if (len == 0) {
            s = nl ? nl + 1 : end;
            break;
        }
        const char *colon = memchr(s, ':', len);
        if (colon != NULL && colon > s) {
            char name[128];
            param_name(s, (size_t)(colon - s), name, sizeof(name));
            const char *v = colon + 1;
            while (v < s + len && (*v == ' ' || *v == '\t'))
                v++;
            char *value = arena_strndup(&f.a, v, (size_t)(s + len - v));
            if (value != NULL) {
                fz_param(&f, name, value);
                fz_param(&g, name, value);
            }
        }
        s = nl ? nl + 1 : end;
    }
    *body_len = (size_t)(end - s);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One string (FastCGI parameters hold no NUL); the body is the rest. */
    char *in = fz_cstr(data, size);
    size_t n = strlen(in), body_len;
    fz_req_init(&f, "POST", "/api/tasks/", "", NULL, 0);
    fz_req_init(&g, "GET", "/api/tasks/", "filename=fallback.pdf", NULL, 0);
    const char *body = parse_head(in, n, &body_len);
    f.in.rdNext = f.in.stopUnget = (unsigned char *)body;
    f.in.stop = (unsigned char *)body + body_len;
    fz_req_ready(&f);
    fz_req_ready(&g);

    const char *auth = req_param(&f.r, "HTTP_AUTHORIZATION");
    const char *token = authn_parse_header(auth);
    if (token != NULL)
        FZ_CHECK(strlen(token) == TOKEN_LEN && crypto_token_valid(token) &&
                 strncasecmp(auth, "Token ", 6) == 0);
    (void)req_wants_fresh(&f.r);
    const char *key = req_param(&f.r, "HTTP_IDEMPOTENCY_KEY");
    if (key != NULL && idem_key_valid(key))
        FZ_CHECK(strlen(key) >= 1 && strlen(key) <= 255 && strpbrk(key, " \t\r\n") == NULL);
    const char *ct = storage_type_allowed(f.r.content_type);
    FZ_CHECK(ct == NULL || *storage_type_ext(ct) == '.');

    /* The body as JSON: an object, or exactly one error answer. */
    json_object *obj = NULL;
    int rc = req_json_body(&f.r, &obj);
    const char *resp = fz_response(&f);
    if (rc == 0) {
        FZ_CHECK(obj != NULL && json_object_is_type(obj, json_type_object) && !f.r.sent);
    } else {
        FZ_CHECK(obj == NULL && f.r.sent && f.r.status >= 400 && strncmp(resp, "Status: ", 8) == 0);
        check_response(&f, NULL, 0);
    }

    /* Accept-Encoding: weights in thousandths; a coding picked is accepted. */
    enc_accept acc;
    enc_parse(req_param(&f.r, "HTTP_ACCEPT_ENCODING"), &acc);
    for (int c = 0; c < ENC_N; c++)
        FZ_CHECK(acc.q[c] >= 0 && acc.q[c] <= 1000);
    static const size_t lens[] = {0, 10, ENC_MIN_BYTES, 100000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        for (int effort = ENC_FAST; effort <= ENC_STORED; effort++) {
            enc e = enc_pick(&acc, lens[i], (enc_effort)effort);
            FZ_CHECK(e >= ENC_IDENTITY && e < ENC_N);
            FZ_CHECK(e == ENC_IDENTITY || acc.q[e] > 0);
        }

    /* X-Filename as documents.c takes it, sent back in Content-Disposition,
     * and If-None-Match against the answer's ETag. */
    const char *raw = req_param(&g.r, "HTTP_X_FILENAME");
    const char *name =
        raw ? http_percent_decode(g.r.a, raw, strlen(raw), 0) : req_query(&g.r, "filename");
    char clean[STORAGE_DISPLAY_MAX + 1], disposition[1200];
    if (name != NULL && storage_clean_name(name, clean, sizeof(clean)) > 0 &&
        storage_disposition(clean, disposition, sizeof(disposition)) == 0)
        resp_header(&g.r, "Content-Disposition", disposition);
    /* A list long enough to be compressed for a client that takes it. */
    static char answer[4096];
    static size_t answer_len;
    if (answer_len == 0) {
        answer_len = (size_t)snprintf(answer, sizeof(answer), "{\"count\":40,\"results\":[");
        for (int i = 1; i <= 40; i++)
            answer_len +=
                (size_t)snprintf(answer + answer_len, sizeof(answer) - answer_len,
                                 "%s{\"id\":%d,\"title\":\"Task %d\"}", i > 1 ? "," : "", i, i * 7);
        answer_len += (size_t)snprintf(answer + answer_len, sizeof(answer) - answer_len, "]}");
    }
    int status = resp_etagged(&g.r, NULL, answer, answer_len);
    FZ_CHECK(status == 200 || status == 304);
    check_response(&g, answer, answer_len);

    fz_req_end(&f);
    fz_req_end(&g);
    free(in);
    return 0;
}
