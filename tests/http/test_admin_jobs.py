"""The admin API's job queue: GET /api/admin/jobs/ (sizes, counters, and
the scheduled, running and dead jobs, never a payload), retrying and
discarding dead jobs one by id or all at once (the same operations as
`honeydue-worker jobs retry|delete`, whose tests are in test_jobs.py), each
an audit entry written before the operation, 404 for an id not in the dead
list, 422 for a bad body, 503 with Redis down. Jobs die fast in the test
stack: a noop job with "fatal" dies on its first attempt."""
import json
import os
import subprocess
import time

from lib import assert_error, psql, redis_cli, request, stack, unique
from test_admin import make_staff

BIN = os.path.join(os.environ["HD_BIN"], "honeydue-worker")
SECRET = "reset-code-424242"


def cli(*args):
    p = subprocess.run([BIN, "jobs", *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"honeydue-worker jobs {args}: {p.stdout}{p.stderr}"
    return p.stdout


def wait_for(fn, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def dead_docs():
    """The dead list as Redis holds it (whole documents), newest first."""
    return [json.loads(line) for line in redis_cli("LRANGE", "hd:dead", 0, -1) if line.strip()]


def dead_tagged(tag):
    """The dead jobs whose payload has TAG."""
    return [j for j in dead_docs() if isinstance(j, dict) and j.get("payload", {}).get("tag") == tag]


def make_dead(n=1, error="boom"):
    """N new dead noop jobs, their payloads holding SECRET; returns their
    ids, oldest first."""
    tag = unique("dead")
    for _ in range(n):
        assert cli("enqueue", "noop", json.dumps({"tag": tag, "fatal": error,
                                                  "code": SECRET})).strip() == "queued"
    jobs = wait_for(lambda: len(dead_tagged(tag)) == n and dead_tagged(tag), what="the dead jobs")
    return [j["id"] for j in reversed(jobs)]


def jobs_view(tok):
    r = request("GET", "/api/admin/jobs/", token=tok)
    assert r.status == 200, r.text
    assert SECRET not in r.text and "payload" not in r.text, r.text
    return r.json


def audit_rows(where):
    """admin_auditlog rows matching WHERE, oldest first: action, actor id,
    actor username, target type, target id, details, remote address."""
    out = psql("SELECT action, actor_id, actor_username, target_type, coalesce(target_id, '<null>'), "
               f"details::text, coalesce(remote_addr, '<null>') FROM admin_auditlog WHERE {where} "
               "ORDER BY id")
    return [tuple(line.split("|")) for line in out.splitlines()]


def post(tok, what, body, **kw):
    return request("POST", f"/api/admin/jobs/dead/{what}/", body, token=tok, **kw)


def test_the_view_lists_dead_jobs_with_counts_and_never_a_payload():
    _, tok = make_staff()
    [jid] = make_dead(error="boom " + SECRET[:5])
    v = jobs_view(tok)
    assert set(v) == {"queues", "scheduled", "running", "dead", "counters", "scheduled_jobs",
                      "running_jobs", "dead_jobs"}
    assert set(v["queues"]) == {"critical", "default", "low"}
    assert v["dead"] == int(redis_cli("LLEN", "hd:dead")[0]) >= 1
    assert v["counters"]["dead:noop"] >= 1
    assert v["counters"] == {k: int(x) for k, x in zip(*[iter(redis_cli("HGETALL", "hd:stats"))] * 2)}
    # Newest first: the job that just died leads.
    entry = v["dead_jobs"][0]
    assert entry["id"] == jid, v["dead_jobs"][:3]
    assert set(entry) == {"id", "type", "queue", "attempt", "max_attempts", "last_error", "failed_at"}
    assert (entry["type"], entry["queue"], entry["attempt"], entry["max_attempts"]) == \
        ("noop", "default", 1, 3)
    assert entry["last_error"] == "boom " + SECRET[:5]
    assert abs(entry["failed_at"] - time.time()) < 60
    assert len(v["dead_jobs"]) == min(v["dead"], 100)


def test_the_view_lists_scheduled_and_running_jobs():
    _, tok = make_staff()
    now = int(time.time())
    sid, rid = unique("sched"), unique("run")
    doc = {"type": "noop", "queue": "low", "payload": {"code": SECRET}, "max_attempts": 3,
           "timeout": 10, "enqueued_at": "2026-01-01T00:00:00Z", "unique_key": None}
    sched = json.dumps({**doc, "id": sid, "attempt": 1, "last_error": "try later",
                        "run_at": now + 3600})
    running = json.dumps({**doc, "id": rid, "attempt": 2, "run_at": None})
    # An hour away: the worker neither promotes the one nor recovers the other.
    redis_cli("ZADD", "hd:scheduled", now + 3600, sched)
    redis_cli("HSET", "hd:active", rid, running)
    redis_cli("ZADD", "hd:lease", now + 3600, rid)
    try:
        v = jobs_view(tok)
    finally:
        redis_cli("ZREM", "hd:scheduled", sched)
        redis_cli("HDEL", "hd:active", rid)
        redis_cli("ZREM", "hd:lease", rid)
    [s] = [j for j in v["scheduled_jobs"] if j["id"] == sid]
    assert s == {"id": sid, "type": "noop", "queue": "low", "attempt": 1, "max_attempts": 3,
                 "run_at": now + 3600, "last_error": "try later"}
    [r] = [j for j in v["running_jobs"] if j["id"] == rid]
    assert r == {"id": rid, "type": "noop", "queue": "low", "attempt": 2, "lease_until": now + 3600}
    assert v["scheduled"] >= 1 and v["running"] >= 1
    assert len(v["scheduled_jobs"]) <= 100 and len(v["running_jobs"]) <= 100
    after = jobs_view(tok)
    assert sid not in [j["id"] for j in after["scheduled_jobs"]]
    assert rid not in [j["id"] for j in after["running_jobs"]]


def test_retry_and_discard_one_dead_job_each_audited():
    staff, tok = make_staff()
    [jid, other] = make_dead(2)
    died = int(redis_cli("HGET", "hd:stats", "dead:noop")[0])
    r = post(tok, "retry", {"id": jid}, source="127.0.0.9")
    assert r.status == 200 and r.json == {"retried": 1}, r.text
    # It ran again from the start (and, fatal, died again at attempt 1).
    wait_for(lambda: int(redis_cli("HGET", "hd:stats", "dead:noop")[0]) == died + 1,
             what="the retried job to run again")
    [again] = [j for j in jobs_view(tok)["dead_jobs"] if j["id"] == jid]
    assert again["attempt"] == 1
    r = post(tok, "discard", {"id": jid})
    assert r.status == 200 and r.json == {"discarded": 1}, r.text
    ids = [j["id"] for j in jobs_view(tok)["dead_jobs"]]
    assert jid not in ids and other in ids  # only that one
    assert jid not in cli("dead", "0")
    # Gone now: 404, for either operation, and for an id never seen.
    assert_error(post(tok, "discard", {"id": jid}), 404, "not_found")
    assert_error(post(tok, "retry", {"id": jid}), 404, "not_found")
    assert_error(post(tok, "retry", {"id": "0" * 32}), 404, "not_found")
    assert_error(post(tok, "discard", {"id": "all"}), 404, "not_found")  # an id, not "all"
    assert other in [j["id"] for j in jobs_view(tok)["dead_jobs"]]
    u = str(staff["id"])
    assert audit_rows(f"target_id = '{jid}'") == [
        ("job.retry", u, staff["username"], "job", jid, '{"type": "noop"}', "127.0.0.9"),
        ("job.discard", u, staff["username"], "job", jid, '{"type": "noop"}', "127.0.0.1")]
    post(tok, "discard", {"id": other})


def test_retry_and_discard_all_each_audited_with_the_count():
    staff, tok = make_staff()
    post(tok, "discard", {"all": True})  # start from an empty dead list
    assert jobs_view(tok)["dead"] == 0
    first = psql("SELECT coalesce(max(id), 0) FROM admin_auditlog")
    # Nothing to do: nothing done, nothing recorded.
    assert post(tok, "retry", {"all": True}).json == {"retried": 0}
    assert post(tok, "discard", {"all": True}).json == {"discarded": 0}
    assert audit_rows(f"id > {first}") == []
    ids = make_dead(2)
    died = int(redis_cli("HGET", "hd:stats", "dead:noop")[0])
    r = post(tok, "retry", {"all": True})
    assert r.status == 200 and r.json == {"retried": 2}, r.text
    wait_for(lambda: int(redis_cli("HGET", "hd:stats", "dead:noop")[0]) == died + 2,
             what="both retried jobs to run again")
    assert sorted(j["id"] for j in jobs_view(tok)["dead_jobs"]) == sorted(ids)
    r = post(tok, "discard", {"all": True})
    assert r.status == 200 and r.json == {"discarded": 2}, r.text
    v = jobs_view(tok)
    assert v["dead"] == 0 and v["dead_jobs"] == []
    assert cli("dead", "0").strip() == ""
    u = str(staff["id"])
    assert audit_rows(f"id > {first}") == [
        ("jobs.retry_all", u, staff["username"], "jobs", "<null>", '{"count": 2}', "127.0.0.1"),
        ("jobs.discard_all", u, staff["username"], "jobs", "<null>", '{"count": 2}', "127.0.0.1")]


def test_the_cli_and_the_api_act_on_the_same_dead_list():
    _, tok = make_staff()
    [a, b] = make_dead(2)
    # What the API lists, the CLI retries and deletes; and the other way.
    assert cli("delete", a).strip() == "1"
    assert a not in [j["id"] for j in jobs_view(tok)["dead_jobs"]]
    assert_error(post(tok, "discard", {"id": a}), 404, "not_found")
    assert post(tok, "discard", {"id": b}).json == {"discarded": 1}
    assert cli("delete", b).strip() == "0"


def test_bad_bodies_are_422_and_do_nothing():
    _, tok = make_staff()
    [jid] = make_dead()
    before = psql("SELECT count(*) FROM admin_auditlog")
    cases = [
        ({}, {"id": "is required (or all: true)"}),
        ({"ids": [jid]}, {"id": "is required (or all: true)"}),
        ({"id": 5}, {"id": "must be a job id"}),
        ({"id": None}, {"id": "must be a job id"}),
        ({"id": ""}, {"id": "must be a job id"}),
        ({"id": "x" * 65}, {"id": "must be a job id"}),
        ({"id": "a b"}, {"id": "must be a job id"}),
        ({"id": [jid]}, {"id": "must be a job id"}),
        ({"all": False}, {"all": "must be true"}),
        ({"all": "true"}, {"all": "must be true"}),
        ({"all": 1}, {"all": "must be true"}),
        ({"id": jid, "all": True}, {"all": "give either id or all, not both"}),
    ]
    for what in ("retry", "discard"):
        for body, fields in cases:
            r = post(tok, what, body)
            assert_error(r, 422, "validation_failed")
            assert r.json["error"]["fields"] == fields, (what, body, r.json)
        assert_error(post(tok, what, None, raw="{", headers={"Content-Type": "application/json"}),
                     400, "malformed_json")
        assert_error(post(tok, what, None, raw='{"all": true}',
                          headers={"Content-Type": "text/plain"}), 415)
    assert jid in [j["id"] for j in jobs_view(tok)["dead_jobs"]]
    assert psql("SELECT count(*) FROM admin_auditlog") == before
    # Unknown fields next to a good one are ignored.
    assert post(tok, "discard", {"id": jid, "note": "x"}).json == {"discarded": 1}


def test_redis_down_is_503_and_records_nothing():
    _, tok = make_staff()
    [jid] = make_dead()
    before = psql("SELECT count(*) FROM admin_auditlog")
    stack("redis-stop")
    try:
        assert_error(request("GET", "/api/admin/jobs/", token=tok), 503, "service_unavailable")
        assert_error(post(tok, "retry", {"id": jid}), 503, "service_unavailable")
        assert_error(post(tok, "discard", {"all": True}), 503, "service_unavailable")
    finally:
        stack("redis-start")
        time.sleep(1.5)  # let every worker's 1 s Redis back-off run out before the next test
    assert psql("SELECT count(*) FROM admin_auditlog") == before
    jobs_view(tok)  # answers again


def test_postgres_down_leaves_the_dead_list_alone():
    # The audit entry is written before the operation: without Postgres
    # there is no entry, so nothing is done.
    _, tok = make_staff()
    [jid] = make_dead()
    assert request("GET", "/api/admin/jobs/", token=tok).status == 200  # the token is cached now
    stack("pg-stop")
    try:
        assert_error(post(tok, "retry", {"id": jid}), 503, "service_unavailable")
        assert_error(post(tok, "discard", {"all": True}), 503, "service_unavailable")
        dead = [j["id"] for j in dead_docs()]
    finally:
        stack("pg-start")
        stack("fcgi-restart", os.environ["HD_BIN"])
    assert jid in dead
    assert post(tok, "discard", {"id": jid}).json == {"discarded": 1}
