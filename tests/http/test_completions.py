"""Completing tasks: recurrence, month-end clamping, the two schedule anchors,
history, undoing the latest completion, and cache freshness for members."""
import datetime

from lib import request, register_user, assert_error, psql
from test_residences import make_residence, add_member
from test_tasks import make_task


def complete(tok, tid, body=None):
    return request("POST", f"/api/tasks/{tid}/complete/", body if body is not None else {}, token=tok)


def test_recurring_task_moves_to_its_next_due_date():
    _, tok, _ = register_user("rec")
    rid = make_residence(tok)["id"]
    cases = [("daily", "2026-03-10", "2026-03-11"), ("weekly", "2026-03-10", "2026-03-17"),
             ("biweekly", "2026-03-10", "2026-03-24"), ("monthly", "2026-01-31", "2026-02-28"),
             ("monthly", "2028-01-31", "2028-02-29"), ("quarterly", "2026-11-30", "2027-02-28"),
             ("semiannually", "2026-08-31", "2027-02-28"), ("annually", "2028-02-29", "2029-02-28")]
    for freq, due, nxt in cases:
        t = make_task(tok, rid, frequency=freq, due_date=due)
        r = complete(tok, t["id"])
        assert r.status == 201, r.text
        assert r.json["task"]["due_date"] == nxt, (freq, due, r.json["task"]["due_date"])
        assert r.json["task"]["completed"] is False
        assert r.json["completion"]["previous_due_date"] == due
    t = make_task(tok, rid, frequency="custom", custom_interval_days=10, due_date="2026-12-25")
    assert complete(tok, t["id"]).json["task"]["due_date"] == "2027-01-04"


def test_completion_anchor_counts_from_today_in_the_residence_time_zone():
    _, tok, _ = register_user("anc")
    rid = make_residence(tok, time_zone="Pacific/Kiritimati")["id"]  # UTC+14
    today = psql("SELECT (now() AT TIME ZONE 'Pacific/Kiritimati')::date")
    t = make_task(tok, rid, frequency="weekly", due_date="2020-01-01", schedule_anchor="completion")
    r = complete(tok, t["id"])
    expect = (datetime.date.fromisoformat(today) + datetime.timedelta(days=7)).isoformat()
    assert r.json["task"]["due_date"] == expect


def test_one_off_task_becomes_completed_and_cannot_be_completed_twice():
    _, tok, _ = register_user("once")
    t = make_task(tok, make_residence(tok)["id"], due_date="2026-12-01")
    r = complete(tok, t["id"], {"notes": "done", "actual_cost": 42.5, "rating": 5})
    assert r.status == 201
    c = r.json["completion"]
    assert c["notes"] == "done" and c["actual_cost"] == 42.5 and c["rating"] == 5
    assert r.json["task"]["completed"] is True and r.json["task"]["due_date"] == "2026-12-01"
    assert_error(complete(tok, t["id"]), 409, "conflict")
    archived = make_task(tok, t["residence_id"], archived=True)
    assert_error(complete(tok, archived["id"]), 409, "conflict")


def test_completion_validation():
    _, tok, _ = register_user("cv")
    t = make_task(tok, make_residence(tok)["id"], frequency="daily")
    for body, field in (({"rating": 6}, "rating"), ({"rating": "5"}, "rating"),
                        ({"actual_cost": -1}, "actual_cost"), ({"notes": 5}, "notes")):
        r = complete(tok, t["id"], body)
        assert_error(r, 422, "validation_failed")
        assert field in r.json["error"]["fields"]
    r = request("POST", f"/api/tasks/{t['id']}/complete/", raw=b"{bad", token=tok,
                headers={"Content-Type": "application/json"})
    assert_error(r, 400, "malformed_json")
    assert request("GET", f"/api/tasks/{t['id']}/completions/", token=tok).json["count"] == 0
    # no body at all is a plain "done"
    assert request("POST", f"/api/tasks/{t['id']}/complete/", token=tok).status == 201


def test_history_and_undoing_the_latest_completion():
    _, tok, _ = register_user("hist")
    t = make_task(tok, make_residence(tok)["id"], frequency="monthly", due_date="2026-01-15")
    c1 = complete(tok, t["id"]).json["completion"]
    c2 = complete(tok, t["id"]).json["completion"]
    h = request("GET", f"/api/tasks/{t['id']}/completions/", token=tok).json
    assert h["count"] == 2 and [c["id"] for c in h["results"]] == [c2["id"], c1["id"]]
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["due_date"] == "2026-03-15"
    # deleting an older completion keeps the schedule
    assert request("DELETE", f"/api/tasks/{t['id']}/completions/{c1['id']}/", token=tok).status == 204
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["due_date"] == "2026-03-15"
    # deleting the latest restores the due date it had before
    assert request("DELETE", f"/api/tasks/{t['id']}/completions/{c2['id']}/", token=tok).status == 204
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["due_date"] == "2026-02-15"
    assert_error(request("DELETE", f"/api/tasks/{t['id']}/completions/{c2['id']}/", token=tok), 404, "not_found")


def test_undoing_a_one_off_completion_reopens_it():
    _, tok, _ = register_user("reopen")
    t = make_task(tok, make_residence(tok)["id"])
    c = complete(tok, t["id"]).json["completion"]
    assert request("DELETE", f"/api/tasks/{t['id']}/completions/{c['id']}/", token=tok).status == 204
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["completed"] is False


def test_completing_refreshes_every_members_cached_list():
    _, tok, _ = register_user("cc1")
    member, mtok, _ = register_user("cc2")
    rid = make_residence(tok)["id"]
    add_member(rid, member["id"])
    t = make_task(tok, rid, frequency="weekly", due_date="2026-05-01")
    for k in (tok, mtok):
        request("GET", "/api/tasks/", token=k)
    complete(mtok, t["id"])
    for k in (tok, mtok):
        assert request("GET", "/api/tasks/", token=k).json["results"][0]["due_date"] == "2026-05-08"


def test_strangers_get_404_and_anonymous_401():
    _, tok, _ = register_user("cs1")
    _, other, _ = register_user("cs2")
    t = make_task(tok, make_residence(tok)["id"], frequency="daily")
    c = complete(tok, t["id"]).json["completion"]
    for method, path in (("POST", f"/api/tasks/{t['id']}/complete/"),
                         ("GET", f"/api/tasks/{t['id']}/completions/"),
                         ("DELETE", f"/api/tasks/{t['id']}/completions/{c['id']}/")):
        assert_error(request(method, path, token=other), 404, "not_found")
        assert_error(request(method, path), 401, "not_authenticated")
    # a completion id under someone else's task id does not resolve either
    t2 = make_task(other, make_residence(other)["id"])
    assert_error(request("DELETE", f"/api/tasks/{t2['id']}/completions/{c['id']}/", token=other), 404, "not_found")
    assert request("GET", f"/api/tasks/{t['id']}/completions/", token=tok).json["count"] == 1
