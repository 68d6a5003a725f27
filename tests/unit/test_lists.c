/*
 * test_lists.c - the pure helpers behind paginated lists and query
 * parameters (handlers/common.c), the push-token check (handlers/devices.c),
 * and the new routes' place in the real table.
 */
#include "handlers.h"
#include "router.h"
#include "test.h"

TEST(page_int_defaults_when_absent)
{
    long long v = -1;
    CHECK(page_parse_int(NULL, 20, 100, &v) == NULL && v == 20);
}

TEST(page_int_accepts_the_range)
{
    long long v = 0;
    CHECK(page_parse_int("1", 20, 100, &v) == NULL && v == 1);
    CHECK(page_parse_int("100", 20, 100, &v) == NULL && v == 100);
    CHECK(page_parse_int("007", 20, 100, &v) == NULL && v == 7);
    CHECK(page_parse_int("1000000000", 1, PAGE_MAX, &v) == NULL && v == PAGE_MAX);
}

TEST(page_int_rejects_non_positive_and_garbage)
{
    long long v = 0;
    CHECK_STR(page_parse_int("", 20, 100, &v), "must be a positive integer");
    CHECK_STR(page_parse_int("0", 20, 100, &v), "must be a positive integer");
    CHECK_STR(page_parse_int("-3", 20, 100, &v), "must be a positive integer");
    CHECK_STR(page_parse_int("+3", 20, 100, &v), "must be a positive integer");
    CHECK_STR(page_parse_int("2.0", 20, 100, &v), "must be a positive integer");
    CHECK_STR(page_parse_int("3 ", 20, 100, &v), "must be a positive integer");
    CHECK_STR(page_parse_int("0x10", 20, 100, &v), "must be a positive integer");
    /* Too big, however many digits, without overflowing. */
    CHECK_STR(page_parse_int("101", 20, 100, &v), "is out of range");
    CHECK_STR(page_parse_int("99999999999999999999999999999", 20, 100, &v), "is out of range");
    CHECK_STR(page_parse_int("99999999999999999999999999x", 20, 100, &v),
              "must be a positive integer");
    CHECK(v == 20); /* left at the default */
}

TEST(page_links_inside_the_list)
{
    long long next, prev;
    page_req p = {1, 20};
    page_links(&p, 0, &next, &prev);
    CHECK(next == 0 && prev == 0);
    page_links(&p, 20, &next, &prev);
    CHECK(next == 0 && prev == 0);
    page_links(&p, 21, &next, &prev);
    CHECK(next == 2 && prev == 0);
    p.page = 2;
    page_links(&p, 21, &next, &prev);
    CHECK(next == 0 && prev == 1);
    p = (page_req){2, 2};
    page_links(&p, 5, &next, &prev);
    CHECK(next == 3 && prev == 1);
}

TEST(page_links_past_the_end_point_back_to_the_last_page)
{
    long long next, prev;
    page_req p = {9, 2};
    page_links(&p, 5, &next, &prev);
    CHECK(next == 0 && prev == 3);
    p = (page_req){4, 2};
    page_links(&p, 5, &next, &prev);
    CHECK(next == 0 && prev == 3);
    p = (page_req){5, 20};
    page_links(&p, 0, &next, &prev);
    CHECK(next == 0 && prev == 1); /* an empty list still has page 1 */
}

TEST(param_bool_is_strict)
{
    CHECK(param_bool("true") == 1);
    CHECK(param_bool("false") == 0);
    CHECK(param_bool("True") == -1);
    CHECK(param_bool("1") == -1);
    CHECK(param_bool("") == -1);
    CHECK(param_bool(NULL) == -1);
}

TEST(device_tokens)
{
    CHECK(devices_token_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(devices_token_valid("dGVzdA:APA91bH-x_y.z0123456789"));
    CHECK(devices_token_valid("aaaaaaaaaaaaaaaa"));    /* 16 */
    CHECK(!devices_token_valid("aaaaaaaaaaaaaaa"));    /* 15 */
    CHECK(!devices_token_valid("aaaaaaaaaaaaaaaa b")); /* space */
    CHECK(!devices_token_valid("aaaaaaaaaaaaaaaa/"));
    CHECK(!devices_token_valid("aaaaaaaaaaaaaaaa\xc3\xa9"));
    char long_token[514];
    memset(long_token, 'a', 512);
    long_token[512] = '\0';
    CHECK(devices_token_valid(long_token));
    long_token[512] = 'a';
    long_token[513] = '\0';
    CHECK(!devices_token_valid(long_token));
}

TEST(new_routes_resolve_with_their_flags)
{
    route_match m;
    CHECK(router_match(routes, routes_n, "POST", "/api/notifications/read-all/", &m, NULL, 0) ==
          ROUTER_FOUND);
    CHECK(m.route->handler == notifications_read_all);
    CHECK(router_match(routes, routes_n, "GET", "/api/notifications/preferences/", &m, NULL, 0) ==
          ROUTER_FOUND);
    CHECK(m.route->handler == notifications_preferences_get);
    CHECK(router_match(routes, routes_n, "POST", "/api/notifications/12/read/", &m, NULL, 0) ==
          ROUTER_FOUND);
    CHECK(m.route->handler == notifications_read && m.params[0] == 12);
    /* Every admin route, and only those, needs staff. */
    for (size_t i = 0; i < routes_n; i++) {
        int admin = strncmp(routes[i].pattern, "/api/admin/", 11) == 0;
        CHECK(admin == ((routes[i].flags & ROUTE_STAFF) != 0));
    }
}

RUN_TESTS()
