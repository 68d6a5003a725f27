"""Idempotency-Key on POST /api/tasks/ and POST /api/tasks/{id}/complete/:
a retry gets the first answer and never makes a second task or completion."""
import threading

from lib import request, register_user, assert_error, psql, unique
from test_residences import make_residence


def post_task(tok, rid, key, title="retried"):
    return request("POST", "/api/tasks/", {"residence_id": rid, "title": title}, token=tok,
                   headers={"Idempotency-Key": key})


def test_retried_create_returns_the_first_task():
    _, tok, _ = register_user("idem")
    rid = make_residence(tok)["id"]
    key = unique("k")
    first = post_task(tok, rid, key)
    assert first.status == 201
    again = post_task(tok, rid, key, title="ignored on replay")
    assert again.status == 201 and again.json == first.json
    assert again.headers["idempotent-replayed"] == "true"
    assert request("GET", "/api/tasks/", token=tok).json["count"] == 1
    other = post_task(tok, rid, unique("k"))
    assert other.status == 201 and other.json["id"] != first.json["id"]


def test_racing_retries_create_one_task():
    _, tok, _ = register_user("race")
    rid = make_residence(tok)["id"]
    key = unique("k")
    results = []
    threads = [threading.Thread(target=lambda: results.append(post_task(tok, rid, key))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == 201 for r in results), [r.status for r in results]
    assert len({r.json["id"] for r in results}) == 1
    assert request("GET", "/api/tasks/", token=tok).json["count"] == 1


def test_retried_completion_records_one_completion():
    _, tok, _ = register_user("idc")
    rid = make_residence(tok)["id"]
    t = request("POST", "/api/tasks/", {"residence_id": rid, "title": "w", "frequency": "weekly",
                                         "due_date": "2026-06-01"}, token=tok).json
    key = unique("k")
    h = {"Idempotency-Key": key}
    first = request("POST", f"/api/tasks/{t['id']}/complete/", {"notes": "x"}, token=tok, headers=h)
    again = request("POST", f"/api/tasks/{t['id']}/complete/", {"notes": "x"}, token=tok, headers=h)
    assert first.status == 201 and again.status == 201 and again.json == first.json
    assert request("GET", f"/api/tasks/{t['id']}/completions/", token=tok).json["count"] == 1
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["due_date"] == "2026-06-08"


def test_keys_are_per_user_and_per_request():
    _, a, _ = register_user("ka")
    _, b, _ = register_user("kb")
    ra, rb = make_residence(a)["id"], make_residence(b)["id"]
    key = unique("shared")
    assert post_task(a, ra, key).status == 201
    rb_task = post_task(b, rb, key)  # another user's identical key is independent
    assert rb_task.status == 201 and rb_task.json["residence_id"] == rb
    t = request("GET", "/api/tasks/", token=a).json["results"][0]
    r = request("POST", f"/api/tasks/{t['id']}/complete/", token=a, headers={"Idempotency-Key": key})
    assert_error(r, 422, "validation_failed")  # same key, different request
    assert request("GET", f"/api/tasks/{t['id']}/completions/", token=a).json["count"] == 0


def test_expired_key_can_be_used_again_and_bad_keys_are_refused():
    user, tok, _ = register_user("kexp")
    rid = make_residence(tok)["id"]
    key = unique("k")
    first = post_task(tok, rid, key)
    psql(f"UPDATE api_idempotencykey SET created_at = now() - interval '25 hours' WHERE user_id = {user['id']}")
    second = post_task(tok, rid, key)
    assert second.status == 201 and second.json["id"] != first.json["id"]
    assert_error(post_task(tok, rid, "x" * 256), 422, "validation_failed")
    assert_error(post_task(tok, rid, "has space"), 422, "validation_failed")
    assert request("GET", "/api/tasks/", token=tok).json["count"] == 2


def test_failed_request_does_not_burn_the_key():
    _, tok, _ = register_user("kfail")
    rid = make_residence(tok)["id"]
    key = unique("k")
    bad = request("POST", "/api/tasks/", {"residence_id": rid}, token=tok, headers={"Idempotency-Key": key})
    assert_error(bad, 422, "validation_failed")
    assert post_task(tok, rid, key).status == 201
