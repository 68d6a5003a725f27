/*
 * query.c - libFuzzer harness: a query string as nginx passes it
 * (QUERY_STRING, raw), read the way the handlers read it: req_query for
 * every parameter name a handler asks for, with its percent-decoding;
 * page_from_query (?page=, ?page_size=), param_query_id, param_bool; and
 * http_percent_decode itself on the raw bytes, in both of its modes.
 */
#include "fuzz.h"
#include "paging.h"
#include "params.h"

/* Every name the handlers pass to req_query or param_query_id (grep
 * 'req_query(r, "' handlers/), and a few that are not. */
static const char *const names[] = {"filename",  "days",     "unread", "q",    "residence", "page",
                                    "page_size", "ordering", "task",   "type", "",          "pag"};

static fz_req f;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The decoder, on the raw bytes (NULs included). */
    arena a;
    if (arena_init(&a, 4096) != 0)
        abort();
    for (int plus = 0; plus <= 1; plus++) {
        char *out = http_percent_decode(&a, (const char *)data, size, plus);
        FZ_CHECK(out != NULL);
        /* Decoding never lengthens; without '%' (and '+') it is the identity. */
        if (memchr(data, '%', size) == NULL && (!plus || memchr(data, '+', size) == NULL))
            FZ_CHECK(memcmp(out, data, size) == 0 && out[size] == '\0');
    }
    arena_destroy(&a);

    /* The query string, as the handlers read it. */
    char *qs = fz_cstr(data, size);
    fz_req_init(&f, "GET", "/api/tasks/", qs, NULL, 0);
    fz_req_ready(&f);
    size_t qlen = strlen(qs);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = req_query(&f.r, names[i]);
        FZ_CHECK(v == NULL || strlen(v) <= qlen);
        (void)param_bool(v);
    }
    json_object *errors = json_object_new_object();
    page_req p;
    if (page_from_query(&f.r, &p, errors) == 0) {
        FZ_CHECK(p.page >= 1 && p.page <= PAGE_MAX);
        FZ_CHECK(p.size >= 1 && p.size <= PAGE_SIZE_MAX);
        FZ_CHECK(page_offset(&f.r, &p) != NULL && page_limit(&f.r, &p) != NULL);
    }
    const char *id = param_query_id(&f.r, "residence", errors);
    if (id != NULL) {
        long long v;
        FZ_CHECK(page_parse_int(id, 0, 999999999999999LL, &v) == NULL && v > 0);
    }
    json_object_put(errors);
    fz_req_end(&f);
    free(qs);
    return 0;
}
