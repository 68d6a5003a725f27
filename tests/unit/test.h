/*
 * test.h - the unit tests' whole framework: TEST(name) defines a test,
 * CHECK(cond) records a failure and goes on, CHECK_STR compares strings.
 * Each test binary ends with RUN_TESTS(), which prints "ok NAME" or
 * "FAIL NAME" per test and a last line "N passed, M failed" that
 * tests/unit/run.sh adds up.
 */
#ifndef HD_TEST_H
#define HD_TEST_H

#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(int *failed);
struct test_case {
    const char *name;
    test_fn fn;
};

#define MAX_TESTS 256
static struct test_case test_cases[MAX_TESTS];
static int test_count;

#define TEST(name)                                                                                 \
    static void name(int *failed);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        if (test_count < MAX_TESTS)                                                                \
            test_cases[test_count++] = (struct test_case){#name, name};                            \
    }                                                                                              \
    static void name(int *failed)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            *failed = 1;                                                                           \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                     \
            fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
                    b_ ? b_ : "(null)");                                                           \
            *failed = 1;                                                                           \
        }                                                                                          \
    } while (0)

#define RUN_TESTS()                                                                                \
    int main(void)                                                                                 \
    {                                                                                              \
        int passed = 0, nfailed = 0;                                                               \
        for (int i = 0; i < test_count; i++) {                                                     \
            int failed = 0;                                                                        \
            test_cases[i].fn(&failed);                                                             \
            printf("%s %s\n", failed ? "FAIL" : "ok", test_cases[i].name);                         \
            failed ? nfailed++ : passed++;                                                         \
        }                                                                                          \
        printf("%d passed, %d failed\n", passed, nfailed);                                         \
        return nfailed != 0;                                                                       \
    }

#endif
