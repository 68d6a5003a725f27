"""The admin audit log: a user PATCH writes one entry per flag it changes
(actor, target, details, the client's address), in the statement that
changes it, and nothing when nothing changes; GET /api/admin/audit/ lists
entries newest first, filtered and paginated; the table refuses UPDATE,
DELETE and TRUNCATE, and outlives the staff user who acted. The job
operations' entries are tested in test_admin_jobs.py."""
import os
import subprocess
import urllib.parse

from lib import assert_error, psql, register_user, request
from test_admin import make_staff

ENTRY_KEYS = {"id", "actor", "action", "target_type", "target_id", "details", "remote_addr",
              "created_at"}


def audit(tok, **query):
    r = request("GET", "/api/admin/audit/?" + urllib.parse.urlencode(query), token=tok)
    assert r.status == 200, r.text
    return r.json


def actions(page):
    return [e["action"] for e in page["results"]]


def patch(tok, uid, body, source=None):
    return request("PATCH", f"/api/admin/users/{uid}/", body, token=tok, source=source)


def test_each_flag_a_patch_changes_is_one_entry():
    staff, tok = make_staff()
    user, _, _ = register_user("aud")
    uid = str(user["id"])
    mine = lambda: audit(tok, actor=staff["id"], page_size=100)  # noqa: E731
    assert mine()["count"] == 0
    assert patch(tok, user["id"], {"is_active": False}, source="127.0.0.7").status == 200
    [e] = mine()["results"]
    assert set(e) == ENTRY_KEYS
    assert e["actor"] == {"id": staff["id"], "username": staff["username"]}
    assert (e["action"], e["target_type"], e["target_id"]) == ("user.deactivate", "user", uid)
    assert e["details"] == {"username": user["username"]}
    assert e["remote_addr"] == "127.0.0.7"
    assert e["created_at"].endswith("+00:00")
    assert patch(tok, user["id"], {"is_active": True}).status == 200
    assert patch(tok, user["id"], {"is_staff": True}).status == 200
    assert patch(tok, user["id"], {"is_staff": False}).status == 200
    # Both flags in one PATCH: two entries, in the order of the flags.
    assert patch(tok, user["id"], {"is_active": False, "is_staff": True}).status == 200
    page = mine()
    assert actions(page) == ["user.grant_staff", "user.deactivate", "user.revoke_staff",
                             "user.grant_staff", "user.reactivate", "user.deactivate"]
    assert all(x["target_id"] == uid and x["remote_addr"] == "127.0.0.1"
               for x in page["results"][:-1])
    ids = [x["id"] for x in page["results"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    # The rows in the table are the same.
    assert psql(f"SELECT string_agg(action, ',' ORDER BY id) FROM admin_auditlog "
                f"WHERE actor_id = {staff['id']}") == ",".join(reversed(actions(page)))


def test_a_patch_that_changes_nothing_records_nothing():
    staff, tok = make_staff()
    user, _, _ = register_user("audn")
    before = psql("SELECT count(*) FROM admin_auditlog")
    for body in ({}, {"is_active": True}, {"is_staff": False}, {"is_active": True, "is_staff": False},
                 {"username": "x", "is_superuser": True}):
        r = patch(tok, user["id"], body)
        assert r.status == 200, (body, r.text)
    # Refused: nothing either.
    assert_error(patch(tok, staff["id"], {"is_active": False}), 409, "conflict")
    assert_error(patch(tok, 999999999, {"is_active": False}), 404, "not_found")
    assert_error(patch(tok, user["id"], {"is_active": "no"}), 422, "validation_failed")
    # Saying of oneself what already holds changes nothing.
    assert patch(tok, staff["id"], {"is_active": True, "is_staff": True}).status == 200
    assert psql("SELECT count(*) FROM admin_auditlog") == before
    assert audit(tok, actor=staff["id"])["count"] == 0


def test_filters_and_pagination():
    staff, tok = make_staff()
    other, otok = make_staff("staff2")
    a, _, _ = register_user("auda")
    b, _, _ = register_user("audb")
    patch(tok, a["id"], {"is_active": False})
    patch(tok, a["id"], {"is_active": True})
    patch(tok, b["id"], {"is_staff": True})
    patch(otok, b["id"], {"is_staff": False})
    assert actions(audit(tok, actor=staff["id"])) == ["user.grant_staff", "user.reactivate",
                                                      "user.deactivate"]
    assert actions(audit(tok, actor=other["id"])) == ["user.revoke_staff"]
    assert actions(audit(tok, target_type="user", target_id=a["id"])) == ["user.reactivate",
                                                                          "user.deactivate"]
    assert actions(audit(tok, target_id=b["id"], action="user.grant_staff")) == ["user.grant_staff"]
    assert audit(tok, actor=other["id"], action="user.grant_staff")["count"] == 0
    assert audit(tok, target_type="jobs", target_id=a["id"])["count"] == 0
    # An empty value is no filter.
    assert audit(tok, actor=staff["id"], action="")["count"] == 3
    p1 = audit(tok, actor=staff["id"], page_size=2)
    assert p1["count"] == 3 and p1["next"] == 2 and p1["previous"] is None
    assert actions(p1) == ["user.grant_staff", "user.reactivate"]
    p2 = audit(tok, actor=staff["id"], page_size=2, page=2)
    assert actions(p2) == ["user.deactivate"] and p2["next"] is None and p2["previous"] == 1
    assert audit(tok, actor=999999999)["results"] == []
    everything = audit(tok, page_size=100)
    assert everything["count"] == int(psql("SELECT count(*) FROM admin_auditlog"))


def test_bad_filters_are_422():
    _, tok = make_staff()
    cases = [
        ("actor=x", {"actor": "must be a user id"}),
        ("actor=0", {"actor": "must be a user id"}),
        ("actor=-1", {"actor": "must be a user id"}),
        ("action=user.delete", {"action": "is not one of the allowed values"}),
        ("action=USER.DEACTIVATE", {"action": "is not one of the allowed values"}),
        ("target_type=residence", {"target_type": "is not one of the allowed values"}),
        ("target_id=" + "9" * 65, {"target_id": "is too long"}),
        ("target_id=%FF", {"target_id": "must be valid UTF-8"}),
        ("page_size=101", {"page_size": "must be at most 100"}),
        ("page=0&action=x", {"page": "must be a positive integer",
                             "action": "is not one of the allowed values"}),
    ]
    for query, fields in cases:
        r = request("GET", f"/api/admin/audit/?{query}", token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == fields, (query, r.json)


def psql_error(sql):
    """Run SQL that must fail; return psql's error output."""
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                        os.environ.get("DB_HOST", "127.0.0.1"), "-p", os.environ["DB_PORT"], "-U",
                        os.environ.get("DB_USER", "postgres"), "-d", "honeydue", "-At", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, f"psql accepted: {sql}\n{p.stdout}"
    return p.stderr


def test_the_table_refuses_update_delete_and_truncate():
    staff, tok = make_staff()
    user, _, _ = register_user("audro")
    patch(tok, user["id"], {"is_active": False})
    [entry] = audit(tok, actor=staff["id"])["results"]
    eid = entry["id"]
    for sql in (f"UPDATE admin_auditlog SET action = 'user.reactivate' WHERE id = {eid}",
                f"UPDATE admin_auditlog SET remote_addr = NULL WHERE id = {eid}",
                f"DELETE FROM admin_auditlog WHERE id = {eid}",
                "DELETE FROM admin_auditlog",
                "TRUNCATE admin_auditlog"):
        err = psql_error(sql)
        assert "admin_auditlog is append-only" in err, (sql, err)
    [same] = audit(tok, actor=staff["id"])["results"]
    assert same == entry


def test_the_log_outlives_the_staff_user_who_acted():
    staff, tok = make_staff("gone")
    password = f"pw-{staff['username']}-secret"
    user, _, _ = register_user("audgone")
    patch(tok, user["id"], {"is_staff": True})
    r = request("DELETE", "/api/auth/me/", {"password": password}, token=tok)
    assert r.status == 204, r.text
    assert psql(f"SELECT count(*) FROM auth_user WHERE id = {staff['id']}") == "0"
    _, tok2 = make_staff()
    [e] = audit(tok2, actor=staff["id"])["results"]
    assert e["actor"] == {"id": staff["id"], "username": staff["username"]}
    assert e["action"] == "user.grant_staff" and e["target_id"] == str(user["id"])
