"""The admin API: staff only (401 without a token, 403 for everyone else, on
every route), user search, ordering, filters and pagination, a user's
counts and residences, activation and staff changes that take effect at
once (the tokens' cached resolutions are dropped), residences and one
residence's members and task counts, the dashboard totals and the daily
signup/active series (auth_user_activity), and the system view (the
internal status and readiness answers, for staff). The job queue is
test_admin_jobs.py, the audit log test_admin_audit.py."""
import os
import re
import secrets
import urllib.parse
from datetime import datetime, timedelta, timezone

from lib import REPO, request, register_user, assert_error, psql, redis_cli, spec, stack, unique
from mail_jobs import wait_idle
from test_residences import make_residence, add_member
from test_tasks import make_task

USER_KEYS = {"id", "username", "email", "first_name", "last_name", "is_active", "is_staff",
             "date_joined", "last_login", "last_active"}
COUNT_KEYS = {"residences", "residences_owned", "tasks", "tasks_created", "completions",
              "tokens", "devices"}
STATS_KEYS = {"users", "active_users", "staff_users", "residences", "tasks", "completions",
              "seen_last_7_days", "seen_last_30_days", "generated_at"}



def admin_routes():
    """(METHOD, path) of every operation under /api/admin/ in openapi.yaml,
    {id} as 1; the test fails unless they are exactly the ROUTE_STAFF lines
    of handlers/routes.c, so a new admin route cannot be left out."""
    ops = {(m.upper(), t) for t, item in spec()["paths"].items() if t.startswith("/api/admin/")
           for m in item if m in ("get", "post", "put", "patch", "delete")}
    with open(os.path.join(REPO, "handlers", "routes.c"), encoding="utf-8") as f:
        staff = {(m, p) for m, p in re.findall(r'\{"([A-Z]+)", "([^"]+)", \w+, ROUTE_STAFF', f.read())}
    assert ops == staff, (sorted(ops ^ staff), "openapi.yaml and routes.c differ")
    assert len(ops) >= 12
    return sorted((m, t.replace("{id}", "1")) for m, t in ops)


# A body each accepts, so that only the staff check can refuse.
ADMIN_BODIES = {"PATCH": {"is_active": True}, "POST": {"all": True}}


def make_staff(prefix="staff"):
    """A staff user (made so with psql before its token is ever used, hence
    before anything caches it as non-staff); returns (user, token)."""
    user, tok, _ = register_user(prefix)
    psql(f"UPDATE auth_user SET is_staff = true WHERE id = {user['id']}")
    user["is_staff"] = True
    return user, tok


def register_named(prefix, first_name="", last_name=""):
    name = unique(prefix)
    r = request("POST", "/api/auth/register/",
                {"username": name, "email": f"{name}@example.com", "password": f"pw-{name}-secret",
                 "first_name": first_name, "last_name": last_name})
    assert r.status == 201, r.text
    return r.json["user"], r.json["token"]


def users(tok, **query):
    r = request("GET", "/api/admin/users/?" + urllib.parse.urlencode(query), token=tok)
    assert r.status == 200, r.text
    return r.json


def ids(page):
    return [u["id"] for u in page["results"]]


def test_every_admin_route_is_staff_only():
    _, tok, _ = register_user("plain")
    audit = psql("SELECT count(*) FROM admin_auditlog")
    for method, path in admin_routes():
        body = ADMIN_BODIES.get(method)
        assert_error(request(method, path, body), 401, "not_authenticated")
        assert_error(request(method, path, body, token="f" * 40), 401, "not_authenticated")
        assert_error(request(method, path, body, token=tok), 403, "forbidden")
    # Also for ids that do not exist, and with nothing changed for user 1.
    assert_error(request("PATCH", "/api/admin/users/999999999/", {"is_active": False}, token=tok),
                 403, "forbidden")
    assert psql("SELECT count(*) FROM admin_auditlog") == audit  # nothing was done


def test_staff_reads_the_user_list():
    staff, tok = make_staff()
    page = users(tok, q=staff["username"])
    assert page["count"] == 1 and page["next"] is None and page["previous"] is None
    row = page["results"][0]
    assert set(row) == USER_KEYS
    assert row["id"] == staff["id"] and row["is_staff"] is True and row["is_active"] is True
    # Its token was just used, after the login: last_active is that use.
    assert row["last_login"] is not None, row
    assert datetime.fromisoformat(row["last_active"]) > datetime.fromisoformat(row["last_login"]), row


def test_search_is_case_insensitive_over_names_and_email():
    _, tok = make_staff()
    tag = unique("zq")
    a, _ = register_named("ua", first_name=f"Ada{tag}")
    b, _ = register_named("ub", last_name=f"LOVELACE{tag}")
    c, _ = register_named(f"uc{tag}")
    assert ids(users(tok, q=f"ada{tag}".upper())) == [a["id"]]
    assert ids(users(tok, q=f"lovelace{tag}")) == [b["id"]]
    assert ids(users(tok, q=c["username"].upper())) == [c["id"]]
    assert ids(users(tok, q=c["email"])) == [c["id"]]
    assert ids(users(tok, q=tag)) == [a["id"], b["id"], c["id"]]
    # LIKE wildcards are plain characters.
    d, _ = register_named("ud", first_name=f"50%_{tag}")
    assert ids(users(tok, q=f"%_{tag}")) == [d["id"]]
    assert users(tok, q=f"{tag}%")["count"] == 0
    # An empty q is no filter.
    assert users(tok, q="")["count"] == users(tok)["count"]


def test_ordering():
    _, tok = make_staff()
    tag = unique("ord")
    made = [register_named(f"{p}{tag}")[0] for p in ("b", "c", "a")]
    by_name = sorted(made, key=lambda u: u["username"])
    psql(f"UPDATE auth_user SET last_login = now() - interval '2 days' WHERE id = {made[0]['id']}")
    psql(f"UPDATE auth_user SET last_login = NULL WHERE id = {made[1]['id']}")
    psql(f"UPDATE auth_user SET date_joined = date_joined - interval '1 day' WHERE id = {made[2]['id']}")
    in_order = [u["id"] for u in made]
    assert ids(users(tok, q=tag)) == in_order
    assert ids(users(tok, q=tag, ordering="id")) == in_order
    assert ids(users(tok, q=tag, ordering="-id")) == in_order[::-1]
    assert ids(users(tok, q=tag, ordering="username")) == [u["id"] for u in by_name]
    assert ids(users(tok, q=tag, ordering="-username")) == [u["id"] for u in by_name][::-1]
    assert ids(users(tok, q=tag, ordering="email")) == [u["id"] for u in by_name]
    assert ids(users(tok, q=tag, ordering="-email")) == [u["id"] for u in by_name][::-1]
    assert ids(users(tok, q=tag, ordering="date_joined")) == [in_order[2], in_order[0], in_order[1]]
    assert ids(users(tok, q=tag, ordering="-date_joined")) == [in_order[1], in_order[0], in_order[2]]
    # Never logged in comes last either way.
    assert ids(users(tok, q=tag, ordering="last_login")) == [in_order[0], in_order[2], in_order[1]]
    assert ids(users(tok, q=tag, ordering="-last_login")) == [in_order[2], in_order[0], in_order[1]]
    for bad in ("password", "-", "id,username", "ID", "?"):
        r = request("GET", "/api/admin/users/?" + urllib.parse.urlencode({"ordering": bad}), token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {"ordering": "is not one of the allowed values"}


def test_is_active_filter_and_pagination():
    _, tok = make_staff()
    tag = unique("pg")
    made = [register_named(f"p{i}{tag}")[0] for i in range(5)]
    psql(f"UPDATE auth_user SET is_active = false WHERE id = {made[1]['id']}")
    assert ids(users(tok, q=tag, is_active="false")) == [made[1]["id"]]
    active = [u["id"] for u in made if u is not made[1]]
    assert ids(users(tok, q=tag, is_active="true")) == active
    p1 = users(tok, q=tag, page_size=2)
    assert p1["count"] == 5 and p1["next"] == 2 and p1["previous"] is None
    p3 = users(tok, q=tag, page_size=2, page=3)
    assert ids(p3) == [made[4]["id"]] and p3["next"] is None and p3["previous"] == 2
    p9 = users(tok, q=tag, page_size=2, page=9)
    assert p9["results"] == [] and p9["count"] == 5 and p9["previous"] == 3 and p9["next"] is None
    p2 = users(tok, q=tag, page_size=2, page=2, ordering="-id")
    assert ids(p2) == [made[2]["id"], made[1]["id"]]
    assert users(tok, page_size=100)["count"] >= 5


def test_user_list_query_validation():
    _, tok = make_staff()
    cases = [
        ("is_active=yes", {"is_active": "must be true or false"}),
        ("page_size=101", {"page_size": "must be at most 100"}),
        ("page=0", {"page": "must be a positive integer"}),
        ("q=" + "x" * 101, {"q": "is too long"}),
        ("q=%FF%FE", {"q": "must be valid UTF-8"}),
        ("page=x&ordering=name&is_active=1", {"page": "must be a positive integer",
                                             "ordering": "is not one of the allowed values",
                                             "is_active": "must be true or false"}),
    ]
    for query, fields in cases:
        r = request("GET", f"/api/admin/users/?{query}", token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == fields, (query, r.json)
    assert users(tok, q="é" * 100)["count"] == 0


def test_user_detail_counts():
    _, tok = make_staff()
    user, utok, password = register_user("cnt")
    other, otok, _ = register_user("cnto")
    own = make_residence(utok)
    shared = make_residence(otok)
    add_member(shared["id"], user["id"])
    # The phone is there before the other member's task, whose notification
    # is then pushed to it (a notification written before a device exists
    # is never pushed to it: registering it later would race the job).
    assert request("POST", "/api/devices/", {"platform": "ios", "token": secrets.token_hex(32)},
                   token=utok).status == 201
    t1 = make_task(utok, own["id"])
    make_task(utok, own["id"])
    make_task(otok, shared["id"])
    assert request("POST", f"/api/tasks/{t1['id']}/complete/", token=utok).status == 201
    assert request("POST", "/api/auth/login/",
                   {"username": user["username"], "password": password}).status == 200
    wait_idle()  # the task the other member made was pushed to the user's phone
    r = request("GET", f"/api/admin/users/{user['id']}/", token=tok)
    assert r.status == 200, r.text
    assert set(r.json) == USER_KEYS | {"counts", "devices", "residences"}
    assert r.json["counts"] == {"residences": 2, "residences_owned": 1, "tasks": 3,
                                "tasks_created": 2, "completions": 1, "tokens": 2, "devices": 1}, r.json["counts"]
    # Each device's platform and last push, never its token.
    [dev] = r.json["devices"]
    assert dev["platform"] == "ios" and dev["last_push_at"] and dev["last_push_result"] == "sent"
    assert "token" not in dev
    assert r.json["username"] == user["username"]
    # The residences they own or belong to, by id, with their role.
    assert r.json["residences"] == [
        {"id": own["id"], "name": own["name"], "role": "owner", "member_count": 1, "task_count": 2},
        {"id": shared["id"], "name": shared["name"], "role": "member", "member_count": 2,
         "task_count": 1}]
    assert request("GET", f"/api/admin/users/{other['id']}/", token=tok).json["residences"] == [
        {"id": shared["id"], "name": shared["name"], "role": "owner", "member_count": 2,
         "task_count": 1}]
    assert_error(request("GET", "/api/admin/users/999999999/", token=tok), 404, "not_found")
    assert other["id"] != user["id"]


def test_deactivation_revokes_cached_tokens_at_once():
    _, tok = make_staff()
    user, utok, password = register_user("deact")
    # Used just before: its resolution is now cached in Redis.
    assert request("GET", "/api/auth/me/", token=utok).status == 200
    assert request("GET", "/api/tasks/", token=utok).status == 200
    r = request("PATCH", f"/api/admin/users/{user['id']}/", {"is_active": False}, token=tok)
    assert r.status == 200, r.text
    assert set(r.json) == USER_KEYS and r.json["is_active"] is False
    assert_error(request("GET", "/api/auth/me/", token=utok), 401, "not_authenticated")
    assert_error(request("GET", "/api/tasks/", token=utok), 401, "not_authenticated")
    assert psql(f"SELECT count(*) FROM user_authtoken WHERE user_id = {user['id']}") == "0"
    login = {"username": user["username"], "password": password}
    assert_error(request("POST", "/api/auth/login/", login), 401, "invalid_credentials")
    # The worker's preference view no longer lists them.
    assert psql("SELECT count(*) FROM notification_preference_effective "
                f"WHERE user_id = {user['id']}") == "0"
    # Reactivated: they log in again (old tokens stay revoked).
    r = request("PATCH", f"/api/admin/users/{user['id']}/", {"is_active": True}, token=tok)
    assert r.status == 200 and r.json["is_active"] is True
    assert_error(request("GET", "/api/auth/me/", token=utok), 401, "not_authenticated")
    again = request("POST", "/api/auth/login/", login)
    assert again.status == 200
    assert request("GET", "/api/auth/me/", token=again.json["token"]).status == 200


def test_staff_changes_take_effect_at_once():
    _, tok = make_staff()
    user, utok, _ = register_user("promo")
    # Denied, and cached as non-staff.
    assert_error(request("GET", "/api/admin/stats/", token=utok), 403, "forbidden")
    r = request("PATCH", f"/api/admin/users/{user['id']}/", {"is_staff": True}, token=tok)
    assert r.status == 200 and r.json["is_staff"] is True
    assert request("GET", "/api/admin/stats/", token=utok).status == 200
    r = request("PATCH", f"/api/admin/users/{user['id']}/", {"is_staff": False}, token=tok)
    assert r.status == 200 and r.json["is_staff"] is False
    assert_error(request("GET", "/api/admin/stats/", token=utok), 403, "forbidden")
    # Their token still works for everything else.
    assert request("GET", "/api/auth/me/", token=utok).status == 200


def test_staff_cannot_deactivate_or_unstaff_themselves():
    staff, tok = make_staff()
    path = f"/api/admin/users/{staff['id']}/"
    for body in ({"is_active": False}, {"is_staff": False}, {"is_active": False, "is_staff": True}):
        assert_error(request("PATCH", path, body, token=tok), 409, "conflict")
    assert psql(f"SELECT is_active, is_staff FROM auth_user WHERE id = {staff['id']}") == "t|t"
    assert request("GET", "/api/admin/stats/", token=tok).status == 200
    # Saying what already holds is fine.
    r = request("PATCH", path, {"is_active": True, "is_staff": True}, token=tok)
    assert r.status == 200 and r.json["is_staff"] is True and r.json["is_active"] is True


def test_user_patch_validation():
    _, tok = make_staff()
    user, utok, _ = register_user("pv")
    path = f"/api/admin/users/{user['id']}/"
    for body, fields in (({"is_active": "no"}, {"is_active": "must be true or false"}),
                         ({"is_staff": None}, {"is_staff": "may not be null"}),
                         ({"is_active": 0, "is_staff": 1}, {"is_active": "must be true or false",
                                                            "is_staff": "must be true or false"})):
        r = request("PATCH", path, body, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == fields, (body, r.json)
    assert_error(request("PATCH", path, raw="{", token=tok,
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(request("PATCH", path, raw="is_active=false", token=tok,
                         headers={"Content-Type": "text/plain"}), 415)
    # Unknown fields are ignored; an empty change answers the user as it is.
    r = request("PATCH", path, {"username": "hacked", "is_superuser": True}, token=tok)
    assert r.status == 200 and r.json["username"] == user["username"] and r.json["is_staff"] is False
    assert request("GET", "/api/auth/me/", token=utok).status == 200
    assert_error(request("PATCH", "/api/admin/users/999999999/", {"is_active": False}, token=tok),
                 404, "not_found")


def test_residence_list():
    _, tok = make_staff()
    owner, otok, _ = register_user("ro")
    member, _, _ = register_user("rm")
    tag = unique("Villa")
    res = make_residence(otok, name=f"{tag} Rosa", city="Lyon")
    add_member(res["id"], member["id"])
    make_task(otok, res["id"])
    make_residence(otok, name=f"{tag} Bianca")
    r = request("GET", "/api/admin/residences/?" + urllib.parse.urlencode({"q": tag.upper()}),
                token=tok)
    assert r.status == 200, r.text
    page = r.json
    assert page["count"] == 2 and page["next"] is None and page["previous"] is None
    first = page["results"][0]
    assert set(first) == {"id", "name", "city", "country", "time_zone", "created_at", "owner",
                          "member_count", "task_count"}
    assert first["id"] == res["id"] and first["name"] == f"{tag} Rosa" and first["city"] == "Lyon"
    assert first["owner"] == {"id": owner["id"], "username": owner["username"], "email": owner["email"]}
    assert first["member_count"] == 2 and first["task_count"] == 1
    assert page["results"][1]["member_count"] == 1 and page["results"][1]["task_count"] == 0
    p2 = request("GET", f"/api/admin/residences/?q={tag}&page=2&page_size=1", token=tok).json
    assert p2["count"] == 2 and p2["previous"] == 1 and p2["next"] is None
    assert [x["name"] for x in p2["results"]] == [f"{tag} Bianca"]
    beyond = request("GET", f"/api/admin/residences/?q={tag}&page=3&page_size=1", token=tok).json
    assert beyond["results"] == [] and beyond["previous"] == 2
    for query, field in (("page_size=101", "page_size"), ("page=-2", "page"),
                         ("q=" + "y" * 101, "q")):
        r = request("GET", f"/api/admin/residences/?{query}", token=tok)
        assert_error(r, 422, "validation_failed")
        assert list(r.json["error"]["fields"]) == [field]


def test_stats_count_what_exists():
    _, tok = make_staff()
    before = request("GET", "/api/admin/stats/", token=tok)
    assert before.status == 200, before.text
    assert set(before.json) == STATS_KEYS
    assert before.json["generated_at"].endswith("+00:00")
    b = before.json
    # One user of each kind of recency, a residence, two tasks, a completion.
    fresh, ftok, _ = register_user("sf")
    month, _, _ = register_user("sm")
    old, _, _ = register_user("so")
    gone, _, _ = register_user("sg")
    psql(f"UPDATE auth_user SET last_login = now() - interval '10 days' WHERE id = {month['id']}")
    psql(f"UPDATE auth_user SET last_login = now() - interval '60 days' WHERE id = {old['id']}")
    psql(f"UPDATE auth_user SET is_active = false, last_login = NULL WHERE id = {gone['id']}")
    # A token used recently counts as activity even with an old login.
    psql(f"UPDATE user_authtoken SET last_used = now() - interval '1 day' WHERE user_id = {old['id']}")
    rid = make_residence(ftok)["id"]
    t = make_task(ftok, rid)
    make_task(ftok, rid)
    assert request("POST", f"/api/tasks/{t['id']}/complete/", token=ftok).status == 201
    a = request("GET", "/api/admin/stats/", token=tok).json
    delta = {k: a[k] - b[k] for k in STATS_KEYS - {"generated_at"}}
    assert delta == {"users": 4, "active_users": 3, "staff_users": 0, "residences": 1, "tasks": 2,
                     "completions": 1, "seen_last_7_days": 2, "seen_last_30_days": 3}, delta
    assert a["seen_last_30_days"] >= a["seen_last_7_days"] and a["users"] >= a["active_users"]


def test_using_a_token_records_activity_at_most_hourly():
    """An app that stays logged in for months is active: a token's use sets
    its last_used (when the auth cache misses, and at most once an hour),
    which the admin API's last_active and "seen" figures count."""
    _, staff = make_staff()
    user, tok, _ = register_user("tokenuse")
    uid = user["id"]
    key = psql(f"SELECT key_hash FROM user_authtoken WHERE user_id = {uid}")

    def use_token_uncached():
        redis_cli("DEL", f"auth:{key}")
        assert request("GET", "/api/auth/me/", token=tok).status == 200

    psql(f"UPDATE auth_user SET last_login = now() - interval '40 days' WHERE id = {uid}")
    psql(f"UPDATE user_authtoken SET last_used = now() - interval '2 hours' WHERE user_id = {uid}")
    use_token_uncached()
    assert psql(f"SELECT now() - last_used < interval '1 minute' FROM user_authtoken "
                f"WHERE user_id = {uid}") == "t"
    detail = request("GET", f"/api/admin/users/{uid}/", token=staff).json
    assert detail["last_active"][:10] == psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')"), detail
    # Used again within the hour: no write.
    psql(f"UPDATE user_authtoken SET last_used = now() - interval '10 minutes' WHERE user_id = {uid}")
    use_token_uncached()
    assert psql(f"SELECT now() - last_used > interval '9 minutes' FROM user_authtoken "
                f"WHERE user_id = {uid}") == "t"


def test_admin_wrong_method_is_405():
    _, tok = make_staff()
    r = request("DELETE", "/api/admin/users/1/", token=tok)
    assert_error(r, 405)
    assert r.headers["allow"] == "GET, PATCH"
    assert_error(request("POST", "/api/admin/stats/", {}, token=tok), 405)


def test_user_list_is_staff_filter():
    _, tok = make_staff()
    tag = unique("stf")
    made = [register_named(f"s{i}{tag}")[0] for i in range(3)]
    psql(f"UPDATE auth_user SET is_staff = true WHERE id = {made[1]['id']}")
    assert ids(users(tok, q=tag, is_staff="true")) == [made[1]["id"]]
    assert ids(users(tok, q=tag, is_staff="false")) == [made[0]["id"], made[2]["id"]]
    assert ids(users(tok, q=tag)) == [u["id"] for u in made]
    psql(f"UPDATE auth_user SET is_active = false WHERE id = {made[2]['id']}")
    assert ids(users(tok, q=tag, is_staff="false", is_active="true")) == [made[0]["id"]]
    assert users(tok, is_staff="true")["count"] == int(
        psql("SELECT count(*) FROM auth_user WHERE is_staff"))
    for bad in ("yes", "1", "TRUE", ""):
        r = request("GET", "/api/admin/users/?" + urllib.parse.urlencode({"is_staff": bad}), token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {"is_staff": "must be true or false"}


def test_residence_detail_members_and_task_counts():
    _, tok = make_staff()
    owner, otok, _ = register_user("rdo")
    member, _, _ = register_user("rdm")
    res = make_residence(otok, name=unique("Detail"), city="Lyon", time_zone="Europe/Paris")
    add_member(res["id"], member["id"])
    psql(f"UPDATE residence_residence_users SET joined_at = now() + interval '1 minute' "
         f"WHERE residence_id = {res['id']} AND user_id = {member['id']}")
    t = {k: make_task(otok, res["id"], title=k)["id"]
         for k in ("open", "overdue", "due_today", "done", "archived", "cancelled", "both")}
    psql(f"UPDATE task_task SET due_date = current_date + 30 WHERE id = {t['open']}")
    # Overdue is by the residence's date: three days ago is past everywhere.
    psql(f"UPDATE task_task SET due_date = current_date - 3 WHERE id = {t['overdue']}")
    psql(f"UPDATE task_task SET due_date = (now() AT TIME ZONE 'Europe/Paris')::date "
         f"WHERE id = {t['due_today']}")
    psql(f"UPDATE task_task SET completed = true, due_date = current_date - 3 WHERE id = {t['done']}")
    psql(f"UPDATE task_task SET archived = true, due_date = current_date - 3 WHERE id = {t['archived']}")
    psql(f"UPDATE task_task SET cancelled = true WHERE id = {t['cancelled']}")
    psql(f"UPDATE task_task SET cancelled = true, archived = true WHERE id = {t['both']}")
    r = request("GET", f"/api/admin/residences/{res['id']}/", token=tok)
    assert r.status == 200, r.text
    d = r.json
    assert set(d) == {"id", "name", "city", "country", "time_zone", "created_at", "owner", "members",
                      "task_counts"}
    assert (d["id"], d["name"], d["city"], d["time_zone"]) == (res["id"], res["name"], "Lyon",
                                                               "Europe/Paris")
    assert d["owner"] == {"id": owner["id"], "username": owner["username"], "email": owner["email"]}
    assert [(m["id"], m["username"], m["email"], m["is_owner"]) for m in d["members"]] == [
        (owner["id"], owner["username"], owner["email"], True),
        (member["id"], member["username"], member["email"], False)]
    assert d["members"][0]["joined_at"] < d["members"][1]["joined_at"]
    assert d["task_counts"] == {"total": 7, "open": 3, "completed": 1, "archived": 1,
                                "cancelled": 2, "overdue": 1}, d["task_counts"]
    empty = make_residence(otok)
    r = request("GET", f"/api/admin/residences/{empty['id']}/", token=tok)
    assert r.json["task_counts"] == {"total": 0, "open": 0, "completed": 0, "archived": 0,
                                     "cancelled": 0, "overdue": 0}
    assert [m["id"] for m in r.json["members"]] == [owner["id"]]
    assert_error(request("GET", "/api/admin/residences/999999999/", token=tok), 404, "not_found")


def utc_today():
    return datetime.now(timezone.utc).date()


def series(tok, days=None):
    r = request("GET", "/api/admin/stats/series/" + (f"?days={days}" if days is not None else ""),
                token=tok)
    assert r.status == 200, r.text
    return r.json


def by_date(s):
    return {e["date"]: (e["signups"], e["active"]) for e in s["series"]}


def test_series_has_every_day_oldest_first_ending_today():
    _, tok = make_staff()
    s = series(tok)
    today = utc_today()
    assert s["days"] == 30 and s["today"] == today.isoformat()
    assert s["today"] == psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
    assert [e["date"] for e in s["series"]] == [(today - timedelta(days=29 - i)).isoformat()
                                               for i in range(30)]
    for n in (1, 7, 365):
        got = series(tok, n)
        assert got["days"] == n and len(got["series"]) == n
        assert got["series"][-1]["date"] == today.isoformat()
        assert got["series"][0]["date"] == (today - timedelta(days=n - 1)).isoformat()
    for bad, msg in (("0", "must be a positive integer"), ("366", "must be at most 365"),
                     ("-3", "must be a positive integer"), ("x", "must be a positive integer"),
                     ("", "must be a positive integer"), ("30.5", "must be a positive integer")):
        r = request("GET", f"/api/admin/stats/series/?days={bad}", token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {"days": msg}, (bad, r.json)


def test_series_counts_signups_and_active_users_per_day_with_zeros():
    _, tok = make_staff()
    today = utc_today()
    d2, d5, d9 = (today - timedelta(days=n) for n in (2, 5, 9))
    before = by_date(series(tok, 10))
    a, atok, _ = register_user("sera")
    b, _, _ = register_user("serb")
    c, _, _ = register_user("serc")
    # Backdated: a and b joined 5 days ago, c 2 days ago (noon UTC).
    for u, d in ((a, d5), (b, d5), (c, d2)):
        psql(f"UPDATE auth_user SET date_joined = '{d} 12:00:00+00' WHERE id = {u['id']}")
    # Activity: a on days -5 and -2, b on day -2; a twice on one day is one user.
    psql(f"INSERT INTO auth_user_activity (user_id, day) VALUES ({a['id']}, '{d5}'), "
         f"({a['id']}, '{d2}'), ({b['id']}, '{d2}')")
    after = by_date(series(tok, 10))
    assert set(after) == set(before) and len(after) == 10
    delta = {k: (after[k][0] - before[k][0], after[k][1] - before[k][1]) for k in after}
    # Registering is activity today for all three (their join dates moved).
    assert delta[d5.isoformat()] == (2, 1), delta
    assert delta[d2.isoformat()] == (1, 2), delta
    assert delta[today.isoformat()] == (0, 3), delta
    assert all(v == (0, 0) for k, v in delta.items()
               if k not in (d5.isoformat(), d2.isoformat(), today.isoformat())), delta
    # A day nobody touches is there, as zeros.
    assert d9.isoformat() in after
    # A deleted user's activity goes with them (and their signup).
    psql(f"DELETE FROM auth_user WHERE id = {b['id']}")
    gone = by_date(series(tok, 10))
    assert gone[d5.isoformat()] == (after[d5.isoformat()][0] - 1, after[d5.isoformat()][1])
    assert gone[d2.isoformat()] == (after[d2.isoformat()][0], after[d2.isoformat()][1] - 1)
    assert request("GET", "/api/auth/me/", token=atok).status == 200


def activity_days(uid):
    return psql(f"SELECT string_agg(day::text, ',' ORDER BY day) FROM auth_user_activity "
                f"WHERE user_id = {uid}")


def test_activity_is_recorded_once_a_day_where_last_used_is_written_and_at_login():
    user, tok, password = register_user("act")
    uid = user["id"]
    today = utc_today().isoformat()
    assert activity_days(uid) == today  # registering
    key = psql(f"SELECT key_hash FROM user_authtoken WHERE user_id = {uid}")

    def use_token_uncached():
        redis_cli("DEL", f"auth:{key}")
        assert request("GET", "/api/auth/me/", token=tok).status == 200

    # A token whose last use is over an hour old writes last_used and the day.
    psql(f"DELETE FROM auth_user_activity WHERE user_id = {uid}")
    psql(f"UPDATE user_authtoken SET last_used = now() - interval '2 hours' WHERE user_id = {uid}")
    use_token_uncached()
    assert activity_days(uid) == today
    # Within the hour nothing is written, not even a missing day (the write
    # goes with last_used's, never on every request).
    psql(f"DELETE FROM auth_user_activity WHERE user_id = {uid}")
    use_token_uncached()
    assert activity_days(uid) == ""
    # The same day twice is one row.
    psql(f"UPDATE user_authtoken SET last_used = now() - interval '2 hours' WHERE user_id = {uid}")
    use_token_uncached()
    psql(f"UPDATE user_authtoken SET last_used = now() - interval '2 hours' WHERE user_id = {uid}")
    use_token_uncached()
    assert activity_days(uid) == today
    # Logging in records the day too.
    psql(f"DELETE FROM auth_user_activity WHERE user_id = {uid}")
    r = request("POST", "/api/auth/login/", {"username": user["username"], "password": password})
    assert r.status == 200, r.text
    assert activity_days(uid) == today
    # Days already there are kept.
    yesterday = (utc_today() - timedelta(days=1)).isoformat()
    psql(f"INSERT INTO auth_user_activity (user_id, day) VALUES ({uid}, '{yesterday}')")
    assert request("POST", "/api/auth/login/",
                   {"username": user["username"], "password": password}).status == 200
    assert activity_days(uid) == f"{yesterday},{today}"


VOLATILE_WORKER = {"state", "requests", "rss_kb", "request"}
VOLATILE_POOL = {"uptime_s", "idle", "busy", "max_active", "listen_queue", "max_listen_queue",
                 "requests"}


def comparable(status):
    """A pool status without what changes from one request to the next."""
    pool = {k: v for k, v in status["pool"].items() if k not in VOLATILE_POOL}
    workers = sorted(({k: v for k, v in w.items() if k not in VOLATILE_WORKER}
                      for w in status["workers"]), key=lambda w: w["pid"])
    return pool, workers


def test_system_answers_what_the_internal_endpoints_answer():
    _, tok = make_staff()
    r = request("GET", "/api/admin/system/", token=tok)
    assert r.status == 200, r.text
    assert set(r.json) == {"status", "ready"}
    ready = request("GET", "/api/ready/")
    assert ready.status == 200
    assert r.json["ready"] == {**ready.json, "status_code": 200}
    internal = request("GET", "/api/internal/status/")
    assert internal.status == 200, internal.text
    assert set(r.json["status"]) == set(internal.json) == {"pool", "workers"}
    assert set(r.json["status"]["pool"]) == set(internal.json["pool"])
    assert comparable(r.json["status"]) == comparable(internal.json)
    # The request asking is the busy one, seen from inside.
    busy = [w["request"] for w in r.json["status"]["workers"] if w["state"] == "busy"]
    assert any(b and b["path"] == "/api/admin/system/" for b in busy), busy


def test_system_reports_postgres_down_as_ready_does():
    _, tok = make_staff()
    # Tokens are resolved from Redis for 60 s after use; this one was just used.
    assert request("GET", "/api/admin/system/", token=tok).status == 200
    stack("pg-stop")
    try:
        ready = request("GET", "/api/ready/")
        r = request("GET", "/api/admin/system/", token=tok)
    finally:
        stack("pg-start")
        stack("fcgi-restart", os.environ["HD_BIN"])
    assert ready.status == 503, ready.text
    assert r.status == 200, r.text
    assert r.json["ready"] == {**ready.json, "status_code": 503}
    assert r.json["ready"]["error"]["code"] == "service_unavailable"
    assert set(r.json["status"]) == {"pool", "workers"}  # the pool is fine
    assert request("GET", "/api/admin/system/", token=tok).json["ready"]["status_code"] == 200
