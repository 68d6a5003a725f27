"""The per-user task list cache in Redis: hits, ETags, and no stale read ever."""
import time

from lib import request, register_user, stack
from test_residences import make_residence, add_member
from test_tasks import make_task


def test_second_read_is_a_cache_hit_with_same_etag():
    _, tok, _ = register_user("c")
    make_task(tok, make_residence(tok)["id"])
    first = request("GET", "/api/tasks/", token=tok)
    second = request("GET", "/api/tasks/", token=tok)
    assert first.headers["x-cache"] == "miss" and second.headers["x-cache"] == "hit"
    assert first.text == second.text
    assert first.headers["etag"] == second.headers["etag"] and first.headers["etag"].startswith('"')


def test_if_none_match_gets_304():
    _, tok, _ = register_user("etag")
    make_task(tok, make_residence(tok)["id"])
    etag = request("GET", "/api/tasks/", token=tok).headers["etag"]
    r = request("GET", "/api/tasks/", token=tok, headers={"If-None-Match": etag})
    assert r.status == 304 and r.text == ""
    r = request("GET", "/api/tasks/", token=tok, headers={"If-None-Match": '"0000000000000000"'})
    assert r.status == 200 and r.json["count"] == 1


def test_no_cache_request_bypasses_the_read():
    _, tok, _ = register_user("byp")
    make_task(tok, make_residence(tok)["id"])
    request("GET", "/api/tasks/", token=tok)
    r = request("GET", "/api/tasks/", token=tok, headers={"Cache-Control": "no-cache"})
    assert r.status == 200 and r.headers["x-cache"] == "bypass" and r.json["count"] == 1


def test_every_write_shows_at_once_for_every_member():
    owner, tok, _ = register_user("w1")
    member, mtok, _ = register_user("w2")
    rid = make_residence(tok)["id"]
    add_member(rid, member["id"])
    # warm both users' caches
    for t in (tok, mtok):
        request("GET", "/api/tasks/", token=t)
        assert request("GET", "/api/tasks/", token=t).headers["x-cache"] == "hit"

    def both(expect):
        for t in (tok, mtok):
            r = request("GET", "/api/tasks/", token=t)
            assert r.status == 200
            expect(r.json)

    task = make_task(tok, rid, title="created")  # create
    both(lambda j: (j["count"] == 1 and j["results"][0]["title"] == "created") or fail(j))
    request("PATCH", f"/api/tasks/{task['id']}/", {"title": "patched"}, token=mtok)  # update by member
    both(lambda j: j["results"][0]["title"] == "patched" or fail(j))
    etag_before = request("GET", "/api/tasks/", token=tok).headers["etag"]
    request("DELETE", f"/api/tasks/{task['id']}/", token=tok)  # delete
    both(lambda j: j["count"] == 0 or fail(j))
    r = request("GET", "/api/tasks/", token=tok, headers={"If-None-Match": etag_before})
    assert r.status == 200  # the old ETag no longer matches
    make_task(mtok, rid)
    both(lambda j: j["count"] == 1 or fail(j))
    request("DELETE", f"/api/residences/{rid}/", token=tok)  # deleting the residence
    both(lambda j: j["count"] == 0 or fail(j))


def fail(j):
    raise AssertionError(f"stale list: {j}")


def test_other_users_caches_are_untouched_and_private():
    _, a, _ = register_user("pa")
    _, b, _ = register_user("pb")
    make_task(a, make_residence(a)["id"], title="a's task")
    request("GET", "/api/tasks/", token=a)
    request("GET", "/api/tasks/", token=b)
    assert request("GET", "/api/tasks/", token=b).json["count"] == 0
    assert request("GET", "/api/tasks/", token=a).json["results"][0]["title"] == "a's task"


def test_redis_down_serves_from_postgres_then_cache_resumes():
    _, tok, _ = register_user("rd")
    rid = make_residence(tok)["id"]
    make_task(tok, rid, title="before")
    request("GET", "/api/tasks/", token=tok)
    stack("redis-stop")
    try:
        r = request("GET", "/api/tasks/", token=tok)
        assert r.status == 200 and r.json["count"] == 1, r.text
        assert r.headers["x-cache"] == "miss"
        t = make_task(tok, rid, title="during")
        r = request("GET", "/api/tasks/", token=tok)
        assert r.status == 200 and r.json["count"] == 2
        assert request("PATCH", f"/api/tasks/{t['id']}/", {"title": "edited"}, token=tok).status == 200
        ready = request("GET", "/api/ready/")
        assert ready.status == 200 and ready.json["redis"] == "degraded"
    finally:
        stack("redis-start")
    # Each worker retries Redis after a short back-off; then hits resume.
    deadline = time.time() + 15
    hit = False
    while time.time() < deadline and not hit:
        r = request("GET", "/api/tasks/", token=tok)
        assert r.status == 200 and r.json["count"] == 2
        assert {t["title"] for t in r.json["results"]} == {"before", "edited"}
        hit = r.headers["x-cache"] == "hit"
        time.sleep(0.2)
    assert hit, "cache never used again after Redis came back"
    # Every worker reports Redis ok once its back-off (1 s) has run out.
    deadline = time.time() + 5
    states = []
    while time.time() < deadline:
        states = [request("GET", "/api/ready/").json["redis"] for _ in range(4)]
        if states == ["ok"] * 4:
            break
        time.sleep(0.3)
    assert states == ["ok"] * 4, states


def test_residence_list_is_cached_and_every_change_shows_at_once():
    # residences:user:<uid> (DESIGN §7): one test per write that changes it.
    owner, tok, _ = register_user("rc1")
    member, mtok, _ = register_user("rc2")

    def names(t, expect_cache=None):
        r = request("GET", "/api/residences/", token=t)
        assert r.status == 200 and r.headers["etag"], r.text
        if expect_cache:
            assert r.headers["x-cache"] == expect_cache, (expect_cache, r.headers["x-cache"])
        return sorted(x["name"] for x in r.json["results"])

    def warm():
        # Fill both users' entries; a worker still in its Redis back-off from
        # an earlier test's outage answers "miss" for a moment, so retry.
        for t in (tok, mtok):
            deadline = time.time() + 5
            while request("GET", "/api/residences/", token=t).headers["x-cache"] != "hit":
                assert time.time() < deadline, "the residence list never became a cache hit"
                time.sleep(0.05)

    warm()
    rid = make_residence(tok, name="Cabin")["id"]                       # create
    assert names(tok, "miss") == ["Cabin"] and names(mtok, "hit") == []
    code = request("POST", f"/api/residences/{rid}/share-code/", token=tok).json["code"]
    warm()
    assert request("POST", "/api/residences/join/", {"code": code}, token=mtok).status == 200  # join
    assert names(mtok, "miss") == ["Cabin"]
    warm()
    request("PATCH", f"/api/residences/{rid}/", {"name": "Chalet"}, token=tok)  # rename
    assert names(tok, "miss") == ["Chalet"] and names(mtok, "miss") == ["Chalet"]
    warm()
    assert request("POST", f"/api/residences/{rid}/leave/", token=mtok).status == 204  # leave
    assert names(mtok, "miss") == [] and names(tok, "miss") == ["Chalet"]
    code = request("POST", f"/api/residences/{rid}/share-code/", token=tok).json["code"]
    assert request("POST", "/api/residences/join/", {"code": code}, token=mtok).status == 200
    warm()
    assert request("DELETE", f"/api/residences/{rid}/users/{member['id']}/", token=tok).status == 204  # removal
    assert names(mtok, "miss") == []
    warm()
    etag = request("GET", "/api/residences/", token=tok).headers["etag"]
    assert request("GET", "/api/residences/", token=tok, headers={"If-None-Match": etag}).status == 304
    assert request("DELETE", f"/api/residences/{rid}/", token=tok).status == 204  # delete
    assert names(tok, "miss") == []


def test_redis_at_maxmemory_never_fails_a_request():
    # noeviction at its limit: every write to Redis is refused (OOM); then
    # allkeys-lru and volatile-lru with little room: writes evict. Requests
    # succeed and lists stay fresh every way; jobs Redis refused wait in the
    # Postgres outbox.
    from lib import redis_cli, psql
    owner, tok, pw = register_user("oom")
    _, mtok, _ = register_user("oomm")
    rid = make_residence(tok)["id"]
    from test_sharing import share, join
    assert join(mtok, share(tok, rid)["code"]).status == 200  # so creates enqueue notify jobs
    request("GET", "/api/tasks/", token=tok)
    used = int([l for l in redis_cli("INFO", "memory") if l.startswith("used_memory:")][0].split(":")[1])
    outbox = int(psql("SELECT count(*) FROM queue_outbox"))
    try:
        redis_cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis_cli("CONFIG", "SET", "maxmemory", "1")
        assert redis_cli("SET", "oom-probe", "x")[0].startswith("OOM")  # writes are refused
        for n in range(3):
            r = request("POST", "/api/tasks/", {"residence_id": rid, "title": f"oom {n}"}, token=tok)
            assert r.status == 201, r.text
            r = request("GET", "/api/tasks/", token=tok)
            assert r.status == 200 and r.json["count"] == n + 1, r.json
        assert request("POST", "/api/auth/login/", {"username": owner["username"], "password": pw}).status == 200
        # The three notify jobs Redis refused wait in the outbox, not lost.
        assert int(psql("SELECT count(*) FROM queue_outbox")) >= outbox + 3
        n = 3
        for policy in ("allkeys-lru", "volatile-lru"):  # the issue's, and the advice in docs/operations.md
            redis_cli("CONFIG", "SET", "maxmemory-policy", policy)
            redis_cli("CONFIG", "SET", "maxmemory", str(used + 256 * 1024))
            for _ in range(3):
                assert request("POST", "/api/tasks/", {"residence_id": rid, "title": f"lru {n}"},
                               token=tok).status == 201
                n += 1
                r = request("GET", "/api/tasks/", token=tok)
                assert r.status == 200 and r.json["count"] == n, (policy, r.json)
    finally:
        # Back to what tests/stack.sh configures.
        redis_cli("CONFIG", "SET", "maxmemory", "64mb")
        redis_cli("CONFIG", "SET", "maxmemory-policy", "volatile-lru")
