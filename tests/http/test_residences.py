"""Residences: CRUD, ownership, and that nobody else learns they exist."""
from lib import request, register_user, assert_error, psql


def make_residence(tok, **fields):
    body = {"name": "Home"}
    body.update(fields)
    r = request("POST", "/api/residences/", body, token=tok)
    assert r.status == 201, r.text
    return r.json


def add_member(residence_id, user_id):
    # Sharing endpoints arrive with the domain issue; membership is a row.
    psql(f"INSERT INTO residence_residence_users (residence_id, user_id) VALUES ({residence_id}, {user_id})")


def test_create_and_read_residence():
    user, tok, _ = register_user("res")
    res = make_residence(tok, name="Lake house", city="Annecy", country="France",
                         time_zone="Europe/Paris", postal_code="74000")
    assert res["name"] == "Lake house" and res["time_zone"] == "Europe/Paris"
    assert res["owner_id"] == user["id"] and res["is_owner"] is True
    assert res["street_address"] == "" and res["created_at"].endswith("+00:00")
    got = request("GET", f"/api/residences/{res['id']}/", token=tok)
    assert got.status == 200 and got.json == res
    lst = request("GET", "/api/residences/", token=tok)
    assert lst.json["count"] == 1 and lst.json["results"][0]["id"] == res["id"]


def test_time_zone_defaults_to_utc_and_unknown_is_422():
    _, tok, _ = register_user("tz")
    assert make_residence(tok)["time_zone"] == "UTC"
    r = request("POST", "/api/residences/", {"name": "X", "time_zone": "Mars/Olympus"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"time_zone": "is not a known time zone"}
    assert request("GET", "/api/residences/", token=tok).json["count"] == 1


def test_residence_validation():
    _, tok, _ = register_user("rv")
    r = request("POST", "/api/residences/", {"city": "x"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"]["name"] == "is required"
    r = request("POST", "/api/residences/", {"name": "x" * 201, "postal_code": 75001}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"name": "is too long", "postal_code": "must be a string"}
    r = request("POST", "/api/residences/", {"name": None}, token=tok)
    assert_error(r, 422, "validation_failed")


def test_owner_patches_and_deletes():
    _, tok, _ = register_user("own")
    res = make_residence(tok, name="Old", city="Lyon")
    r = request("PATCH", f"/api/residences/{res['id']}/", {"name": "New", "time_zone": "Asia/Tokyo"}, token=tok)
    assert r.status == 200, r.text
    assert r.json["name"] == "New" and r.json["city"] == "Lyon" and r.json["time_zone"] == "Asia/Tokyo"
    r = request("PATCH", f"/api/residences/{res['id']}/", {"time_zone": "Nowhere/City"}, token=tok)
    assert_error(r, 422, "validation_failed")
    r = request("PATCH", f"/api/residences/{res['id']}/", {"name": ""}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert request("GET", f"/api/residences/{res['id']}/", token=tok).json["name"] == "New"
    assert request("DELETE", f"/api/residences/{res['id']}/", token=tok).status == 204
    assert_error(request("GET", f"/api/residences/{res['id']}/", token=tok), 404, "not_found")
    assert_error(request("DELETE", f"/api/residences/{res['id']}/", token=tok), 404, "not_found")


def test_member_reads_but_only_owner_changes():
    _, owner_tok, _ = register_user("o")
    member, member_tok, _ = register_user("m")
    res = make_residence(owner_tok)
    add_member(res["id"], member["id"])
    got = request("GET", f"/api/residences/{res['id']}/", token=member_tok)
    assert got.status == 200 and got.json["is_owner"] is False
    assert_error(request("PATCH", f"/api/residences/{res['id']}/", {"name": "Mine"}, token=member_tok),
                 403, "forbidden")
    assert_error(request("DELETE", f"/api/residences/{res['id']}/", token=member_tok), 403, "forbidden")
    assert request("GET", f"/api/residences/{res['id']}/", token=owner_tok).json["name"] == "Home"


def test_strangers_get_404_for_everything():
    _, owner_tok, _ = register_user("o")
    _, other_tok, _ = register_user("x")
    res = make_residence(owner_tok)
    missing = res["id"] + 1000000
    for rid in (res["id"], missing):
        assert_error(request("GET", f"/api/residences/{rid}/", token=other_tok), 404, "not_found")
        assert_error(request("PATCH", f"/api/residences/{rid}/", {"name": "p"}, token=other_tok), 404, "not_found")
        assert_error(request("DELETE", f"/api/residences/{rid}/", token=other_tok), 404, "not_found")
    a = request("GET", f"/api/residences/{res['id']}/", token=other_tok)
    b = request("GET", f"/api/residences/{missing}/", token=other_tok)
    assert a.json == b.json
    assert request("GET", "/api/residences/", token=other_tok).json == {"count": 0, "results": []}
    assert request("GET", f"/api/residences/{res['id']}/", token=owner_tok).json["name"] == "Home"


def test_residence_endpoints_need_a_token():
    for method, path in (("GET", "/api/residences/"), ("POST", "/api/residences/"),
                         ("GET", "/api/residences/1/"), ("PATCH", "/api/residences/1/"),
                         ("DELETE", "/api/residences/1/")):
        assert_error(request(method, path, {} if method in ("POST", "PATCH") else None), 401,
                     "not_authenticated")
