/*
 * goose.c - goose migration file parser.
 */
#include "goose.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

long long goose_version(const char *name)
{
    const char *slash = strrchr(name, '/');
    if (slash)
        name = slash + 1;
    size_t digits = 0;
    while (isdigit((unsigned char)name[digits]))
        digits++;
    size_t len = strlen(name);
    if (digits == 0 || digits > 18 || name[digits] != '_' || len < digits + 6 ||
        strcmp(name + len - 4, ".sql") != 0)
        return -1;
    long long v = strtoll(name, NULL, 10);
    return v > 0 ? v : -1;
}

static int only_space_and_comments(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (isspace((unsigned char)s[i])) {
            i++;
        } else if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
        } else if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            const char *e = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (s[j] == '*' && s[j + 1] == '/') {
                    e = s + j;
                    break;
                }
            if (e == NULL)
                return 0;
            i = (size_t)(e - s) + 2;
        } else {
            return 0;
        }
    }
    return 1;
}

static int add_stmt(goose_section *sec, const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || only_space_and_comments(s, n))
        return 0;
    char **ns = realloc(sec->stmts, sizeof(char *) * (size_t)(sec->n + 1));
    if (ns == NULL)
        return -1;
    sec->stmts = ns;
    ns[sec->n] = strndup(s, n);
    if (ns[sec->n] == NULL)
        return -1;
    sec->n++;
    return 0;
}

/* Split S[0..N) at top-level semicolons into SEC. */
static int split(goose_section *sec, const char *s, size_t n, char *err, size_t cap)
{
    size_t start = 0, i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '\'' || c == '"') {
            /* E'...' takes backslash escapes, unless that E ends a longer
             * identifier (Postgres's: letters, digits, '_', '$', bytes >= 0x80). */
            unsigned char before = i > 1 ? (unsigned char)s[i - 2] : ' ';
            int escapes = c == '\'' && i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                          !(isalnum(before) || before == '_' || before == '$' || before >= 0x80);
            for (i++; i < n; i++) {
                if (escapes && s[i] == '\\') {
                    i++;
                    continue;
                }
                if (s[i] == c) {
                    if (i + 1 < n && s[i + 1] == c) { /* doubled quote */
                        i++;
                        continue;
                    }
                    break;
                }
            }
            if (i >= n) {
                snprintf(err, cap, "unterminated %s", c == '\'' ? "string" : "quoted identifier");
                return -1;
            }
            i++;
        } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            int depth = 1; /* Postgres block comments nest */
            for (i += 2; i < n && depth > 0; i++) {
                if (s[i] == '/' && i + 1 < n && s[i + 1] == '*')
                    depth++, i++;
                else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/')
                    depth--, i++;
            }
            if (depth > 0) {
                snprintf(err, cap, "unterminated /* comment");
                return -1;
            }
        } else if (c == '$' && (i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_'))) {
            size_t j = i + 1;
            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_'))
                j++;
            if (j < n && s[j] == '$' && !(j > i + 1 && isdigit((unsigned char)s[i + 1]))) {
                size_t taglen = j - i + 1;
                const char *tag = s + i;
                const char *end = NULL;
                for (size_t k = j + 1; k + taglen <= n; k++)
                    if (memcmp(s + k, tag, taglen) == 0) {
                        end = s + k;
                        break;
                    }
                if (end == NULL) {
                    snprintf(err, cap, "unterminated dollar-quoted body %.*s", (int)taglen, tag);
                    return -1;
                }
                i = (size_t)(end - s) + taglen;
            } else {
                i++; /* $1 parameter or a lone $ */
            }
        } else if (c == ';') {
            if (add_stmt(sec, s + start, i + 1 - start) != 0)
                goto oom;
            start = ++i;
        } else {
            i++;
        }
    }
    if (add_stmt(sec, s + start, n - start) != 0)
        goto oom;
    return 0;
oom:
    snprintf(err, cap, "out of memory");
    return -1;
}

/* "-- +goose WORD..." -> pointer to WORD, else NULL */
static const char *annotation(const char *line, size_t len)
{
    static const char tag[] = "-- +goose ";
    if (len < sizeof(tag) - 1 || strncmp(line, tag, sizeof(tag) - 1) != 0)
        return NULL;
    return line + sizeof(tag) - 1;
}

static int word_is(const char *a, size_t alen, const char *w)
{
    size_t wl = strlen(w);
    while (alen > 0 && isspace((unsigned char)a[alen - 1]))
        alen--;
    return alen == wl && strncasecmp(a, w, wl) == 0;
}

int goose_parse(const char *text, goose_migration *m, char *err, size_t cap)
{
    memset(m, 0, sizeof(*m));
    goose_section *sec = NULL;
    int in_block = 0, seen_up = 0, seen_down = 0;
    const char *chunk = NULL; /* start of statements text not yet split */
    const char *block = NULL; /* start of the current StatementBegin body */
    const char *s = text;
    int lineno = 0;
    while (*s != '\0') {
        lineno++;
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        const char *next = nl ? nl + 1 : s + len;
        const char *a = annotation(s, len);
        if (a != NULL) {
            size_t alen = len - (size_t)(a - s);
            if (word_is(a, alen, "Up") || word_is(a, alen, "Down")) {
                int up = word_is(a, alen, "Up");
                if (in_block) {
                    snprintf(err, cap, "line %d: section starts inside StatementBegin", lineno);
                    return -1;
                }
                if ((up && seen_up) || (!up && seen_down)) {
                    snprintf(err, cap, "line %d: duplicate %s section", lineno, up ? "Up" : "Down");
                    return -1;
                }
                if (sec && chunk && split(sec, chunk, (size_t)(s - chunk), err, cap) != 0)
                    return -1;
                sec = up ? &m->up : &m->down;
                up ? (seen_up = 1) : (seen_down = 1);
                chunk = next;
            } else if (word_is(a, alen, "StatementBegin")) {
                if (sec == NULL || in_block) {
                    snprintf(err, cap, "line %d: unexpected StatementBegin", lineno);
                    return -1;
                }
                if (chunk && split(sec, chunk, (size_t)(s - chunk), err, cap) != 0)
                    return -1;
                in_block = 1;
                block = next;
            } else if (word_is(a, alen, "StatementEnd")) {
                if (!in_block) {
                    snprintf(err, cap, "line %d: StatementEnd without StatementBegin", lineno);
                    return -1;
                }
                if (add_stmt(sec, block, (size_t)(s - block)) != 0) {
                    snprintf(err, cap, "out of memory");
                    return -1;
                }
                in_block = 0;
                chunk = next;
            } else if (word_is(a, alen, "NO TRANSACTION")) {
                m->no_transaction = 1;
                if (sec && chunk && !in_block) {
                    if (split(sec, chunk, (size_t)(s - chunk), err, cap) != 0)
                        return -1;
                    chunk = next;
                }
            } else {
                /* A misspelt StatementBegin, or goose's ENVSUB (which would
                 * run ${VAR} literally here): refuse rather than guess. */
                snprintf(err, cap,
                         "line %d: unknown annotation '%.*s' (honeydue-migrate knows Up, Down, "
                         "StatementBegin, StatementEnd and NO TRANSACTION)",
                         lineno, (int)(alen > 40 ? 40 : alen), a);
                return -1;
            }
        } else if (sec == NULL && !only_space_and_comments(s, len)) {
            snprintf(err, cap, "line %d: statement before '-- +goose Up'", lineno);
            return -1;
        }
        s = next;
    }
    if (in_block) {
        snprintf(err, cap, "StatementBegin without StatementEnd");
        return -1;
    }
    if (!seen_up) {
        snprintf(err, cap, "no '-- +goose Up' annotation");
        return -1;
    }
    if (chunk && split(sec, chunk, strlen(chunk), err, cap) != 0)
        return -1;
    return 0;
}

static void free_section(goose_section *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->stmts[i]);
    free(s->stmts);
    s->stmts = NULL;
    s->n = 0;
}

void goose_free(goose_migration *m)
{
    free_section(&m->up);
    free_section(&m->down);
}
