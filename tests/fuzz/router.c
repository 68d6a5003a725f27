/*
 * router.c - libFuzzer harness: a method and a path against the real route
 * table (handlers/routes.c) through router_match, as the worker calls it
 * (HEAD as GET, a 128-byte Allow buffer). A match must be the method asked
 * for, with one positive id per placeholder of its pattern, and rebuilding
 * the pattern with those ids must give the path back (leading zeros
 * aside); a 405's Allow list must name only methods of routes there are.
 *
 * Input: "METHOD PATH" (the path is everything after the first space).
 */
#include "fuzz.h"
#include "handlers.h"

/* PATTERN with its placeholders replaced by PARAMS, into OUT. */
static void rebuild(const char *pattern, const long long *params, char *out, size_t cap)
{
    size_t o = 0;
    int k = 0;
    for (const char *p = pattern; *p != '\0' && o + 24 < cap;) {
        if (*p == '{') {
            o += (size_t)snprintf(out + o, cap - o, "%lld", params[k++]);
            p = strchr(p, '}') + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* PATH without the leading zeros of its numbers. */
static void strip_zeros(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    int leading = 1; /* no digit but zeros since the last non-digit */
    for (const char *p = path; *p != '\0' && o + 1 < cap; p++) {
        int digit = *p >= '0' && *p <= '9';
        if (*p == '0' && leading && p[1] >= '0' && p[1] <= '9')
            continue;
        leading = !digit;
        out[o++] = *p;
    }
    out[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fz_cstr(data, size);
    char *sp = strchr(in, ' ');
    const char *method = "GET", *path = in;
    if (sp != NULL) {
        *sp = '\0';
        method = in;
        path = sp + 1;
    }
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    char allow[128];
    route_match m;
    memset(&m, 0, sizeof(m));
    int rc = router_match(routes, routes_n, method, path, &m, allow, sizeof(allow));
    FZ_CHECK(rc == ROUTER_FOUND || rc == ROUTER_NOT_FOUND || rc == ROUTER_BAD_METHOD);
    FZ_CHECK(memchr(allow, '\0', sizeof(allow)) != NULL);
    if (rc == ROUTER_FOUND) {
        FZ_CHECK(m.route >= routes && m.route < routes + routes_n);
        FZ_CHECK(strcmp(m.route->method, method) == 0);
        int holes = 0;
        for (const char *p = m.route->pattern; (p = strchr(p, '{')) != NULL; p++)
            holes++;
        FZ_CHECK(m.nparams == holes && holes <= ROUTER_MAX_PARAMS);
        for (int i = 0; i < m.nparams; i++)
            FZ_CHECK(m.params[i] > 0);
        char want[1024], got[1024];
        if (strlen(path) < sizeof(want) - 1) {
            rebuild(m.route->pattern, m.params, want, sizeof(want));
            strip_zeros(path, got, sizeof(got));
            FZ_CHECK(strcmp(want, got) == 0);
        }
    } else if (rc == ROUTER_BAD_METHOD) {
        FZ_CHECK(allow[0] != '\0');
        /* Every method named is some route's (the last may be cut short). */
        for (char *tok = strtok(allow, ", "); tok != NULL; tok = strtok(NULL, ", ")) {
            int known = 0;
            for (size_t i = 0; i < routes_n && !known; i++)
                known = strncmp(routes[i].method, tok, strlen(tok)) == 0;
            FZ_CHECK(known);
        }
    }
    free(in);
    return 0;
}
