/*
 * sqlfile.c - libFuzzer harness: a sql/NAME.sql file through the named-query
 * parser (fcgi-app/sqlfile.c), as db.c loads the embedded files at start.
 * It is parsed after a real file's queries (so names can collide); a
 * parse that succeeds adds queries whose names are letters, digits and '_',
 * unique, with a non-empty statement that is text of the file and does not
 * end in ';' or a blank, and flags only from the known annotations.
 *
 * Input: the file's text (up to the first NUL).
 */
#include "fuzz.h"
#include "sqlfile.h"

#include <ctype.h>

static const char base[] = "-- name: tasks_get retry\nSELECT 1;\n\n"
                           "-- name: tasks_set\n-- a comment stays\nUPDATE t SET a = $1;\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_cstr(data, size);
    sql_query *q = NULL;
    int n = 0;
    char err[512] = "";
    FZ_CHECK(sqlfile_parse("sql/base.sql", base, &q, &n, err, sizeof(err)) == 0 && n == 2);
    int rc = sqlfile_parse("sql/fuzz.sql", text, &q, &n, err, sizeof(err));
    if (rc == 0) {
        for (int i = 0; i < n; i++) {
            FZ_CHECK(q[i].name != NULL && q[i].name[0] != '\0' && q[i].sql != NULL);
            for (const char *p = q[i].name; *p != '\0'; p++)
                FZ_CHECK(isalnum((unsigned char)*p) || *p == '_');
            for (int j = 0; j < i; j++)
                FZ_CHECK(strcmp(q[i].name, q[j].name) != 0);
            size_t len = strlen(q[i].sql);
            FZ_CHECK(len > 0 && q[i].sql[len - 1] != ';' &&
                     !isspace((unsigned char)q[i].sql[len - 1]));
            FZ_CHECK((q[i].flags & ~SQL_RETRY) == 0);
            if (i >= 2)
                FZ_CHECK(strstr(text, q[i].sql) != NULL);
        }
    } else {
        FZ_CHECK(rc == -1 && err[0] != '\0');
    }
    sqlfile_free(q, n);
    free(text);
    return 0;
}
