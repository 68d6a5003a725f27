"""Residences shared among users: members, share codes, joining, leaving,
removal, and that lists change at once for whoever joined or left."""
import re

from lib import request, register_user, assert_error, psql
from test_residences import make_residence
from test_tasks import make_task


def share(tok, rid):
    r = request("POST", f"/api/residences/{rid}/share-code/", token=tok)
    assert r.status == 201, r.text
    return r.json


def join(tok, code):
    return request("POST", "/api/residences/join/", {"code": code}, token=tok)


def titles(tok):
    r = request("GET", "/api/tasks/", token=tok)
    assert r.status == 200
    return sorted(t["title"] for t in r.json["results"])


def test_share_code_shape_and_expiry():
    _, tok, _ = register_user("sc")
    rid = make_residence(tok)["id"]
    c = share(tok, rid)
    assert re.fullmatch(r"[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}", c["code"]), c
    assert c["residence_id"] == rid and c["expires_at"] > c["created_at"]
    again = share(tok, rid)  # a new code replaces the old one
    assert again["code"] != c["code"]
    _, other, _ = register_user("sc2")
    assert_error(join(other, c["code"]), 422, "validation_failed")


def test_join_shows_residence_and_tasks_at_once_then_leave_hides_them():
    _, owner, _ = register_user("jo")
    joiner, jtok, _ = register_user("jj")
    rid = make_residence(owner, name="Shared")["id"]
    make_task(owner, rid, title="shared task")
    # warm the joiner's (empty) cached list
    assert titles(jtok) == [] and titles(jtok) == []
    code = share(owner, rid)["code"]
    r = join(jtok, code.lower()[:4] + "-" + code.lower()[4:])  # typed loosely
    assert r.status == 200, r.text
    assert r.json["id"] == rid and r.json["is_owner"] is False
    assert titles(jtok) == ["shared task"]
    assert [x["id"] for x in request("GET", "/api/residences/", token=jtok).json["results"]] == [rid]
    assert join(jtok, code).status == 200  # joining twice is harmless
    members = request("GET", f"/api/residences/{rid}/users/", token=jtok).json
    assert members["count"] == 2
    assert {m["id"]: m["is_owner"] for m in members["results"]}[joiner["id"]] is False
    assert request("POST", f"/api/residences/{rid}/leave/", token=jtok).status == 204
    assert titles(jtok) == []
    assert_error(request("GET", f"/api/residences/{rid}/", token=jtok), 404, "not_found")
    assert titles(owner) == ["shared task"]


def test_owner_removes_a_member_whose_lists_change_at_once():
    _, owner, _ = register_user("ro")
    member, mtok, _ = register_user("rm")
    rid = make_residence(owner)["id"]
    make_task(owner, rid, title="t")
    assert join(mtok, share(owner, rid)["code"]).status == 200
    assert titles(mtok) == ["t"] and titles(mtok) == ["t"]
    assert_error(request("DELETE", f"/api/residences/{rid}/users/{member['id']}/", token=mtok), 403, "forbidden")
    assert request("DELETE", f"/api/residences/{rid}/users/{member['id']}/", token=owner).status == 204
    assert titles(mtok) == []
    assert_error(request("DELETE", f"/api/residences/{rid}/users/{member['id']}/", token=owner), 404, "not_found")


def test_owner_cannot_leave_or_be_removed():
    owner_user, owner, _ = register_user("ol")
    rid = make_residence(owner)["id"]
    assert_error(request("POST", f"/api/residences/{rid}/leave/", token=owner), 409, "conflict")
    assert_error(request("DELETE", f"/api/residences/{rid}/users/{owner_user['id']}/", token=owner), 409, "conflict")
    assert request("GET", f"/api/residences/{rid}/users/", token=owner).json["count"] == 1


def test_only_the_owner_manages_codes():
    _, owner, _ = register_user("mo")
    _, mtok, _ = register_user("mm")
    _, stranger, _ = register_user("ms")
    rid = make_residence(owner)["id"]
    code = share(owner, rid)["code"]
    assert join(mtok, code).status == 200
    assert_error(request("POST", f"/api/residences/{rid}/share-code/", token=mtok), 403, "forbidden")
    assert_error(request("DELETE", f"/api/residences/{rid}/share-code/", token=mtok), 403, "forbidden")
    for method, path in (("POST", f"/api/residences/{rid}/share-code/"),
                         ("DELETE", f"/api/residences/{rid}/share-code/"),
                         ("GET", f"/api/residences/{rid}/users/"),
                         ("POST", f"/api/residences/{rid}/leave/"),
                         ("DELETE", f"/api/residences/{rid}/users/1/")):
        assert_error(request(method, path, token=stranger), 404, "not_found")
        assert_error(request(method, path), 401, "not_authenticated")
    assert request("DELETE", f"/api/residences/{rid}/share-code/", token=owner).status == 204
    assert_error(join(stranger, code), 422, "validation_failed")


def test_expired_and_malformed_codes():
    _, owner, _ = register_user("ex")
    _, other, _ = register_user("ex2")
    rid = make_residence(owner)["id"]
    code = share(owner, rid)["code"]
    psql(f"UPDATE residence_residencesharecode SET expires_at = now() - interval '1 second' WHERE code = '{code}'")
    r = join(other, code)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"code": "is invalid or has expired"}
    for bad in ("", "short", "O0O0O0O0", "x" * 40):
        assert_error(join(other, bad), 422, "validation_failed")
    assert_error(request("POST", "/api/residences/join/", {"code": 12345678}, token=other), 422, "validation_failed")
    assert request("GET", "/api/residences/", token=other).json["count"] == 0


def test_guessing_share_codes_is_throttled_per_user():
    # Review finding (issue 15): joining by share code had no throttle, so a
    # signed-in stranger could try codes without end. Ten wrong codes in 15
    # minutes, then 429 with Retry-After, the right code included.
    _, otok, _ = register_user("jto")
    rid = make_residence(otok)["id"]
    good = share(otok, rid)["code"]
    _, gtok, _ = register_user("jtg")
    for i in range(10):
        r = join(gtok, f"WRONG{i:03d}")
        assert_error(r, 422, "validation_failed")
    r = join(gtok, good)
    assert_error(r, 429, "throttled")
    assert int(r.headers["retry-after"]) > 0
    # Another user (another household member on the same address) is not held up.
    _, htok, _ = register_user("jth")
    assert join(htok, good).status == 200

