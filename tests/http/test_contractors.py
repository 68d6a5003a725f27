"""Contractors: CRUD per residence for every member, validation (email,
website, specialties), the list's order and filter, the completions each
contractor did, and that nobody else learns they exist."""
from lib import assert_error, psql, register_user, request
from test_residences import add_member, make_residence
from test_tasks import make_task


def make_contractor(tok, residence_id, **fields):
    body = {"residence_id": residence_id, "name": "Pat Plumber"}
    body.update(fields)
    r = request("POST", "/api/contractors/", body, token=tok)
    assert r.status == 201, r.text
    return r.json


def complete(tok, task_id):
    r = request("POST", f"/api/tasks/{task_id}/complete/", token=tok)
    assert r.status == 201, r.text
    return r.json["completion"]


KEYS = {"id", "residence_id", "created_by_id", "name", "company", "phone", "email", "website",
        "specialties", "notes", "is_favorite", "created_at", "updated_at"}


def test_create_and_read_contractor_with_every_field():
    user, tok, _ = register_user("c")
    rid = make_residence(tok)["id"]
    c = make_contractor(tok, rid, name="Ana Sparks", company="Sparks & Co", phone="+1 555 0100",
                        email="ana@sparks.example", website="https://sparks.example/contact?x=1",
                        specialties=["electrical", "handyman"], notes="Ask for Ana",
                        is_favorite=True)
    assert set(c) == KEYS
    assert c["residence_id"] == rid and c["created_by_id"] == user["id"]
    assert c["name"] == "Ana Sparks" and c["company"] == "Sparks & Co" and c["phone"] == "+1 555 0100"
    assert c["email"] == "ana@sparks.example" and c["website"] == "https://sparks.example/contact?x=1"
    assert c["specialties"] == ["electrical", "handyman"] and c["notes"] == "Ask for Ana"
    assert c["is_favorite"] is True and c["created_at"].endswith("+00:00")
    got = request("GET", f"/api/contractors/{c['id']}/", token=tok)
    assert got.status == 200 and got.json == c
    lst = request("GET", "/api/contractors/", token=tok)
    assert lst.status == 200 and lst.json == {"count": 1, "results": [c]}


def test_defaults():
    _, tok, _ = register_user("cd")
    c = make_contractor(tok, make_residence(tok)["id"])
    assert c["company"] == "" and c["phone"] == "" and c["notes"] == ""
    assert c["email"] is None and c["website"] is None
    assert c["specialties"] == [] and c["is_favorite"] is False


def test_specialties_are_the_static_data_lookup():
    _, tok, _ = register_user("cs")
    rid = make_residence(tok)["id"]
    lookup = [s["id"] for s in request("GET", "/api/static-data/").json["contractor_specialties"]]
    assert len(lookup) > 5
    c = make_contractor(tok, rid, specialties=lookup)
    assert c["specialties"] == lookup


def test_contractor_validation():
    _, tok, _ = register_user("cv")
    rid = make_residence(tok)["id"]
    cases = [
        ({"name": "x"}, "residence_id", "is required"),
        ({"residence_id": rid}, "name", "is required"),
        ({"residence_id": rid, "name": ""}, "name", "may not be blank"),
        ({"residence_id": rid, "name": "x" * 201}, "name", "is too long"),
        ({"residence_id": str(rid), "name": "x"}, "residence_id", "must be an integer"),
        ({"residence_id": rid, "name": "x", "email": "not-an-email"}, "email", "must be a valid email address"),
        ({"residence_id": rid, "name": "x", "email": "a@b"}, "email", "must be a valid email address"),
        ({"residence_id": rid, "name": "x", "email": ""}, "email", "must be a valid email address"),
        ({"residence_id": rid, "name": "x", "website": "sparks.example"}, "website", "must be an http or https URL"),
        ({"residence_id": rid, "name": "x", "website": "javascript:alert(1)"}, "website", "must be an http or https URL"),
        ({"residence_id": rid, "name": "x", "website": "https://user:pw@evil.example/"}, "website",
         "must be an http or https URL"),
        ({"residence_id": rid, "name": "x", "website": "https://a.example/ b"}, "website", "must be an http or https URL"),
        ({"residence_id": rid, "name": "x", "website": "https://a.example/" + "x" * 500}, "website", "is too long"),
        ({"residence_id": rid, "name": "x", "specialties": "hvac"}, "specialties", "must be a list"),
        ({"residence_id": rid, "name": "x", "specialties": ["hvac", "astrology"]}, "specialties",
         "must be a list of allowed values"),
        ({"residence_id": rid, "name": "x", "specialties": [1]}, "specialties", "must be a list of allowed values"),
        ({"residence_id": rid, "name": "x", "specialties": ["hvac", "hvac"]}, "specialties", "may not repeat a value"),
        ({"residence_id": rid, "name": "x", "is_favorite": "yes"}, "is_favorite", "must be true or false"),
        ({"residence_id": rid, "name": "x", "phone": "1" * 51}, "phone", "is too long"),
        ({"residence_id": rid, "name": "x", "notes": None}, "notes", "may not be null"),
    ]
    for body, field, msg in cases:
        r = request("POST", "/api/contractors/", body, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"].get(field) == msg, (body, r.json)
    assert_error(request("POST", "/api/contractors/", raw="{nope", token=tok,
                         headers={"Content-Type": "application/json"}), 400, "malformed_json")
    assert_error(request("POST", "/api/contractors/", raw="name=x", token=tok,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert request("GET", "/api/contractors/", token=tok).json["count"] == 0


def test_list_is_favourites_first_then_name_and_filters_by_residence():
    _, tok, _ = register_user("cl")
    a, b = make_residence(tok, name="A")["id"], make_residence(tok, name="B")["id"]
    zed = make_contractor(tok, a, name="zed")
    bob = make_contractor(tok, b, name="Bob")
    fav = make_contractor(tok, a, name="Yan", is_favorite=True)
    amy = make_contractor(tok, a, name="amy")
    r = request("GET", "/api/contractors/", token=tok)
    assert r.status == 200 and r.json["count"] == 4
    assert [c["id"] for c in r.json["results"]] == [fav["id"], amy["id"], bob["id"], zed["id"]]
    r = request("GET", f"/api/contractors/?residence={a}", token=tok)
    assert [c["id"] for c in r.json["results"]] == [fav["id"], amy["id"], zed["id"]]
    r = request("GET", f"/api/contractors/?residence={b}", token=tok)
    assert r.json == {"count": 1, "results": [bob]}
    for bad in ("x", "0", "-1", "1.5", ""):
        r = request("GET", f"/api/contractors/?residence={bad}", token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {"residence": "must be an id"}


def test_patch_changes_only_given_fields():
    _, tok, _ = register_user("cp")
    rid = make_residence(tok)["id"]
    c = make_contractor(tok, rid, company="Keep", email="old@example.com", specialties=["hvac"])
    r = request("PATCH", f"/api/contractors/{c['id']}/",
                {"name": "Renamed", "email": None, "specialties": ["roofing", "other"], "is_favorite": True},
                token=tok)
    assert r.status == 200, r.text
    assert r.json["name"] == "Renamed" and r.json["email"] is None and r.json["company"] == "Keep"
    assert r.json["specialties"] == ["roofing", "other"] and r.json["is_favorite"] is True
    assert r.json["updated_at"] > c["updated_at"] and r.json["created_at"] == c["created_at"]
    r = request("PATCH", f"/api/contractors/{c['id']}/", {"residence_id": rid}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"residence_id": "cannot be changed"}
    r = request("PATCH", f"/api/contractors/{c['id']}/", {"website": "ftp://x.example"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"website": "must be an http or https URL"}
    assert_error(request("PATCH", f"/api/contractors/{c['id']}/", raw="[]", token=tok,
                         headers={"Content-Type": "application/json"}), 400, "malformed_json")
    assert request("GET", f"/api/contractors/{c['id']}/", token=tok).json["name"] == "Renamed"


def test_every_member_manages_the_residences_contractors():
    _, owner_tok, _ = register_user("co")
    member, member_tok, _ = register_user("cm")
    rid = make_residence(owner_tok)["id"]
    add_member(rid, member["id"])
    c = make_contractor(member_tok, rid, name="By member")
    assert c["created_by_id"] == member["id"]
    assert request("GET", f"/api/contractors/{c['id']}/", token=owner_tok).json == c
    r = request("PATCH", f"/api/contractors/{c['id']}/", {"notes": "owner edit"}, token=owner_tok)
    assert r.status == 200 and r.json["notes"] == "owner edit"
    assert request("GET", "/api/contractors/", token=member_tok).json["count"] == 1
    assert request("DELETE", f"/api/contractors/{c['id']}/", token=member_tok).status == 204
    assert_error(request("GET", f"/api/contractors/{c['id']}/", token=owner_tok), 404, "not_found")


def test_delete_contractor():
    _, tok, _ = register_user("cdel")
    c = make_contractor(tok, make_residence(tok)["id"])
    r = request("DELETE", f"/api/contractors/{c['id']}/", token=tok)
    assert r.status == 204 and r.body == b""
    assert_error(request("GET", f"/api/contractors/{c['id']}/", token=tok), 404, "not_found")
    assert_error(request("DELETE", f"/api/contractors/{c['id']}/", token=tok), 404, "not_found")
    assert request("GET", "/api/contractors/", token=tok).json == {"count": 0, "results": []}


def test_completions_the_contractor_did_newest_first():
    _, tok, _ = register_user("cc")
    rid = make_residence(tok)["id"]
    task = make_task(tok, rid, title="Service the boiler", frequency="weekly", due_date="2026-01-05")
    other_task = make_task(tok, rid, title="Fix the fuse", frequency="weekly", due_date="2026-01-05")
    c = make_contractor(tok, rid, name="Boiler Bob")
    other = make_contractor(tok, rid, name="Someone else")
    assert request("GET", f"/api/contractors/{c['id']}/completions/", token=tok).json == \
        {"count": 0, "results": []}
    first, second = complete(tok, task["id"]), complete(tok, task["id"])
    third = complete(tok, other_task["id"])
    not_his = complete(tok, task["id"])
    psql(f"UPDATE task_taskcompletion SET contractor_id = {c['id']}, completed_at = '2026-01-05T10:00:00Z' "
         f"WHERE id = {first['id']}")
    psql(f"UPDATE task_taskcompletion SET contractor_id = {c['id']}, completed_at = '2026-03-01T10:00:00Z' "
         f"WHERE id = {second['id']}")
    psql(f"UPDATE task_taskcompletion SET contractor_id = {c['id']}, completed_at = '2026-02-01T10:00:00Z' "
         f"WHERE id = {third['id']}")
    psql(f"UPDATE task_taskcompletion SET contractor_id = {other['id']} WHERE id = {not_his['id']}")
    r = request("GET", f"/api/contractors/{c['id']}/completions/", token=tok)
    assert r.status == 200, r.text
    assert r.json["count"] == 3
    assert [x["id"] for x in r.json["results"]] == [second["id"], third["id"], first["id"]]
    newest = r.json["results"][0]
    assert newest["task_id"] == task["id"] and newest["task_title"] == "Service the boiler"
    assert newest["contractor_id"] == c["id"] and newest["residence_id"] == rid
    assert newest["kind"] == "completed" and newest["completed_at"].startswith("2026-03-01T10:00:00")
    assert r.json["results"][1]["task_title"] == "Fix the fuse"
    r = request("GET", f"/api/contractors/{other['id']}/completions/", token=tok)
    assert [x["id"] for x in r.json["results"]] == [not_his["id"]]
    # Deleting the contractor keeps the history, without the contractor.
    assert request("DELETE", f"/api/contractors/{c['id']}/", token=tok).status == 204
    assert psql(f"SELECT count(*) FROM task_taskcompletion WHERE id IN ({first['id']}, {second['id']}, "
                f"{third['id']}) AND contractor_id IS NULL") == "3"
    assert_error(request("GET", f"/api/contractors/{c['id']}/completions/", token=tok), 404, "not_found")


def test_strangers_get_404_for_every_contractor_endpoint():
    _, tok, _ = register_user("cown")
    _, other, _ = register_user("cstr")
    rid = make_residence(tok)["id"]
    c = make_contractor(tok, rid, name="Private")
    missing = c["id"] + 1000000
    for cid in (c["id"], missing):
        assert_error(request("GET", f"/api/contractors/{cid}/", token=other), 404, "not_found")
        assert_error(request("PATCH", f"/api/contractors/{cid}/", {"name": "pwned"}, token=other), 404, "not_found")
        assert_error(request("DELETE", f"/api/contractors/{cid}/", token=other), 404, "not_found")
        assert_error(request("GET", f"/api/contractors/{cid}/completions/", token=other), 404, "not_found")
    a = request("GET", f"/api/contractors/{c['id']}/", token=other)
    b = request("GET", f"/api/contractors/{missing}/", token=other)
    assert a.json == b.json
    r = request("POST", "/api/contractors/", {"residence_id": rid, "name": "intruder"}, token=other)
    assert_error(r, 404, "not_found")
    assert request("GET", "/api/contractors/", token=other).json == {"count": 0, "results": []}
    assert request("GET", f"/api/contractors/?residence={rid}", token=other).json == {"count": 0, "results": []}
    got = request("GET", f"/api/contractors/{c['id']}/", token=tok).json
    assert got == c
    assert request("GET", "/api/contractors/", token=tok).json["count"] == 1


def test_a_former_member_loses_access():
    _, owner_tok, _ = register_user("cfo")
    member, member_tok, _ = register_user("cfm")
    rid = make_residence(owner_tok)["id"]
    add_member(rid, member["id"])
    c = make_contractor(owner_tok, rid)
    assert request("GET", f"/api/contractors/{c['id']}/", token=member_tok).status == 200
    assert request("POST", f"/api/residences/{rid}/leave/", token=member_tok).status == 204
    assert_error(request("GET", f"/api/contractors/{c['id']}/", token=member_tok), 404, "not_found")
    assert request("GET", "/api/contractors/", token=member_tok).json["count"] == 0


def test_contractor_endpoints_need_a_token():
    for method, path in (("GET", "/api/contractors/"), ("POST", "/api/contractors/"),
                         ("GET", "/api/contractors/1/"), ("PATCH", "/api/contractors/1/"),
                         ("DELETE", "/api/contractors/1/"), ("GET", "/api/contractors/1/completions/")):
        assert_error(request(method, path, {} if method in ("POST", "PATCH") else None), 401,
                     "not_authenticated")
        assert_error(request(method, path, {} if method in ("POST", "PATCH") else None,
                             token="0" * 40), 401, "not_authenticated")


def test_completion_names_a_contractor_of_the_same_residence_only():
    _, tok, _ = register_user("cc")
    rid = make_residence(tok)["id"]
    other_rid = make_residence(tok)["id"]
    mine = make_contractor(tok, rid, name="Here")
    elsewhere = make_contractor(tok, other_rid, name="There")
    t = make_task(tok, rid, frequency="weekly", due_date="2027-01-01")
    r = request("POST", f"/api/tasks/{t['id']}/complete/", {"contractor_id": elsewhere["id"]}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"contractor_id": "is not a contractor of the residence"}
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["due_date"] == "2027-01-01"
    r = request("POST", f"/api/tasks/{t['id']}/complete/", {"contractor_id": 999999999}, token=tok)
    assert_error(r, 422, "validation_failed")
    r = request("POST", f"/api/tasks/{t['id']}/complete/", {"contractor_id": mine["id"], "rating": 5},
                token=tok)
    assert r.status == 201 and r.json["completion"]["contractor_id"] == mine["id"], r.text
    done = request("GET", f"/api/contractors/{mine['id']}/completions/", token=tok).json
    assert [c["id"] for c in done["results"]] == [r.json["completion"]["id"]]
    # A stranger's contractor id is just as unknown.
    _, other, _ = register_user("cc2")
    theirs = make_contractor(other, make_residence(other)["id"])
    r = request("POST", f"/api/tasks/{t['id']}/complete/", {"contractor_id": theirs["id"]}, token=tok)
    assert_error(r, 422, "validation_failed")
