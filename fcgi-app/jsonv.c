/*
 * jsonv.c - body parsing and field validation for the handlers.
 */
#include "jsonv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int jv_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned cp, min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0; /* overlong, out of range, or a surrogate */
        p += n + 1;
    }
    return 1;
}

/* json-c's strict mode still takes single-quoted names: refuse any quote
 * character outside a double-quoted string. */
static int only_double_quotes(const char *s, size_t len)
{
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '\'') {
            return 0;
        }
    }
    return 1;
}

int jv_parse_object(const char *buf, size_t len, json_object **out, const char **err)
{
    *out = NULL;
    if (len == 0) {
        *err = "request body is empty";
        return -1;
    }
    if (!jv_utf8_valid(buf, len)) {
        *err = "request body is not valid UTF-8";
        return -1;
    }
    if (!only_double_quotes(buf, len)) {
        *err = "request body is not valid JSON";
        return -1;
    }
    if (len > (size_t)0x7fffffff) {
        *err = "request body is too large";
        return -1;
    }
    json_tokener *tok = json_tokener_new_ex(32);
    if (tok == NULL) {
        *err = "out of memory";
        return -1;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr != json_tokener_success || obj == NULL) {
        json_object_put(obj);
        *err = jerr == json_tokener_error_depth ? "JSON nesting is too deep"
               : jerr == json_tokener_continue  ? "JSON body is truncated"
                                                : "request body is not valid JSON";
        return -1;
    }
    /* Only whitespace may follow the value. */
    for (size_t i = used; i < len; i++) {
        char c = buf[i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            json_object_put(obj);
            *err = "request body is not valid JSON";
            return -1;
        }
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        *err = "request body must be a JSON object";
        return -1;
    }
    *out = obj;
    return 0;
}

size_t jv_utf8_len(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

int jv_valid_date(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = mdays[m - 1] + (m == 2 && leap);
    return d <= max;
}

static int valid_email(const char *s, size_t len)
{
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
        return 0;
    const char *dot = strrchr(at, '.');
    if (dot == NULL || dot == at + 1 || dot[1] == '\0')
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ')
            return 0;
    return 1;
}

int jv_valid_url(const char *s)
{
    const char *h;
    if (strncasecmp(s, "http://", 7) == 0)
        h = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        h = s + 8;
    else
        return 0;
    size_t hl = strcspn(h, ":/?#");
    if (hl == 0 || hl > 253 || h[0] == '-' || h[0] == '.' || h[hl - 1] == '-' || h[hl - 1] == '.')
        return 0;
    int dot = 0;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (h[i - 1] == '.')
                return 0;
            dot = 1;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c >= 0x80)) {
            return 0; /* '@' too: no user information */
        }
    }
    if (!dot && !(hl == 9 && strncasecmp(h, "localhost", 9) == 0))
        return 0;
    const char *p = h + hl;
    if (*p == ':') {
        long port = 0;
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
            port = port * 10 + (*p - '0');
        if (digits == 0 || port < 1 || port > 65535)
            return 0;
    }
    if (*p != '\0' && *p != '/' && *p != '?' && *p != '#')
        return 0;
    for (; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f || strchr("<>\"\\^`{|}", c) != NULL)
            return 0;
    }
    return 1;
}

/* An array of distinct strings from F's choices, at most F->max of them. */
static const char *check_enum_list(json_object *v, const jv_field *f)
{
    if (!json_object_is_type(v, json_type_array))
        return "must be a list";
    size_t n = json_object_array_length(v);
    if (f->max > 0 && (long long)n > f->max)
        return "has too many values";
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string))
            return "must be a list of allowed values";
        const char *s = json_object_get_string(e);
        int ok = 0;
        for (const char *const *c = f->choices; c && *c && !ok; c++)
            ok = strcmp(*c, s) == 0;
        if (!ok)
            return "must be a list of allowed values";
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_object_get_string(json_object_array_get_idx(v, j)), s) == 0)
                return "may not repeat a value";
    }
    return NULL;
}

/* Numbers: JSON int or double, or a string such as "12.50". */
static const char *check_decimal(json_object *v, const jv_field *f, json_object **norm)
{
    double d;
    json_type t = json_object_get_type(v);
    if (t == json_type_int || t == json_type_double) {
        d = json_object_get_double(v);
    } else if (t == json_type_string) {
        const char *s = json_object_get_string(v);
        char *end;
        d = strtod(s, &end);
        if (*s == '\0' || *end != '\0')
            return "must be a number";
    } else {
        return "must be a number";
    }
    if (!isfinite(d))
        return "must be a number";
    if (d < (double)f->min || d > (double)f->max)
        return "is out of range";
    double cents = d * 100.0;
    if (fabs(cents - round(cents)) > 1e-6)
        return "must have at most 2 decimal places";
    char buf[64];
    snprintf(buf, sizeof(buf), "%.2f", d);
    *norm = json_object_new_double_s(d, buf);
    return NULL;
}

/* Returns NULL when V is acceptable for F (setting *NORM to the value to
 * keep, a new reference), else the error message. */
static const char *check_value(json_object *v, const jv_field *f, json_object **norm)
{
    *norm = NULL;
    if (v == NULL) {
        if (f->flags & JV_NULLABLE)
            return NULL;
        return "may not be null";
    }
    json_type t = json_object_get_type(v);
    switch (f->type) {
    case JV_STRING:
    case JV_EMAIL:
    case JV_URL:
    case JV_ENUM:
    case JV_DATE: {
        if (t != json_type_string)
            return "must be a string";
        const char *s = json_object_get_string(v);
        size_t bytes = (size_t)json_object_get_string_len(v);
        if (strlen(s) != bytes)
            return "may not contain NUL characters";
        if (!jv_utf8_valid(s, bytes))
            return "is not valid UTF-8"; /* e.g. an escaped lone surrogate */
        size_t chars = jv_utf8_len(s, bytes);
        if (f->type == JV_STRING) {
            if ((long long)chars < f->min)
                return f->min == 1 ? "may not be blank" : "is too short";
            if ((long long)chars > f->max)
                return "is too long";
        } else if (f->type == JV_EMAIL) {
            if ((long long)chars > f->max || !valid_email(s, bytes))
                return "must be a valid email address";
        } else if (f->type == JV_URL) {
            if ((long long)chars > f->max)
                return "is too long";
            if (!jv_valid_url(s))
                return "must be an http or https URL";
        } else if (f->type == JV_DATE) {
            if (!jv_valid_date(s))
                return "must be a date as YYYY-MM-DD";
        } else {
            int ok = 0;
            for (const char *const *c = f->choices; c && *c; c++)
                if (strcmp(*c, s) == 0)
                    ok = 1;
            if (!ok)
                return "is not one of the allowed values";
        }
        break;
    }
    case JV_INT: {
        if (t != json_type_int)
            return "must be an integer";
        errno = 0;
        int64_t n = json_object_get_int64(v);
        if (n < f->min || n > f->max || n == INT64_MAX || n == INT64_MIN)
            return "is out of range";
        break;
    }
    case JV_BOOL:
        if (t != json_type_boolean)
            return "must be true or false";
        break;
    case JV_DECIMAL:
        return check_decimal(v, f, norm);
    case JV_ENUM_LIST: {
        const char *msg = check_enum_list(v, f);
        if (msg != NULL)
            return msg;
        break;
    }
    }
    *norm = json_object_get(v);
    return NULL;
}

int jv_check(json_object *body, const jv_field *spec, size_t n, int partial, json_object **clean,
             json_object **errors)
{
    json_object *ok = json_object_new_object();
    json_object *errs = json_object_new_object();
    for (size_t i = 0; i < n; i++) {
        const jv_field *f = &spec[i];
        json_object *v = NULL;
        int present = json_object_object_get_ex(body, f->name, &v);
        const char *msg = NULL;
        if (!present) {
            if (!partial && (f->flags & JV_REQUIRED))
                msg = "is required";
        } else if (partial && (f->flags & JV_IMMUTABLE)) {
            msg = "cannot be changed";
        } else {
            json_object *norm = NULL;
            msg = check_value(v, f, &norm);
            if (msg == NULL)
                json_object_object_add(ok, f->name, norm);
        }
        if (msg != NULL)
            json_object_object_add(errs, f->name, json_object_new_string(msg));
    }
    if (json_object_object_length(errs) > 0) {
        json_object_put(ok);
        *clean = NULL;
        *errors = errs;
        return -1;
    }
    json_object_put(errs);
    *clean = ok;
    *errors = NULL;
    return 0;
}
