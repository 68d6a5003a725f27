/*
 * jsonv.c - libFuzzer harness: a request body through the JSON validator
 * (fcgi-app/jsonv.c) as a handler runs it: jv_parse_object, then jv_check
 * against a spec with a field of every type (real handlers' fields), both
 * as a create and as a PATCH. What jv_check accepts goes to Postgres as
 * one jsonb text, so its serialization must parse again and pass the same
 * check unchanged. The raw bytes also go through
 * jv_utf8_valid / jv_utf8_len, jv_valid_url and jv_valid_date.
 */
#include "fuzz.h"
#include "jsonv.h"

/* A task's fields (handlers/tasks.c) and a contractor's address fields
 * (handlers/contractors.c): every type and flag the handlers use, with
 * their names and bounds, so that real request bodies are real seeds. */
static const char *const priorities[] = {"low", "medium", "high", "urgent", NULL};
static const char *const frequencies[] = {"once", "weekly", "monthly", "custom", NULL};
static const char *const specialties[] = {"general", "hvac", "plumbing", "electrical", NULL};

static const jv_field spec[] = {
    {"residence_id", JV_INT, JV_REQUIRED | JV_IMMUTABLE, 1, 999999999999999LL, NULL},
    {"title", JV_STRING, JV_REQUIRED, 1, 200, NULL},
    {"description", JV_STRING, 0, 0, 10000, NULL},
    {"priority", JV_ENUM, 0, 0, 0, priorities},
    {"due_date", JV_DATE, JV_NULLABLE, 0, 0, NULL},
    {"frequency", JV_ENUM, 0, 0, 0, frequencies},
    {"custom_interval_days", JV_INT, JV_NULLABLE, 1, 3650, NULL},
    {"estimated_cost", JV_DECIMAL, JV_NULLABLE, 0, 99999999, NULL},
    {"archived", JV_BOOL, 0, 0, 0, NULL},
    {"email", JV_EMAIL, JV_NULLABLE, 0, 254, NULL},
    {"website", JV_URL, JV_NULLABLE, 0, 500, NULL},
    {"specialties", JV_ENUM_LIST, 0, 0, 3, specialties},
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

/* CLEAN, as the text Postgres receives, is an object jv_check accepts
 * again, unchanged. */
static void check_roundtrip(json_object *clean, int partial)
{
    size_t len = 0;
    const char *text = json_object_to_json_string_length(clean, JSON_C_TO_STRING_PLAIN, &len);
    FZ_CHECK(text != NULL);
    json_object *again = NULL, *clean2 = NULL, *errors = NULL;
    const char *err = NULL;
    FZ_CHECK(jv_parse_object(text, len, &again, &err) == 0);
    FZ_CHECK(jv_check(again, spec, NSPEC, partial, &clean2, &errors) == 0);
    const char *text2 = json_object_to_json_string_ext(clean2, JSON_C_TO_STRING_PLAIN);
    FZ_CHECK(strcmp(text, text2) == 0);
    json_object_put(again);
    json_object_put(clean2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    if (jv_utf8_valid(buf, size))
        FZ_CHECK(jv_utf8_len(buf, size) <= size);
    char *s = fz_cstr(data, size);
    if (jv_valid_date(s))
        FZ_CHECK(strlen(s) == 10);
    if (jv_valid_url(s))
        FZ_CHECK(strncasecmp(s, "http", 4) == 0 && strpbrk(s, " \t\r\n<>\"") == NULL);
    free(s);

    json_object *body = NULL;
    const char *err = NULL;
    if (jv_parse_object(buf, size, &body, &err) != 0) {
        FZ_CHECK(body == NULL && err != NULL);
        return 0;
    }
    FZ_CHECK(json_object_is_type(body, json_type_object));
    for (int partial = 0; partial <= 1; partial++) {
        json_object *clean = NULL, *errors = NULL;
        if (jv_check(body, spec, NSPEC, partial, &clean, &errors) == 0) {
            FZ_CHECK(clean != NULL && errors == NULL);
            check_roundtrip(clean, partial);
            json_object_put(clean);
        } else {
            FZ_CHECK(clean == NULL && errors != NULL && json_object_object_length(errors) > 0);
            json_object_put(errors);
        }
    }
    json_object_put(body);
    return 0;
}
