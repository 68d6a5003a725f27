/*
 * jsonv.h - JSON parsing and declarative validation of request bodies.
 *
 * A handler describes the fields it accepts in a static jv_field array;
 * jv_check() checks a parsed body against it and produces either a map of
 * field errors (for the 422 response) or a clean object holding only the
 * known fields, which the handler passes to Postgres as one jsonb parameter
 * (jsonb_populate_record does the column mapping). Unknown fields are
 * ignored, as read-only fields sent back by clients are.
 */
#ifndef HD_JSONV_H
#define HD_JSONV_H

#include <json-c/json.h>
#include <stddef.h>

typedef enum {
    JV_STRING, /* length in [min, max] characters (UTF-8 code points) */
    JV_INT,    /* integer in [min, max] */
    JV_BOOL,
    JV_DATE,      /* "YYYY-MM-DD", a real calendar date */
    JV_DECIMAL,   /* number (or numeric string) in [min, max], at most 2 decimals */
    JV_ENUM,      /* one of choices */
    JV_EMAIL,     /* a plausible address, length <= max */
    JV_URL,       /* an http or https URL with a host name, length <= max */
    JV_ENUM_LIST, /* an array of distinct values from choices */
} jv_type;

enum {
    JV_REQUIRED = 1 << 0, /* must be present on create */
    JV_NULLABLE = 1 << 1, /* null is accepted */
    JV_IMMUTABLE = 1 << 2 /* accepted on create, rejected on update */
};

typedef struct {
    const char *name;
    jv_type type;
    unsigned flags;
    long long min, max;
    const char *const *choices; /* JV_ENUM: NULL-terminated */
} jv_field;

/* Parse LEN bytes as a JSON object, rejecting invalid UTF-8, trailing
 * garbage and nesting deeper than 32. Returns 0 and a new object in *OUT
 * (caller puts it), or -1 with a static message in *ERR. */
int jv_parse_object(const char *buf, size_t len, json_object **out, const char **err);

/* Check BODY against SPEC[0..N). PARTIAL (PATCH) skips the required check
 * and rejects immutable fields. Returns 0 with *CLEAN (new object, caller
 * puts) holding the accepted fields; or -1 with *ERRORS (new object, caller
 * puts) mapping field name to message. */
int jv_check(json_object *body, const jv_field *spec, size_t n, int partial, json_object **clean,
             json_object **errors);

/* 1 when S is an absolute http(s) URL: scheme, a host name (letters,
 * digits, '-', '.' and non-ASCII, with a dot or "localhost"; no user
 * information), an optional port, then a path, query or fragment without
 * spaces, control characters or any of "<>\"\\^`{|}". */
int jv_valid_url(const char *s);

/* 1 when S is a valid YYYY-MM-DD calendar date. */
int jv_valid_date(const char *s);

/* 1 when S[0..LEN) is well-formed UTF-8 (no overlongs, no surrogates). */
int jv_utf8_valid(const char *s, size_t len);

/* Count UTF-8 code points of an already-valid string. */
size_t jv_utf8_len(const char *s, size_t bytes);

#endif
