/*
 * sqlfile.c - the named-query file parser (pure; run once at start), and
 * the annotations a "-- name:" line may carry (see sqlfile.h).
 */
#include "sqlfile.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every annotation a "-- name:" line may carry after the name. */
static const struct {
    const char *word;
    unsigned flag;
} annotations[] = {
    {"retry", SQL_RETRY},
};

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Only comment and blank lines between s and s+n? */
static int only_comments(const char *s, size_t n)
{
    const char *end = s + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        const char *p = s;
        while (p < le && isspace((unsigned char)*p))
            p++;
        if (p < le && !(le - p >= 2 && p[0] == '-' && p[1] == '-'))
            return 0;
        s = nl ? nl + 1 : end;
    }
    return 1;
}

/* The annotations after the name, from P to LE, into *FLAGS. 0, or -1 with
 * a message in ERR for a word that is no annotation or comes twice. */
static int parse_annotations(const char *path, const char *name, size_t nlen, const char *p,
                             const char *le, unsigned *flags, char *err, size_t errcap)
{
    *flags = 0;
    for (;;) {
        while (p < le && isspace((unsigned char)*p))
            p++;
        if (p == le)
            return 0;
        const char *w = p;
        while (p < le && !isspace((unsigned char)*p))
            p++;
        size_t wlen = (size_t)(p - w);
        unsigned flag = 0;
        for (size_t i = 0; i < sizeof(annotations) / sizeof(annotations[0]); i++)
            if (strlen(annotations[i].word) == wlen && memcmp(annotations[i].word, w, wlen) == 0)
                flag = annotations[i].flag;
        if (flag == 0) {
            snprintf(err, errcap, "%s: query %.*s: unknown annotation '%.*s' (known: retry)", path,
                     (int)nlen, name, (int)wlen, w);
            return -1;
        }
        if (*flags & flag) {
            snprintf(err, errcap, "%s: query %.*s: annotation '%.*s' given twice", path, (int)nlen,
                     name, (int)wlen, w);
            return -1;
        }
        *flags |= flag;
    }
}

static int add_query(const char *path, const char *name, size_t nlen, unsigned flags,
                     const char *body, size_t blen, sql_query **q, int *n, char *err, size_t errcap)
{
    while (blen > 0 && (isspace((unsigned char)body[blen - 1]) || body[blen - 1] == ';'))
        blen--;
    if (blank(body, blen) || only_comments(body, blen)) {
        snprintf(err, errcap, "%s: query %.*s has no statement", path, (int)nlen, name);
        return -1;
    }
    for (int i = 0; i < *n; i++) {
        if (strlen((*q)[i].name) == nlen && memcmp((*q)[i].name, name, nlen) == 0) {
            snprintf(err, errcap, "%s: query %.*s is defined twice", path, (int)nlen, name);
            return -1;
        }
    }
    sql_query *nq = realloc(*q, sizeof(**q) * (size_t)(*n + 1));
    if (nq == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    *q = nq;
    nq[*n].name = strndup(name, nlen);
    nq[*n].sql = strndup(body, blen);
    nq[*n].flags = flags;
    (*n)++;
    return 0;
}

int sqlfile_parse(const char *path, const char *text, sql_query **q, int *n, char *err,
                  size_t errcap)
{
    static const char tag[] = "-- name:";
    const char *s = text, *name = NULL, *body = NULL;
    size_t nlen = 0;
    unsigned flags = 0;
    while (*s != '\0') {
        const char *nl = strchr(s, '\n');
        const char *le = nl ? nl : s + strlen(s);
        if ((size_t)(le - s) > sizeof(tag) - 1 && strncmp(s, tag, sizeof(tag) - 1) == 0) {
            if (name != NULL && add_query(path, name, nlen, flags, body, (size_t)(s - body), q, n,
                                          err, errcap) != 0)
                return -1;
            if (name == NULL && !only_comments(text, (size_t)(s - text))) {
                snprintf(err, errcap, "%s: statement before the first '-- name:' line", path);
                return -1;
            }
            name = s + sizeof(tag) - 1;
            while (name < le && isspace((unsigned char)*name))
                name++;
            nlen = 0;
            while (name + nlen < le && (isalnum((unsigned char)name[nlen]) || name[nlen] == '_'))
                nlen++;
            if (nlen == 0) {
                snprintf(err, errcap, "%s: '-- name:' without a name", path);
                return -1;
            }
            if (name + nlen < le && !isspace((unsigned char)name[nlen])) {
                snprintf(err, errcap, "%s: '-- name: %.*s': a name is letters, digits and '_'",
                         path, (int)(le - name), name);
                return -1;
            }
            if (parse_annotations(path, name, nlen, name + nlen, le, &flags, err, errcap) != 0)
                return -1;
            body = nl ? nl + 1 : le;
        }
        s = nl ? nl + 1 : le;
    }
    if (name == NULL) {
        if (!only_comments(text, strlen(text))) {
            snprintf(err, errcap, "%s: statement before the first '-- name:' line", path);
            return -1;
        }
        return 0;
    }
    return add_query(path, name, nlen, flags, body, strlen(body), q, n, err, errcap);
}

void sqlfile_free(sql_query *q, int n)
{
    for (int i = 0; i < n; i++) {
        free(q[i].name);
        free(q[i].sql);
    }
    free(q);
}
