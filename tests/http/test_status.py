"""The pool's scoreboard: GET /api/internal/status/ and the pool's lines in
/metrics; a request stuck past HONEYDUE_REQUEST_TIMEOUT kills its worker
and is logged like php-fpm's slow log; HONEYDUE_MAX_MEMORY recycles a
worker; a burst of crashes reloads the pool."""
import json
import os
import signal
import subprocess
import threading
import time

from lib import register_user, request
from test_process import Pool


def test_status_page_shows_every_worker_and_the_request_being_served():
    r = request("GET", "/api/internal/status/")
    assert r.status == 200, r.text
    pool, workers = r.json["pool"], r.json["workers"]
    want = int(os.environ.get("HONEYDUE_WORKERS", "2"))
    assert pool["workers"] == want == pool["workers_wanted"] == len(workers)
    assert pool["busy"] >= 1 and pool["busy"] + pool["idle"] + pool["starting"] == pool["workers"]
    me = [w for w in workers if w["request"] and w["request"]["route"] == "/api/internal/status/"]
    assert len(me) == 1 and me[0]["request"]["request_id"] == r.headers["x-request-id"]
    assert me[0]["state"] == "busy" and me[0]["rss_kb"] > 0 and me[0]["pid"] > 0
    before = pool["requests"]
    for _ in range(5):
        request("GET", "/api/health/")
    assert request("GET", "/api/internal/status/").json["pool"]["requests"] >= before + 5
    # Loopback only, like /metrics.
    assert request("GET", "/api/internal/status/", source="127.0.0.2", validate=False).status == 403


def test_metrics_carry_the_pool():
    text = request("GET", "/metrics").text
    for name in ("honeydue_workers{state=\"busy\"}", "honeydue_workers{state=\"idle\"}",
                 "honeydue_worker_restarts_total", "honeydue_slow_requests_killed_total",
                 "honeydue_worker_requests", "honeydue_workers_max_active",
                 "honeydue_listen_queue", "honeydue_listen_queue_max", "honeydue_listen_queue_length"):
        assert any(line.startswith(name + " ") for line in text.splitlines()), (name, text)


def lock_table(seconds):
    return subprocess.Popen(
        ["psql", "-X", "-q", "-h", os.environ["DB_HOST"], "-p", os.environ["DB_PORT"], "-U",
         os.environ["DB_USER"], "-d", os.environ["DB_NAME"], "-c",
         f"BEGIN; LOCK TABLE task_task IN EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_the_listen_queue_is_measured_and_its_maximum_kept():
    _, tok, _ = register_user("queue")
    rid = request("POST", "/api/residences/", {"name": "Queue house"}, token=tok).json["id"]
    pool = Pool(workers=1)
    try:
        status, idle = pool.call("GET", "/api/internal/status/")
        assert status == 200 and idle["pool"]["listen_queue"] == 0, idle
        assert idle["pool"]["max_listen_queue"] == 0 and idle["pool"]["listen_queue_len"] > 0
        # The one worker is held by a locked table; three more connections
        # wait in the accept queue while the master samples it.
        locker = lock_table(2.5)
        time.sleep(0.3)
        results = []
        calls = [threading.Thread(target=lambda: results.append(
            pool.call("POST", "/api/tasks/", {"residence_id": rid, "title": "held"}, token=tok)[0]))]
        calls += [threading.Thread(target=lambda: results.append(pool.call("GET", "/api/health/")[0]))
                  for _ in range(3)]
        for t in calls:
            t.start()
            time.sleep(0.1)
        for t in calls:
            t.join(timeout=20)
        locker.wait(timeout=10)
        assert sorted(results) == [200, 200, 200, 201], results
        status, after = pool.call("GET", "/api/internal/status/")
        assert status == 200 and after["pool"]["listen_queue"] == 0, after
        assert after["pool"]["max_listen_queue"] == 3, after["pool"]
    finally:
        pool.stop()


def test_a_request_stuck_past_the_timeout_kills_its_worker_and_is_logged():
    _, tok, _ = register_user("slow")
    rid = request("POST", "/api/residences/", {"name": "Slow house"}, token=tok).json["id"]
    pool = Pool(workers=1, HONEYDUE_REQUEST_TIMEOUT="1", DB_STATEMENT_TIMEOUT="10000")
    try:
        first = pool.workers()
        locker = lock_table(4)
        time.sleep(0.3)
        t0 = time.time()
        status, _ = pool.call("POST", "/api/tasks/", {"residence_id": rid, "title": "stuck"}, token=tok)
        assert status == 0 and time.time() - t0 < 3.5  # the worker was killed mid-request
        locker.wait(timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and (pool.workers() == first or not pool.workers()):
            time.sleep(0.1)
        assert pool.workers() and pool.workers() != first  # replaced
        slow = [json.loads(line) for line in pool.text().splitlines() if '"event":"slow"' in line]
        assert len(slow) == 1, pool.text()
        assert slow[0]["method"] == "POST" and slow[0]["route"] == "/api/tasks/"
        assert slow[0]["path"] == "/api/tasks/" and slow[0]["dur_ms"] >= 1000
        assert slow[0]["request_id"] == "test" and slow[0]["worker"] == first[0]
        # The new worker serves.
        deadline = time.time() + 10
        while time.time() < deadline and pool.call("GET", "/api/health/")[0] != 200:
            time.sleep(0.1)
        assert pool.call("GET", "/api/health/")[0] == 200
    finally:
        pool.stop()


def test_max_memory_recycles_a_worker_after_its_request():
    pool = Pool(workers=1, HONEYDUE_MAX_MEMORY="1")  # 1 MB: every worker is over it
    try:
        first = pool.workers()
        assert pool.call("GET", "/api/health/")[0] == 200  # served, then recycled
        deadline = time.time() + 10
        while time.time() < deadline and (pool.workers() == first or not pool.workers()):
            time.sleep(0.1)
        assert pool.workers() and pool.workers() != first
        assert "over HONEYDUE_MAX_MEMORY; recycling" in pool.text()
        assert pool.call("GET", "/api/health/")[0] == 200
    finally:
        pool.stop()


def test_a_burst_of_crashes_reloads_the_pool():
    pool = Pool(workers=2, HONEYDUE_EMERGENCY_THRESHOLD="3", HONEYDUE_EMERGENCY_INTERVAL="60")
    try:
        for _ in range(3):
            victims = pool.workers()
            os.kill(victims[0], signal.SIGKILL)
            deadline = time.time() + 10
            while time.time() < deadline and victims[0] in pool.workers():
                time.sleep(0.05)
            time.sleep(1.2)  # live past a second, so the respawn is not backed off
        deadline = time.time() + 10
        while time.time() < deadline and "EMERGENCY" not in pool.text():
            time.sleep(0.1)
        assert "EMERGENCY: 3 workers died unexpectedly" in pool.text(), pool.text()
        deadline = time.time() + 10
        while time.time() < deadline and "reloaded: 2 workers in generation 1" not in pool.text():
            time.sleep(0.1)
        assert "reloaded: 2 workers in generation 1" in pool.text()
        assert pool.call("GET", "/api/health/")[0] == 200
    finally:
        pool.stop()


def scrape():
    out = {}
    for line in request("GET", "/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_count_requests_by_route_and_status_with_a_latency_histogram():
    ok = 'honeydue_requests_total{route="/api/health/",method="GET",code="2xx"}'
    none = 'honeydue_requests_total{route="none",method="any",code="4xx"}'
    hist = 'honeydue_request_duration_seconds_bucket{route="/api/health/",method="GET",le="+Inf"}'
    count = 'honeydue_request_duration_seconds_count{route="/api/health/",method="GET"}'
    before = scrape()
    for _ in range(7):
        assert request("GET", "/api/health/").status == 200
    assert request("GET", "/api/nope/", validate=False).status == 404
    _, tok, _ = register_user("mt")
    request("GET", "/api/tasks/", token=tok)
    request("GET", "/api/tasks/", token=tok)  # a hit
    after = scrape()
    assert after[ok] - before.get(ok, 0) == 7
    assert after[none] - before.get(none, 0) >= 1
    assert after[hist] == after[count] and after[count] - before.get(count, 0) == 7
    assert after['honeydue_cache_requests_total{result="hit"}'] > before.get(
        'honeydue_cache_requests_total{result="hit"}', 0)
    sum_key = 'honeydue_request_duration_seconds_sum{route="/api/health/",method="GET"}'
    assert after[sum_key] > before.get(sum_key, 0)
    # Buckets are cumulative.
    buckets = sorted((float(k.split('le="')[1].rstrip('"}')) if '+Inf' not in k else float("inf"), v)
                     for k, v in after.items()
                     if k.startswith('honeydue_request_duration_seconds_bucket{route="/api/health/"'))
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
