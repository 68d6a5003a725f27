"""Notifications: the feed (order, filter, pagination, marking read,
deleting), the preferences (defaults stored lazily, partial changes), and
that nobody reaches another user's notifications.

honeydue-worker writes the feed; until it exists the tests insert rows with
psql, as it will."""
import json

from lib import request, register_user, assert_error, psql, unique

ITEM_KEYS = {"id", "kind", "title", "body", "data", "read_at", "created_at"}
PREF_DEFAULTS = {"task_created": True, "task_completed": True, "task_due": True,
                 "task_overdue": True, "member_joined": True, "reminder": True,
                 "email_enabled": True, "push_enabled": True, "reminder_hour": 8}


def notify(user_id, kind="system", title="Hello", body="", data=None, read=False, age_minutes=0):
    """Insert one notification for user_id as the worker would; return its id."""
    data_sql = json.dumps(data or {}).replace("'", "''")
    read_sql = "now()" if read else "NULL"
    return int(psql(
        "INSERT INTO notification_notification (user_id, kind, title, body, data, read_at, created_at) "
        f"VALUES ({user_id}, '{kind}', '{title}', '{body}', '{data_sql}', {read_sql}, "
        f"now() - interval '{age_minutes} minutes') RETURNING id"))


def feed(tok, query=""):
    r = request("GET", f"/api/notifications/{query}", token=tok)
    assert r.status == 200, r.text
    return r.json


def test_feed_is_unread_first_then_newest_first():
    user, tok, _ = register_user("nf")
    uid = user["id"]
    read_old = notify(uid, "task_completed", "read old", read=True, age_minutes=40)
    unread_old = notify(uid, "task_due", "unread old", data={"task_id": 7, "residence_id": 3},
                        age_minutes=30)
    read_new = notify(uid, "member_joined", "read new", read=True, age_minutes=20)
    unread_new = notify(uid, "reminder", "unread new", body="Two tasks due", age_minutes=10)
    f = feed(tok)
    assert f["count"] == 4 and f["unread_count"] == 2
    assert f["next"] is None and f["previous"] is None
    assert [n["id"] for n in f["results"]] == [unread_new, unread_old, read_new, read_old]
    first = f["results"][0]
    assert set(first) == ITEM_KEYS
    assert first["kind"] == "reminder" and first["title"] == "unread new"
    assert first["body"] == "Two tasks due" and first["read_at"] is None
    assert first["created_at"].endswith("+00:00")
    assert f["results"][1]["data"] == {"task_id": 7, "residence_id": 3}
    assert f["results"][2]["read_at"] is not None
    assert list(f) == ["count", "next", "previous", "unread_count", "results"]


def test_unread_filter():
    user, tok, _ = register_user("nu")
    notify(user["id"], read=True)
    keep = notify(user["id"])
    f = feed(tok, "?unread=true")
    assert f["count"] == 1 and f["unread_count"] == 1 and [n["id"] for n in f["results"]] == [keep]
    assert feed(tok, "?unread=false")["count"] == 2
    r = request("GET", "/api/notifications/?unread=yes", token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"unread": "must be true or false"}


def test_pagination_edges():
    user, tok, _ = register_user("np")
    ids = [notify(user["id"], title=f"n{i}", age_minutes=10 - i) for i in range(5)]
    newest_first = list(reversed(ids))
    p1 = feed(tok, "?page_size=2")
    assert p1["count"] == 5 and p1["next"] == 2 and p1["previous"] is None
    assert [n["id"] for n in p1["results"]] == newest_first[:2]
    p2 = feed(tok, "?page=2&page_size=2")
    assert p2["next"] == 3 and p2["previous"] == 1
    assert [n["id"] for n in p2["results"]] == newest_first[2:4]
    p3 = feed(tok, "?page=3&page_size=2")
    assert p3["next"] is None and p3["previous"] == 2
    assert [n["id"] for n in p3["results"]] == newest_first[4:]
    # Past the end: an empty page (not a 404) pointing back at the last page.
    for page in (4, 999999999):
        beyond = feed(tok, f"?page={page}&page_size=2")
        assert beyond["count"] == 5 and beyond["results"] == []
        assert beyond["next"] is None and beyond["previous"] == 3
    assert feed(tok, "?page_size=100")["count"] == 5
    assert feed(tok, "?page=1")["results"][0]["id"] == newest_first[0]


def test_default_page_size_is_20():
    user, tok, _ = register_user("nd")
    psql("INSERT INTO notification_notification (user_id, kind, title) "
         f"SELECT {user['id']}, 'system', 'n' || i FROM generate_series(1, 21) i")
    f = feed(tok)
    assert f["count"] == 21 and len(f["results"]) == 20 and f["next"] == 2
    assert len(feed(tok, "?page=2")["results"]) == 1


def test_bad_page_parameters_are_422():
    _, tok, _ = register_user("nb")
    cases = [
        ("?page=0", "page", "must be a positive integer"),
        ("?page=-1", "page", "must be a positive integer"),
        ("?page=abc", "page", "must be a positive integer"),
        ("?page=1.5", "page", "must be a positive integer"),
        ("?page=", "page", "must be a positive integer"),
        ("?page=1000000001", "page", "is out of range"),
        ("?page=99999999999999999999999", "page", "is out of range"),
        ("?page_size=0", "page_size", "must be a positive integer"),
        ("?page_size=101", "page_size", "must be at most 100"),
        ("?page_size=ten", "page_size", "must be a positive integer"),
    ]
    for query, field, msg in cases:
        r = request("GET", f"/api/notifications/{query}", token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {field: msg}, (query, r.json)
    r = request("GET", "/api/notifications/?page=0&page_size=500&unread=1", token=tok)
    assert set(r.json["error"]["fields"]) == {"page", "page_size", "unread"}


def test_mark_one_read():
    user, tok, _ = register_user("nr")
    nid = notify(user["id"], "task_created", "New task", data={"task_id": 1})
    other = notify(user["id"])
    r = request("POST", f"/api/notifications/{nid}/read/", token=tok)
    assert r.status == 200, r.text
    assert set(r.json) == ITEM_KEYS and r.json["id"] == nid and r.json["read_at"] is not None
    assert r.json["data"] == {"task_id": 1}
    f = feed(tok)
    assert f["unread_count"] == 1 and [n["id"] for n in f["results"]] == [other, nid]
    # Marking again keeps the first time it was read.
    again = request("POST", f"/api/notifications/{nid}/read/", token=tok)
    assert again.status == 200 and again.json["read_at"] == r.json["read_at"]


def test_read_all_answers_how_many():
    user, tok, _ = register_user("na")
    stranger, stranger_tok, _ = register_user("nx")
    for _ in range(3):
        notify(user["id"])
    notify(user["id"], read=True)
    theirs = notify(stranger["id"])
    r = request("POST", "/api/notifications/read-all/", token=tok)
    assert r.status == 200 and r.json == {"marked": 3}
    assert feed(tok)["unread_count"] == 0
    assert request("POST", "/api/notifications/read-all/", token=tok).json == {"marked": 0}
    f = feed(stranger_tok)
    assert f["unread_count"] == 1 and f["results"][0]["id"] == theirs


def test_delete():
    user, tok, _ = register_user("ndel")
    nid = notify(user["id"])
    assert request("DELETE", f"/api/notifications/{nid}/", token=tok).status == 204
    assert feed(tok)["count"] == 0
    assert_error(request("DELETE", f"/api/notifications/{nid}/", token=tok), 404, "not_found")


def test_another_users_notification_is_404():
    owner, owner_tok, _ = register_user("no")
    _, other_tok, _ = register_user("nx")
    nid = notify(owner["id"])
    missing = nid + 1000000
    for target in (nid, missing):
        assert_error(request("POST", f"/api/notifications/{target}/read/", token=other_tok),
                     404, "not_found")
        assert_error(request("DELETE", f"/api/notifications/{target}/", token=other_tok),
                     404, "not_found")
    a = request("POST", f"/api/notifications/{nid}/read/", token=other_tok)
    b = request("POST", f"/api/notifications/{missing}/read/", token=other_tok)
    assert a.json == b.json
    assert feed(other_tok) == {"count": 0, "next": None, "previous": None, "unread_count": 0,
                               "results": []}
    assert request("POST", "/api/notifications/read-all/", token=other_tok).json == {"marked": 0}
    # Untouched for its owner.
    f = feed(owner_tok)
    assert f["unread_count"] == 1 and f["results"][0]["id"] == nid


def test_notification_endpoints_need_a_token():
    for method, path in (("GET", "/api/notifications/"), ("POST", "/api/notifications/1/read/"),
                         ("POST", "/api/notifications/read-all/"),
                         ("DELETE", "/api/notifications/1/"),
                         ("GET", "/api/notifications/preferences/"),
                         ("PATCH", "/api/notifications/preferences/")):
        r = request(method, path, {} if method == "PATCH" else None)
        assert_error(r, 401, "not_authenticated")
        r = request(method, path, {} if method == "PATCH" else None, token="0" * 40)
        assert_error(r, 401, "not_authenticated")


def test_wrong_method_is_405():
    _, tok, _ = register_user("nm")
    r = request("PUT", "/api/notifications/preferences/", {}, token=tok)
    assert_error(r, 405)
    assert r.headers["allow"] == "GET, PATCH"
    assert_error(request("GET", "/api/notifications/1/read/", token=tok), 405)


def test_feed_query_uses_its_index():
    # The planner prefers a scan on a tiny table; with scans off, it must
    # still find an index that serves the feed's filter and order.
    plan = psql("SET enable_seqscan = off; SET enable_bitmapscan = off; EXPLAIN "
                "SELECT id FROM notification_notification WHERE user_id = 1 "
                "ORDER BY read_at IS NULL DESC, created_at DESC, id DESC LIMIT 20")
    assert "notification_notification_feed_idx" in plan and "Sort" not in plan, plan


def test_kind_is_checked_by_the_table():
    user, _, _ = register_user("nk")
    out = psql("DO $$ BEGIN INSERT INTO notification_notification (user_id, kind, title) "
               f"VALUES ({user['id']}, 'spam', 'x'); RAISE NOTICE 'inserted'; "
               "EXCEPTION WHEN check_violation THEN RAISE NOTICE 'rejected'; END $$; "
               f"SELECT count(*) FROM notification_notification WHERE user_id = {user['id']}")
    assert out == "0"


# ---- preferences ----

def stored_prefs(user_id):
    return psql("SELECT count(*) FROM notification_preference WHERE user_id = " + str(user_id))


def test_preferences_default_and_are_stored_on_first_read():
    user, tok, _ = register_user("pd")
    assert stored_prefs(user["id"]) == "0"
    r = request("GET", "/api/notifications/preferences/", token=tok)
    assert r.status == 200 and r.json == PREF_DEFAULTS
    assert stored_prefs(user["id"]) == "1"
    assert request("GET", "/api/notifications/preferences/", token=tok).json == PREF_DEFAULTS


def test_worker_view_gives_defaults_to_users_without_a_row():
    user, tok, _ = register_user("pv")
    row = psql("SELECT row_to_json(e) FROM notification_preference_effective e "
               f"WHERE user_id = {user['id']}")
    view = json.loads(row)
    assert view.pop("user_id") == user["id"]
    assert view == PREF_DEFAULTS == request("GET", "/api/notifications/preferences/", token=tok).json
    # The documented query for the worker: who wants a kind.
    request("PATCH", "/api/notifications/preferences/", {"task_created": False}, token=tok)
    wants = psql("SELECT count(*) FROM notification_preference_effective e "
                 f"WHERE e.user_id = {user['id']} AND (to_jsonb(e) ->> 'task_created')::boolean")
    assert wants == "0"
    wants = psql("SELECT count(*) FROM notification_preference_effective e "
                 f"WHERE e.user_id = {user['id']} AND (to_jsonb(e) ->> 'task_due')::boolean")
    assert wants == "1"


def test_patch_changes_only_the_given_fields():
    user, tok, _ = register_user("pp")
    # The first write, before any read, starts from the defaults.
    r = request("PATCH", "/api/notifications/preferences/",
                {"email_enabled": False, "reminder_hour": 0}, token=tok)
    assert r.status == 200, r.text
    assert r.json == dict(PREF_DEFAULTS, email_enabled=False, reminder_hour=0)
    r = request("PATCH", "/api/notifications/preferences/",
                {"member_joined": False, "reminder_hour": 23, "user_id": 1, "color": "red"},
                token=tok)
    expect = dict(PREF_DEFAULTS, email_enabled=False, member_joined=False, reminder_hour=23)
    assert r.status == 200 and r.json == expect
    assert request("GET", "/api/notifications/preferences/", token=tok).json == expect
    assert request("PATCH", "/api/notifications/preferences/", {}, token=tok).json == expect
    assert psql("SELECT email_enabled, member_joined, reminder_hour FROM notification_preference "
                f"WHERE user_id = {user['id']}") == "f|f|23"


def test_preferences_validation():
    _, tok, _ = register_user("pval")
    cases = [
        ({"reminder_hour": 24}, "reminder_hour", "is out of range"),
        ({"reminder_hour": -1}, "reminder_hour", "is out of range"),
        ({"reminder_hour": "8"}, "reminder_hour", "must be an integer"),
        ({"reminder_hour": 7.5}, "reminder_hour", "must be an integer"),
        ({"reminder_hour": None}, "reminder_hour", "may not be null"),
        ({"email_enabled": "yes"}, "email_enabled", "must be true or false"),
        ({"push_enabled": 1}, "push_enabled", "must be true or false"),
        ({"task_due": None}, "task_due", "may not be null"),
    ]
    for body, field, msg in cases:
        r = request("PATCH", "/api/notifications/preferences/", body, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {field: msg}, (body, r.json)
    assert_error(request("PATCH", "/api/notifications/preferences/", raw="{", token=tok,
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(request("PATCH", "/api/notifications/preferences/", raw="[]", token=tok,
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(request("PATCH", "/api/notifications/preferences/", raw="reminder_hour=3",
                         token=tok, headers={"Content-Type": "text/plain"}), 415)
    assert request("GET", "/api/notifications/preferences/", token=tok).json == PREF_DEFAULTS


def test_preferences_are_per_user():
    _, a_tok, _ = register_user("pa")
    _, b_tok, _ = register_user("pb")
    request("PATCH", "/api/notifications/preferences/", {"push_enabled": False}, token=a_tok)
    assert request("GET", "/api/notifications/preferences/", token=b_tok).json == PREF_DEFAULTS
    assert request("GET", "/api/notifications/preferences/",
                   token=a_tok).json["push_enabled"] is False


def test_deleting_a_user_deletes_their_notification_rows():
    user, tok, _ = register_user("ncas")
    uid = user["id"]
    notify(uid)
    request("GET", "/api/notifications/preferences/", token=tok)
    assert request("POST", "/api/devices/", {"platform": "ios", "token": unique("device_token")},
                   token=tok).status == 201
    psql(f"DELETE FROM auth_user WHERE id = {uid}")
    assert psql("SELECT (SELECT count(*) FROM notification_notification WHERE user_id = %d) + "
                "(SELECT count(*) FROM notification_preference WHERE user_id = %d) + "
                "(SELECT count(*) FROM notification_device WHERE user_id = %d)" % (uid, uid, uid)) == "0"
