/*
 * test_jsonv.c - body parsing (strict JSON, UTF-8, objects only) and the
 * declarative field validator.
 */
#include "jsonv.h"
#include "test.h"

static int parses(const char *s)
{
    json_object *o = NULL;
    const char *err = NULL;
    int rc = jv_parse_object(s, strlen(s), &o, &err);
    json_object_put(o);
    return rc == 0;
}

TEST(parse_accepts_objects)
{
    CHECK(parses("{}"));
    CHECK(parses("{\"a\": 1, \"b\": [1, 2, {\"c\": null}]}\n"));
    CHECK(parses("  {\"title\": \"caf\xc3\xa9\"}  "));
}

TEST(parse_rejects_malformed)
{
    CHECK(!parses(""));
    CHECK(!parses("{"));
    CHECK(!parses("{\"a\": }"));
    CHECK(!parses("{'a': 1}"));
    CHECK(!parses("{\"a\": 1} trailing"));
    CHECK(!parses("{\"a\": 1}{\"b\": 2}"));
    CHECK(!parses("{\"a\": 1,}"));
}

TEST(parse_rejects_non_objects)
{
    CHECK(!parses("[]"));
    CHECK(!parses("\"string\""));
    CHECK(!parses("42"));
    CHECK(!parses("null"));
}

TEST(parse_rejects_invalid_utf8)
{
    CHECK(!parses("{\"a\": \"\xff\xfe\"}"));
    CHECK(!parses("{\"a\": \"\xc3\"}"));
    CHECK(!parses("{\"a\": \"\xed\xa0\x80\"}")); /* surrogate half */
}

TEST(parse_rejects_deep_nesting)
{
    char buf[200];
    size_t n = 0;
    buf[n++] = '{';
    memcpy(buf + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 40; i++)
        buf[n++] = '[';
    for (int i = 0; i < 40; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    buf[n] = '\0';
    CHECK(!parses(buf));
}

TEST(utf8_validator_is_strict)
{
    CHECK(jv_utf8_valid("plain", 5));
    CHECK(jv_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8f\xa0", 14));
    CHECK(!jv_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!jv_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    CHECK(!jv_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!jv_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!jv_utf8_valid("\xe2\x82", 2));         /* truncated */
    CHECK(!jv_utf8_valid("\x80", 1));
}

TEST(escaped_lone_surrogate_never_reaches_postgres_as_bad_utf8)
{
    json_object *o = NULL;
    const char *err = NULL;
    const char *s = "{\"title\": \"x\\ud800y\"}";
    if (jv_parse_object(s, strlen(s), &o, &err) == 0) {
        static const jv_field f[] = {{"title", JV_STRING, JV_REQUIRED, 1, 50, NULL}};
        json_object *clean = NULL, *errors = NULL;
        if (jv_check(o, f, 1, 0, &clean, &errors) == 0) {
            json_object *t;
            CHECK(json_object_object_get_ex(clean, "title", &t));
            CHECK(jv_utf8_valid(json_object_get_string(t), (size_t)json_object_get_string_len(t)));
        }
        json_object_put(clean);
        json_object_put(errors);
    }
    json_object_put(o);
}

static const char *const colors[] = {"red", "green", NULL};
static const jv_field spec[] = {
    {"title", JV_STRING, JV_REQUIRED, 1, 5, NULL},
    {"count", JV_INT, 0, 1, 10, NULL},
    {"flag", JV_BOOL, 0, 0, 0, NULL},
    {"day", JV_DATE, JV_NULLABLE, 0, 0, NULL},
    {"cost", JV_DECIMAL, JV_NULLABLE, 0, 1000, NULL},
    {"color", JV_ENUM, 0, 0, 0, colors},
    {"email", JV_EMAIL, 0, 0, 50, NULL},
    {"owner", JV_INT, JV_IMMUTABLE, 1, 100, NULL},
    {"site", JV_URL, JV_NULLABLE, 0, 40, NULL},
    {"colors", JV_ENUM_LIST, 0, 0, 0, colors},
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

/* Validate S; return the error message for FIELD, "" when valid. */
static char result[128];
static const char *check(const char *s, int partial, const char *field)
{
    json_object *body = json_tokener_parse(s), *clean = NULL, *errors = NULL;
    result[0] = '\0';
    if (jv_check(body, spec, NSPEC, partial, &clean, &errors) != 0) {
        json_object *v;
        snprintf(result, sizeof(result), "%s",
                 json_object_object_get_ex(errors, field, &v) ? json_object_get_string(v) : "?");
    }
    json_object_put(body);
    json_object_put(clean);
    json_object_put(errors);
    return result;
}

TEST(valid_body_passes_and_unknown_fields_are_dropped)
{
    json_object *body = json_tokener_parse("{\"title\":\"abc\",\"count\":3,\"id\":9,\"x\":[1]}");
    json_object *clean = NULL, *errors = NULL;
    CHECK(jv_check(body, spec, NSPEC, 0, &clean, &errors) == 0);
    CHECK(errors == NULL);
    CHECK(json_object_object_length(clean) == 2);
    CHECK(!json_object_object_get_ex(clean, "id", NULL));
    json_object_put(body);
    json_object_put(clean);
}

TEST(required_and_partial)
{
    CHECK_STR(check("{}", 0, "title"), "is required");
    CHECK_STR(check("{}", 1, "title"), "");
    CHECK_STR(check("{\"owner\": 3, \"title\": \"a\"}", 1, "owner"), "cannot be changed");
    CHECK_STR(check("{\"owner\": 3, \"title\": \"a\"}", 0, "owner"), "");
}

TEST(wrong_types_are_named)
{
    CHECK_STR(check("{\"title\": 5}", 0, "title"), "must be a string");
    CHECK_STR(check("{\"title\": \"a\", \"count\": \"3\"}", 0, "count"), "must be an integer");
    CHECK_STR(check("{\"title\": \"a\", \"count\": 3.5}", 0, "count"), "must be an integer");
    CHECK_STR(check("{\"title\": \"a\", \"flag\": 1}", 0, "flag"), "must be true or false");
    CHECK_STR(check("{\"title\": null}", 0, "title"), "may not be null");
}

TEST(string_lengths_count_characters)
{
    CHECK_STR(check("{\"title\": \"\"}", 0, "title"), "may not be blank");
    CHECK_STR(check("{\"title\": \"abcdef\"}", 0, "title"), "is too long");
    CHECK_STR(check("{\"title\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", 0, "title"), "");
    CHECK_STR(check("{\"title\": \"a\\u0000b\"}", 0, "title"), "may not contain NUL characters");
}

TEST(ranges_dates_enums_emails)
{
    CHECK_STR(check("{\"title\": \"a\", \"count\": 11}", 0, "count"), "is out of range");
    CHECK_STR(check("{\"title\": \"a\", \"count\": 99999999999999999999}", 0, "count"),
              "is out of range");
    CHECK_STR(check("{\"title\": \"a\", \"day\": \"2025-02-29\"}", 0, "day"),
              "must be a date as YYYY-MM-DD");
    CHECK_STR(check("{\"title\": \"a\", \"day\": \"2024-02-29\"}", 0, "day"), "");
    CHECK_STR(check("{\"title\": \"a\", \"day\": null}", 0, "day"), "");
    CHECK_STR(check("{\"title\": \"a\", \"color\": \"blue\"}", 0, "color"),
              "is not one of the allowed values");
    CHECK_STR(check("{\"title\": \"a\", \"email\": \"nope\"}", 0, "email"),
              "must be a valid email address");
    CHECK_STR(check("{\"title\": \"a\", \"email\": \"a@b.co\"}", 0, "email"), "");
}

TEST(decimals)
{
    CHECK_STR(check("{\"title\": \"a\", \"cost\": 12.5}", 0, "cost"), "");
    CHECK_STR(check("{\"title\": \"a\", \"cost\": \"12.50\"}", 0, "cost"), "");
    CHECK_STR(check("{\"title\": \"a\", \"cost\": 12.345}", 0, "cost"),
              "must have at most 2 decimal places");
    CHECK_STR(check("{\"title\": \"a\", \"cost\": -1}", 0, "cost"), "is out of range");
    CHECK_STR(check("{\"title\": \"a\", \"cost\": \"abc\"}", 0, "cost"), "must be a number");
    CHECK_STR(check("{\"title\": \"a\", \"cost\": true}", 0, "cost"), "must be a number");
}

TEST(valid_date_calendar)
{
    CHECK(jv_valid_date("2026-11-23"));
    CHECK(jv_valid_date("2000-02-29"));
    CHECK(!jv_valid_date("1900-02-29"));
    CHECK(!jv_valid_date("2026-13-01"));
    CHECK(!jv_valid_date("2026-04-31"));
    CHECK(!jv_valid_date("2026-4-1"));
    CHECK(!jv_valid_date("2026-04-01T00:00"));
}

TEST(urls)
{
    CHECK(jv_valid_url("https://example.com"));
    CHECK(jv_valid_url("http://example.com/"));
    CHECK(jv_valid_url("HTTPS://Sub.Example.co.uk:8443/a/b?c=d&e=f#top"));
    CHECK(jv_valid_url("http://localhost:8080/x"));
    CHECK(jv_valid_url("https://m\xc3\xbcnchen.de/caf\xc3\xa9"));
    CHECK(!jv_valid_url("example.com"));
    CHECK(!jv_valid_url("ftp://example.com"));
    CHECK(!jv_valid_url("javascript:alert(1)"));
    CHECK(!jv_valid_url("https://"));
    CHECK(!jv_valid_url("https://localhost.")); /* a trailing dot */
    CHECK(!jv_valid_url("https://a..b.com"));
    CHECK(!jv_valid_url("https://-a.com"));
    CHECK(!jv_valid_url("https://intranet/"));
    CHECK(!jv_valid_url("https://user:pw@example.com/"));
    CHECK(!jv_valid_url("https://example.com:0/"));
    CHECK(!jv_valid_url("https://example.com:65536/"));
    CHECK(!jv_valid_url("https://example.com:/"));
    CHECK(!jv_valid_url("https://example.com/a b"));
    CHECK(!jv_valid_url("https://example.com/\"><script>"));
    CHECK(!jv_valid_url("https://example.com\\evil.com"));
    CHECK(!jv_valid_url("https://example.com/\t"));
}

TEST(url_and_enum_list_fields)
{
    CHECK_STR(check("{\"title\": \"a\", \"site\": \"https://x.org/\"}", 0, "site"), "");
    CHECK_STR(check("{\"title\": \"a\", \"site\": null}", 0, "site"), "");
    CHECK_STR(check("{\"title\": \"a\", \"site\": \"x.org\"}", 0, "site"),
              "must be an http or https URL");
    CHECK_STR(check("{\"title\": \"a\", \"site\": \"https://x.org/0123456789012345678901234567\"}",
                    0, "site"),
              "is too long");
    CHECK_STR(check("{\"title\": \"a\", \"colors\": []}", 0, "colors"), "");
    CHECK_STR(check("{\"title\": \"a\", \"colors\": [\"green\", \"red\"]}", 0, "colors"), "");
    CHECK_STR(check("{\"title\": \"a\", \"colors\": \"red\"}", 0, "colors"), "must be a list");
    CHECK_STR(check("{\"title\": \"a\", \"colors\": null}", 0, "colors"), "may not be null");
    CHECK_STR(check("{\"title\": \"a\", \"colors\": [\"blue\"]}", 0, "colors"),
              "must be a list of allowed values");
    CHECK_STR(check("{\"title\": \"a\", \"colors\": [1]}", 0, "colors"),
              "must be a list of allowed values");
    CHECK_STR(check("{\"title\": \"a\", \"colors\": [\"red\", \"red\"]}", 0, "colors"),
              "may not repeat a value");
}

RUN_TESTS()
