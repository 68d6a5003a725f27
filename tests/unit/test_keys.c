/*
 * test_keys.c - the Redis keys (keys.h) spelled exactly as the data already
 * in Redis has them, and the cached lists the real route table declares.
 */
#include "arena.h"
#include "handlers.h"
#include "keys.h"
#include "listcache.h"
#include "test.h"

TEST(cache_and_throttle_keys_keep_their_spelling)
{
    arena a;
    CHECK(arena_init(&a, 4096) == 0);
    CHECK_STR(keys_auth(&a, "00ff"), "auth:00ff");
    CHECK_STR(keys_auth_pattern, "auth:*");
    CHECK_STR(keys_user_list(&a, "tasks", 42), "tasks:user:42");
    CHECK_STR(keys_user_list_prefix(&a, "tasks"), "tasks:user:");
    CHECK_STR(keys_user_list_pattern(&a, "residences"), "residences:user:*");
    CHECK_STR(keys_throttle_ip(&a, "login", "127.0.0.2"), "throttle:login:ip:127.0.0.2");
    CHECK_STR(keys_throttle_account(&a, "reset", "abc"), "throttle:reset:acct:abc");
    CHECK_STR(keys_throttle_user(&a, "password", 7), "throttle:password:user:7");
    arena_destroy(&a);
}

TEST(job_queue_keys_keep_their_spelling)
{
    char k[KEYS_JOB_MAX];
    CHECK_STR(keys_job_queue(k, sizeof(k), "critical"), "hd:queue:critical");
    CHECK_STR(keys_job_queue_prefix, "hd:queue:");
    CHECK_STR(keys_job_unique(k, sizeof(k), "reset:7"), "hd:unique:reset:7");
    CHECK_STR(keys_job_periodic(k, sizeof(k), "reminders.daily", 123),
              "hd:periodic:reminders.daily:123");
    CHECK_STR(keys_job_scheduled, "hd:scheduled");
    CHECK_STR(keys_job_active, "hd:active");
    CHECK_STR(keys_job_lease, "hd:lease");
    CHECK_STR(keys_job_dead, "hd:dead");
    CHECK_STR(keys_job_stats, "hd:stats");
    CHECK_STR(keys_job_scheduler, "hd:scheduler");
    char small[12];
    CHECK(keys_job_unique(small, sizeof(small), "too long for it") == NULL);
}

TEST(the_route_table_declares_the_cached_lists)
{
    const char *lists[LISTCACHE_LISTS_MAX];
    int n = listcache_lists(routes, routes_n, lists, LISTCACHE_LISTS_MAX);
    CHECK(n == 2);
    CHECK(n == 2 && strcmp(lists[0], "residences") == 0 && strcmp(lists[1], "tasks") == 0);
    route_match m;
    CHECK(router_match(routes, routes_n, "GET", "/api/tasks/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route->cache != NULL && strcmp(m.route->cache->query, "tasks_list") == 0);
    CHECK((m.route->flags & ROUTE_AUTH) != 0);
    CHECK(router_match(routes, routes_n, "GET", "/api/residences/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route->cache != NULL && strcmp(m.route->cache->query, "residences_list") == 0);
    CHECK(router_match(routes, routes_n, "POST", "/api/tasks/", &m, NULL, 0) == ROUTER_FOUND);
    CHECK(m.route->cache == NULL);
    for (size_t i = 0; i < routes_n; i++) /* a cached list is a user's: it needs a token */
        CHECK(routes[i].cache == NULL || (routes[i].flags & ROUTE_AUTH));
    /* Declared twice, a list counts once; more than the room is refused. */
    const route two[] = {{"GET", "/a/", NULL, ROUTE_AUTH, ROUTE_CACHE("x", "q")},
                         {"GET", "/b/", NULL, ROUTE_AUTH, ROUTE_CACHE("x", "q")},
                         {"GET", "/c/", NULL, ROUTE_AUTH, ROUTE_CACHE("y", "q")}};
    CHECK(listcache_lists(two, 3, lists, 2) == 2);
    CHECK(listcache_lists(two, 3, lists, 1) == -1);
}

RUN_TESTS()
