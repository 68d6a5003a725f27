"""Tasks: CRUD, validation, and cross-user isolation."""
from lib import request, register_user, assert_error
from test_residences import make_residence, add_member


def make_task(tok, residence_id, **fields):
    body = {"residence_id": residence_id, "title": "Clean the gutters"}
    body.update(fields)
    r = request("POST", "/api/tasks/", body, token=tok)
    assert r.status == 201, r.text
    return r.json


def test_create_task_with_every_field():
    user, tok, _ = register_user("t")
    res = make_residence(tok)
    t = make_task(tok, res["id"], title="Service the boiler", description="Annual check",
                  category="hvac", priority="high", due_date="2026-12-01", frequency="annually",
                  estimated_cost=120.5, archived=False)
    assert t["title"] == "Service the boiler" and t["priority"] == "high"
    assert t["due_date"] == "2026-12-01" and t["frequency"] == "annually"
    assert t["estimated_cost"] == 120.5 and t["archived"] is False
    assert t["residence_id"] == res["id"] and t["created_by_id"] == user["id"]
    got = request("GET", f"/api/tasks/{t['id']}/", token=tok)
    assert got.status == 200 and got.json == t


def test_defaults():
    _, tok, _ = register_user("td")
    t = make_task(tok, make_residence(tok)["id"])
    assert t["priority"] == "medium" and t["frequency"] == "once" and t["category"] == "general"
    assert t["due_date"] is None and t["estimated_cost"] is None and t["description"] == ""


def test_task_validation():
    _, tok, _ = register_user("tv")
    rid = make_residence(tok)["id"]
    cases = [
        ({"title": "x"}, "residence_id", "is required"),
        ({"residence_id": rid}, "title", "is required"),
        ({"residence_id": str(rid), "title": "x"}, "residence_id", "must be an integer"),
        ({"residence_id": rid, "title": "x", "priority": "whenever"}, "priority", "is not one of the allowed values"),
        ({"residence_id": rid, "title": "x", "due_date": "2026-02-30"}, "due_date", "must be a date as YYYY-MM-DD"),
        ({"residence_id": rid, "title": "x", "due_date": 20261201}, "due_date", "must be a string"),
        ({"residence_id": rid, "title": "x", "estimated_cost": -5}, "estimated_cost", "is out of range"),
        ({"residence_id": rid, "title": "x", "estimated_cost": 1.234}, "estimated_cost", "must have at most 2 decimal places"),
        ({"residence_id": rid, "title": "x", "archived": "yes"}, "archived", "must be true or false"),
        ({"residence_id": rid, "title": "x", "frequency": "custom"}, "custom_interval_days", "is required when frequency is custom"),
        ({"residence_id": rid, "title": "x" * 201}, "title", "is too long"),
    ]
    for body, field, msg in cases:
        r = request("POST", "/api/tasks/", body, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"].get(field) == msg, (body, r.json)
    assert request("GET", "/api/tasks/", token=tok).json["count"] == 0
    t = make_task(tok, rid, frequency="custom", custom_interval_days=10)
    assert t["custom_interval_days"] == 10


def test_patch_changes_only_given_fields():
    _, tok, _ = register_user("tp")
    t = make_task(tok, make_residence(tok)["id"], description="keep me", due_date="2026-12-01")
    r = request("PATCH", f"/api/tasks/{t['id']}/", {"title": "Renamed", "due_date": None, "archived": True}, token=tok)
    assert r.status == 200, r.text
    assert r.json["title"] == "Renamed" and r.json["due_date"] is None and r.json["archived"] is True
    assert r.json["description"] == "keep me" and r.json["updated_at"] >= t["updated_at"]
    r = request("PATCH", f"/api/tasks/{t['id']}/", {"residence_id": 1}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"residence_id": "cannot be changed"}
    r = request("PATCH", f"/api/tasks/{t['id']}/", {"frequency": "custom"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["frequency"] == "once"


def test_delete_task():
    _, tok, _ = register_user("tdel")
    t = make_task(tok, make_residence(tok)["id"])
    assert request("DELETE", f"/api/tasks/{t['id']}/", token=tok).status == 204
    assert_error(request("GET", f"/api/tasks/{t['id']}/", token=tok), 404, "not_found")
    assert_error(request("DELETE", f"/api/tasks/{t['id']}/", token=tok), 404, "not_found")


def test_list_contains_tasks_of_every_residence_of_the_user():
    _, tok, _ = register_user("tl")
    a, b = make_residence(tok, name="A")["id"], make_residence(tok, name="B")["id"]
    t1 = make_task(tok, a, due_date="2027-01-01")
    t2 = make_task(tok, b, due_date="2026-12-01")
    t3 = make_task(tok, a)
    r = request("GET", "/api/tasks/", token=tok)
    assert r.status == 200 and r.json["count"] == 3
    assert [t["id"] for t in r.json["results"]] == [t2["id"], t1["id"], t3["id"]]  # due date, nulls last


def test_strangers_cannot_see_touch_or_create_tasks():
    _, tok, _ = register_user("own")
    _, other, _ = register_user("str")
    rid = make_residence(tok)["id"]
    t = make_task(tok, rid)
    missing = t["id"] + 1000000
    for tid in (t["id"], missing):
        assert_error(request("GET", f"/api/tasks/{tid}/", token=other), 404, "not_found")
        assert_error(request("PATCH", f"/api/tasks/{tid}/", {"title": "pwned"}, token=other), 404, "not_found")
        assert_error(request("DELETE", f"/api/tasks/{tid}/", token=other), 404, "not_found")
    r = request("POST", "/api/tasks/", {"residence_id": rid, "title": "intruder"}, token=other)
    assert_error(r, 404, "not_found")
    assert request("GET", "/api/tasks/", token=other).json == {"count": 0, "results": []}
    got = request("GET", f"/api/tasks/{t['id']}/", token=tok).json
    assert got["title"] == "Clean the gutters"
    assert request("GET", "/api/tasks/", token=tok).json["count"] == 1


def test_members_share_tasks():
    _, tok, _ = register_user("sh1")
    member, mtok, _ = register_user("sh2")
    rid = make_residence(tok)["id"]
    add_member(rid, member["id"])
    t = make_task(mtok, rid, title="by member")
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["title"] == "by member"
    r = request("PATCH", f"/api/tasks/{t['id']}/", {"title": "by owner"}, token=tok)
    assert r.status == 200


def test_task_endpoints_need_a_token():
    for method, path in (("GET", "/api/tasks/"), ("POST", "/api/tasks/"), ("GET", "/api/tasks/1/"),
                         ("PATCH", "/api/tasks/1/"), ("DELETE", "/api/tasks/1/")):
        assert_error(request(method, path, {} if method in ("POST", "PATCH") else None), 401,
                     "not_authenticated")
