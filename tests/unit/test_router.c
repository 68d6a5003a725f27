/*
 * test_router.c - the route matcher, against a table shaped like the real one
 * and against the real table itself.
 */
#include "handlers.h"
#include "router.h"
#include "http.h"
#include "test.h"

static int h(struct req *r)
{
    (void)r;
    return 0;
}

static const route table[] = {
    {"GET", "/api/tasks/", h, ROUTE_AUTH, NULL},
    {"POST", "/api/tasks/", h, ROUTE_AUTH, NULL},
    {"GET", "/api/tasks/{id}/", h, ROUTE_AUTH, NULL},
    {"DELETE", "/api/tasks/{id}/", h, ROUTE_AUTH, NULL},
    {"DELETE", "/api/residences/{id}/users/{uid}/", h, ROUTE_AUTH, NULL},
};
#define N (sizeof(table) / sizeof(table[0]))

/* CONTENT_LENGTH: digits only; a sign or junk is no length (a negative
 * one once became a huge size_t in a handler's read). */
TEST(content_length_is_digits_only)
{
    CHECK(http_content_length(NULL) == 0);
    CHECK(http_content_length("") == 0);
    CHECK(http_content_length("0") == 0);
    CHECK(http_content_length("1048576") == 1048576);
    CHECK(http_content_length("-1") == -1);
    CHECK(http_content_length("+5") == -1);
    CHECK(http_content_length(" 5") == -1);
    CHECK(http_content_length("5x") == -1);
    CHECK(http_content_length("1234567890123456789") == -1);
    CHECK(http_content_length("123456789012345678") == 123456789012345678L);
}

TEST(literal_path_matches)
{
    route_match m;
    CHECK(router_match(table, N, "GET", "/api/tasks/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route == &table[0]);
    CHECK(m.nparams == 0);
    CHECK(router_match(table, N, "POST", "/api/tasks/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route == &table[1]);
}

TEST(path_parameter_is_captured)
{
    route_match m;
    CHECK(router_match(table, N, "GET", "/api/tasks/42/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route == &table[2]);
    CHECK(m.nparams == 1 && m.params[0] == 42);
}

TEST(two_parameters_in_order)
{
    route_match m;
    CHECK(router_match(table, N, "DELETE", "/api/residences/7/users/9/", &m, NULL, 0) ==
          ROUTER_FOUND);
    CHECK(m.nparams == 2 && m.params[0] == 7 && m.params[1] == 9);
}

TEST(trailing_slash_is_required)
{
    route_match m;
    CHECK(router_match(table, N, "GET", "/api/tasks", &m, NULL, 0) == ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "/api/tasks/42", &m, NULL, 0) == ROUTER_NOT_FOUND);
}

TEST(non_numeric_zero_and_huge_ids_do_not_match)
{
    route_match m;
    CHECK(router_match(table, N, "GET", "/api/tasks/abc/", &m, NULL, 0) == ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "/api/tasks/0/", &m, NULL, 0) == ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "/api/tasks/-1/", &m, NULL, 0) == ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "/api/tasks/12a/", &m, NULL, 0) == ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "/api/tasks/99999999999999999999999/", &m, NULL, 0) ==
          ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "/api/tasks//", &m, NULL, 0) == ROUTER_NOT_FOUND);
}

TEST(wrong_method_is_405_with_allow)
{
    route_match m;
    char allow[64];
    CHECK(router_match(table, N, "PUT", "/api/tasks/5/", &m, allow, sizeof(allow)) ==
          ROUTER_BAD_METHOD);
    CHECK_STR(allow, "GET, DELETE");
    CHECK(router_match(table, N, "BREW", "/api/tasks/", &m, allow, sizeof(allow)) ==
          ROUTER_BAD_METHOD);
    CHECK_STR(allow, "GET, POST");
}

TEST(unknown_path_is_404)
{
    route_match m;
    CHECK(router_match(table, N, "GET", "/api/nope/", &m, NULL, 0) == ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "/", &m, NULL, 0) == ROUTER_NOT_FOUND);
    CHECK(router_match(table, N, "GET", "", &m, NULL, 0) == ROUTER_NOT_FOUND);
}

TEST(real_table_has_no_duplicate_routes)
{
    for (size_t i = 0; i < routes_n; i++)
        for (size_t j = i + 1; j < routes_n; j++)
            CHECK(!(strcmp(routes[i].method, routes[j].method) == 0 &&
                    strcmp(routes[i].pattern, routes[j].pattern) == 0));
}

TEST(real_table_paths_end_with_slash_and_resolve)
{
    route_match m;
    for (size_t i = 0; i < routes_n; i++) { /* /metrics keeps Prometheus's name */
        size_t len = strlen(routes[i].pattern);
        CHECK(strcmp(routes[i].pattern, "/metrics") == 0 ||
              (len > 0 && routes[i].pattern[len - 1] == '/'));
    }
    CHECK(router_match(routes, routes_n, "GET", "/metrics", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route->handler == metrics_get && m.route->flags == 0);
    CHECK(router_match(routes, routes_n, "GET", "/api/health/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route->handler == health_get && m.route->flags == 0);
    CHECK(router_match(routes, routes_n, "PATCH", "/api/tasks/3/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route->handler == tasks_update && (m.route->flags & ROUTE_AUTH));
}

RUN_TESTS()
