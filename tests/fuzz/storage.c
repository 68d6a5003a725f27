/*
 * storage.c - libFuzzer harness: what documents.c checks of an upload
 * before a byte is stored, and what it sends back with a download (the
 * pure checks of fcgi-app/storage.c): the file's first bytes against the
 * magic number of every allowed type (storage_magic_ok, as a whole file
 * and as the head of a longer one), the Content-Type (storage_type_allowed),
 * the display name a client suggests (storage_clean_name) and the
 * Content-Disposition built from it (storage_disposition), which is parsed
 * back: its filename*= must decode to the clean name, its filename= must
 * be quoted ASCII without a quote or a backslash, and no CR, LF or
 * control character may reach the header.
 *
 * Input: the file's bytes; they are also the name and the Content-Type
 * (up to the first NUL).
 */
#include "fuzz.h"
#include "jsonv.h"
#include "storage.h"

static const char *const types[] = {"application/pdf", "image/jpeg", "image/png",
                                    "image/heic",      "image/webp", "text/plain"};

/* Parse DISP back and compare with NAME. */
static void check_disposition(const char *disp, const char *name)
{
    for (const char *p = disp; *p != '\0'; p++)
        FZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
    static const char pre[] = "attachment; filename=\"";
    FZ_CHECK(strncmp(disp, pre, sizeof(pre) - 1) == 0);
    const char *fallback = disp + sizeof(pre) - 1;
    const char *q = strchr(fallback, '"');
    FZ_CHECK(q != NULL);
    for (const char *p = fallback; p < q; p++)
        FZ_CHECK(*p != '\\' && (unsigned char)*p < 0x80);
    FZ_CHECK((size_t)(q - fallback) == jv_utf8_len(name, strlen(name)));
    static const char mid[] = "\"; filename*=UTF-8''";
    FZ_CHECK(strncmp(q, mid, sizeof(mid) - 1) == 0);
    const char *ext = q + sizeof(mid) - 1;
    FZ_CHECK(strpbrk(ext, " \";\\") == NULL);
    arena a;
    if (arena_init(&a, 4096) != 0)
        abort();
    const char *decoded = http_percent_decode(&a, ext, strlen(ext), 0);
    FZ_CHECK(decoded != NULL && strcmp(decoded, name) == 0);
    arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t head = size < STORAGE_HEAD ? size : STORAGE_HEAD;
    int matched = 0;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int whole = storage_magic_ok(types[i], data, head, size <= STORAGE_HEAD);
        int part = storage_magic_ok(types[i], data, head, 0);
        /* A head that passes as a whole file also passes as a file's head. */
        FZ_CHECK(!whole || part);
        if (whole && strcmp(types[i], "text/plain") != 0)
            matched++;
    }
    FZ_CHECK(matched <= 1); /* the binary types' magic numbers exclude each other */
    FZ_CHECK(!storage_magic_ok(NULL, data, head, 1) &&
             !storage_magic_ok("image/gif", data, head, 1));

    char *s = fz_cstr(data, size);
    const char *t = storage_type_allowed(s);
    FZ_CHECK(t == NULL || storage_type_allowed(t) == t);
    (void)storage_name_valid(s);

    char clean[STORAGE_DISPLAY_MAX + 1], disp[1200];
    size_t n = storage_clean_name(s, clean, sizeof(clean));
    FZ_CHECK(n == strlen(clean) && n <= STORAGE_DISPLAY_MAX);
    if (n > 0) {
        FZ_CHECK(jv_utf8_valid(clean, n));
        FZ_CHECK(strpbrk(clean, "/\\\r\n") == NULL && clean[0] != '.' && clean[0] != ' ');
        /* Cleaning is idempotent. */
        char again[STORAGE_DISPLAY_MAX + 1];
        FZ_CHECK(storage_clean_name(clean, again, sizeof(again)) == n && strcmp(again, clean) == 0);
        /* The longest name fits documents.c's buffer. */
        FZ_CHECK(storage_disposition(clean, disp, sizeof(disp)) == 0);
        check_disposition(disp, clean);
        /* A buffer too small is refused, never overrun. */
        for (size_t cap = 1; cap < 48; cap += 7) {
            char *small = malloc(cap);
            if (small == NULL)
                abort();
            if (storage_disposition(clean, small, cap) == 0)
                FZ_CHECK(strlen(small) < cap);
            free(small);
        }
    }
    free(s);
    return 0;
}
