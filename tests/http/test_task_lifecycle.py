"""Tasks beyond CRUD: derived status in the residence's time zone, the
board (?group=status) and filters, archive/unarchive/cancel, skipping an
occurrence, assignment, and the notify.* jobs writes enqueue."""
import datetime
import zoneinfo

from lib import request, register_user, assert_error, psql, redis_cli, queued_jobs
from test_residences import make_residence, add_member
from test_tasks import make_task
from test_sharing import share, join

STATUSES = ["overdue", "due_soon", "upcoming", "completed", "archived"]


def local_today(tz):
    return datetime.datetime.now(zoneinfo.ZoneInfo(tz)).date()


def day(d, n=0):
    return (d + datetime.timedelta(days=n)).isoformat()


def listing(tok, query=""):
    r = request("GET", "/api/tasks/" + query, token=tok)
    assert r.status == 200, r.text
    return r


def test_status_is_derived_from_the_residence_local_date():
    _, tok, _ = register_user("st")
    rid = make_residence(tok, time_zone="America/New_York")["id"]
    today = local_today("America/New_York")
    want = {
        "yesterday": ("overdue", day(today, -1)),
        "today": ("due_soon", day(today)),
        "in7": ("due_soon", day(today, 7)),
        "in8": ("upcoming", day(today, 8)),
        "undated": ("upcoming", None),
    }
    ids = {}
    for title, (status, due) in want.items():
        t = make_task(tok, rid, title=title, due_date=due)
        assert t["status"] == status, (title, t)
        ids[title] = t["id"]
    done = make_task(tok, rid, title="done", due_date=day(today, -3))
    request("POST", f"/api/tasks/{done['id']}/complete/", token=tok)
    archived = make_task(tok, rid, title="archived", due_date=day(today, -3), archived=True)
    assert archived["status"] == "archived"
    got = {t["title"]: t["status"] for t in listing(tok).json["results"]}
    assert got == {**{k: v[0] for k, v in want.items()}, "done": "completed", "archived": "archived"}
    assert request("GET", f"/api/tasks/{ids['yesterday']}/", token=tok).json["status"] == "overdue"


def test_the_same_due_date_differs_across_time_zones():
    # Pago Pago (UTC-11) and Kiritimati (UTC+14) are always on different dates.
    _, tok, _ = register_user("tz")
    west = make_residence(tok, time_zone="Pacific/Pago_Pago")["id"]
    east = make_residence(tok, time_zone="Pacific/Kiritimati")["id"]
    due = day(local_today("Pacific/Pago_Pago"))
    assert due < day(local_today("Pacific/Kiritimati"))
    assert make_task(tok, west, due_date=due)["status"] == "due_soon"
    assert make_task(tok, east, due_date=due)["status"] == "overdue"


def test_board_groups_the_same_tasks_into_fixed_columns():
    _, tok, _ = register_user("bd")
    rid = make_residence(tok)["id"]
    today = local_today("UTC")
    make_task(tok, rid, title="late", due_date=day(today, -2))
    make_task(tok, rid, title="soon", due_date=day(today, 1))
    make_task(tok, rid, title="later", due_date=day(today, 30))
    make_task(tok, rid, title="shelved", archived=True)
    board = listing(tok, "?group=status").json
    assert [c["status"] for c in board["columns"]] == STATUSES
    cols = {c["status"]: [t["title"] for t in c["results"]] for c in board["columns"]}
    assert cols == {"overdue": ["late"], "due_soon": ["soon"], "upcoming": ["later"],
                    "completed": [], "archived": ["shelved"]}
    assert board["count"] == 4 and all(c["count"] == len(c["results"]) for c in board["columns"])
    flat = sorted(t["id"] for t in listing(tok).json["results"])
    assert sorted(t["id"] for c in board["columns"] for t in c["results"]) == flat
    # A filter applies to the board too.
    board = listing(tok, "?group=status&status=overdue").json
    assert board["count"] == 1 and [c["count"] for c in board["columns"]] == [1, 0, 0, 0, 0]


def test_filters():
    user, tok, _ = register_user("fl")
    a = make_residence(tok)["id"]
    b = make_residence(tok)["id"]
    today = local_today("UTC")
    make_task(tok, a, title="a-hvac", category="hvac", priority="high", due_date=day(today, 3))
    make_task(tok, a, title="a-plumb", category="plumbing", priority="low", due_date=day(today, 20),
              assigned_to_id=user["id"])
    make_task(tok, b, title="b-hvac", category="hvac", priority="high", due_date=day(today, -1))

    def titles(q):
        r = listing(tok, q)
        assert r.headers["x-cache"] == "bypass"
        return sorted(t["title"] for t in r.json["results"])

    assert titles(f"?residence={a}") == ["a-hvac", "a-plumb"]
    assert titles("?category=hvac") == ["a-hvac", "b-hvac"]
    assert titles("?priority=low") == ["a-plumb"]
    assert titles("?status=overdue") == ["b-hvac"]
    assert titles(f"?due_before={day(today, 3)}") == ["a-hvac", "b-hvac"]
    assert titles(f"?due_after={day(today, 3)}") == ["a-hvac", "a-plumb"]
    assert titles(f"?due_after={day(today)}&due_before={day(today, 10)}") == ["a-hvac"]
    assert titles("?assigned_to=me") == ["a-plumb"]
    assert titles(f"?assigned_to={user['id']}&residence={b}") == []
    assert titles(f"?residence={a}&category=hvac&priority=high") == ["a-hvac"]
    # Someone else's residence filters to nothing, never to their tasks.
    _, other, _ = register_user("fl2")
    make_task(other, make_residence(other)["id"], title="theirs")
    assert titles(f"?residence={make_residence(other)['id']}") == []
    # A filtered answer never replaces the cached unfiltered list.
    listing(tok)
    assert listing(tok).headers["x-cache"] == "hit" and listing(tok).json["count"] == 3


def test_bad_filters_are_422_naming_the_parameter():
    _, tok, _ = register_user("bf")
    for query, field in [("?residence=abc", "residence"), ("?residence=0", "residence"),
                         ("?status=late", "status"), ("?priority=meh", "priority"),
                         ("?due_before=2026-02-30", "due_before"), ("?due_after=tomorrow", "due_after"),
                         ("?assigned_to=you", "assigned_to"), ("?group=priority", "group"),
                         ("?category=" + "x" * 51, "category")]:
        r = request("GET", "/api/tasks/" + query, token=tok)
        assert_error(r, 422, "validation_failed")
        assert field in r.json["error"]["fields"], (query, r.json)


def test_cached_list_expires_at_the_next_local_midnight():
    # A residence whose local time is about 23:58 now: its tasks' statuses
    # change in two minutes, so its members' cached lists must expire then.
    user, tok, _ = register_user("mn")
    now = datetime.datetime.now(datetime.timezone.utc)
    target = now.replace(hour=23, minute=58, second=0, microsecond=0)
    offset = int((target - now).total_seconds() // 60) % 1440
    if offset > 720:
        offset -= 1440
    sign = "-" if offset >= 0 else "+"  # POSIX zones count west of Greenwich
    tz = f"XXX{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    make_residence(tok, time_zone=tz)
    assert listing(tok).headers["x-cache"] == "miss"
    ttl = int(redis_cli("TTL", f"tasks:user:{user['id']}")[0])
    assert 0 < ttl <= 200, ttl
    # With only UTC residences the ordinary TTL applies unless midnight is near.
    u2, t2, _ = register_user("mn2")
    make_residence(t2)
    listing(t2)
    left = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    ttl = int(redis_cli("TTL", f"tasks:user:{u2['id']}")[0])
    assert 0 < ttl <= min(300, left + 2), ttl


def test_archive_unarchive_cancel():
    _, tok, _ = register_user("ar")
    rid = make_residence(tok)["id"]
    t = make_task(tok, rid, due_date=day(local_today("UTC"), 2))
    r = request("POST", f"/api/tasks/{t['id']}/archive/", token=tok)
    assert r.status == 200 and r.json["archived"] is True and r.json["status"] == "archived"
    assert_error(request("POST", f"/api/tasks/{t['id']}/complete/", token=tok), 409, "conflict")
    r = request("POST", f"/api/tasks/{t['id']}/unarchive/", token=tok)
    assert r.json["archived"] is False and r.json["status"] == "due_soon"
    r = request("POST", f"/api/tasks/{t['id']}/cancel/", token=tok)
    assert r.json["cancelled"] is True and r.json["status"] == "archived"
    assert_error(request("POST", f"/api/tasks/{t['id']}/skip/", token=tok), 409, "conflict")
    r = request("POST", f"/api/tasks/{t['id']}/unarchive/", token=tok)
    assert r.json["cancelled"] is False and r.json["archived"] is False and r.json["status"] == "due_soon"


def test_lifecycle_actions_show_at_once_for_every_member():
    _, otok, _ = register_user("lo")
    member, mtok, _ = register_user("lm")
    rid = make_residence(otok)["id"]
    add_member(rid, member["id"])
    t = make_task(otok, rid, frequency="weekly", due_date=day(local_today("UTC"), 1))

    def status_seen_by(tok):
        r = listing(tok)
        return r.headers["x-cache"], [x["status"] for x in r.json["results"]], r.json["results"][0]["due_date"]

    for action, status in [("archive", "archived"), ("unarchive", "due_soon"), ("cancel", "archived"),
                           ("unarchive", "due_soon"), ("skip", "upcoming")]:
        for tok in (otok, mtok):
            listing(tok)
            assert listing(tok).headers["x-cache"] == "hit"
        r = request("POST", f"/api/tasks/{t['id']}/{action}/", token=mtok)
        assert r.status in (200, 201), r.text
        for tok in (otok, mtok):
            cache, statuses, _ = status_seen_by(tok)
            assert cache == "miss" and statuses == [status], (action, cache, statuses)


def test_skip_moves_a_recurring_task_and_is_kept_in_history():
    _, tok, _ = register_user("sk")
    rid = make_residence(tok)["id"]
    t = make_task(tok, rid, frequency="monthly", due_date="2027-01-31", schedule_anchor="completion")
    r = request("POST", f"/api/tasks/{t['id']}/skip/", {"notes": "away"}, token=tok)
    assert r.status == 201, r.text
    # Skipping counts from the skipped due date, even for a completion-anchored task.
    assert r.json["task"]["due_date"] == "2027-02-28" and r.json["completion"]["kind"] == "skipped"
    assert r.json["completion"]["previous_due_date"] == "2027-01-31"
    c = request("POST", f"/api/tasks/{t['id']}/complete/", token=tok).json["completion"]
    assert c["kind"] == "completed"
    hist = request("GET", f"/api/tasks/{t['id']}/completions/", token=tok).json
    assert [h["kind"] for h in hist["results"]] == ["completed", "skipped"]
    # Undo the completion, then the skip: the due dates come back in order.
    assert request("DELETE", f"/api/tasks/{t['id']}/completions/{c['id']}/", token=tok).status == 204
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["due_date"] == "2027-02-28"
    sid = r.json["completion"]["id"]
    assert request("DELETE", f"/api/tasks/{t['id']}/completions/{sid}/", token=tok).status == 204
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["due_date"] == "2027-01-31"


def test_a_one_off_task_cannot_be_skipped():
    _, tok, _ = register_user("sk1")
    t = make_task(tok, make_residence(tok)["id"], due_date="2027-03-01")
    r = request("POST", f"/api/tasks/{t['id']}/skip/", token=tok)
    assert_error(r, 409, "conflict")
    assert "recurring" in r.json["error"]["message"]
    assert request("GET", f"/api/tasks/{t['id']}/completions/", token=tok).json["count"] == 0


def test_assign_only_to_a_member_and_unassign_when_they_leave():
    owner, otok, _ = register_user("as")
    member, mtok, _ = register_user("am")
    stranger, _, _ = register_user("ax")
    rid = make_residence(otok)["id"]
    assert join(mtok, share(otok, rid)["code"]).status == 200
    t = make_task(otok, rid, assigned_to_id=member["id"])
    assert t["assigned_to_id"] == member["id"]
    r = request("POST", "/api/tasks/", {"residence_id": rid, "title": "x", "assigned_to_id": stranger["id"]},
                token=otok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"assigned_to_id": "is not a member of the residence"}
    r = request("PATCH", f"/api/tasks/{t['id']}/", {"assigned_to_id": stranger["id"]}, token=otok)
    assert_error(r, 422, "validation_failed")
    r = request("PATCH", f"/api/tasks/{t['id']}/", {"assigned_to_id": owner["id"]}, token=otok)
    assert r.status == 200 and r.json["assigned_to_id"] == owner["id"]
    r = request("PATCH", f"/api/tasks/{t['id']}/", {"assigned_to_id": None}, token=otok)
    assert r.json["assigned_to_id"] is None
    request("PATCH", f"/api/tasks/{t['id']}/", {"assigned_to_id": member["id"]}, token=otok)
    listing(otok)
    assert request("POST", f"/api/residences/{rid}/leave/", token=mtok).status in (200, 204)
    r = listing(otok)
    assert r.headers["x-cache"] == "miss" and r.json["results"][0]["assigned_to_id"] is None, r.json


def test_lifecycle_endpoints_hide_other_users_tasks_and_need_a_token():
    _, tok, _ = register_user("lx")
    _, other, _ = register_user("ly")
    t = make_task(tok, make_residence(tok)["id"], frequency="weekly", due_date="2027-01-01")
    for action in ("archive", "unarchive", "cancel", "skip"):
        assert_error(request("POST", f"/api/tasks/{t['id']}/{action}/", token=other), 404, "not_found")
        assert_error(request("POST", f"/api/tasks/{t['id']}/{action}/"), 401)
        assert_error(request("POST", f"/api/tasks/999999999/{action}/", token=tok), 404, "not_found")
    assert request("GET", f"/api/tasks/{t['id']}/", token=tok).json["status"] == "upcoming"


def test_writes_enqueue_notify_jobs():
    # The worker is paused so that the jobs stay where the API put them.
    from lib import stack
    stack("worker-stop")
    try:
        check_notify_jobs()
    finally:
        stack("worker-start")


def check_notify_jobs():
    owner, otok, _ = register_user("nq")
    member, mtok, _ = register_user("nm")
    rid = make_residence(otok)["id"]
    # Alone in the residence, the owner has nobody to tell: nothing queued.
    before = len(queued_jobs())
    alone = make_task(otok, rid)
    assert request("POST", f"/api/tasks/{alone['id']}/complete/", token=otok).status == 201
    assert len(queued_jobs()) == before
    assert join(mtok, share(otok, rid)["code"]).status == 200
    t = make_task(otok, rid)
    c = request("POST", f"/api/tasks/{t['id']}/complete/", token=otok).json["completion"]
    jobs = [j for j in queued_jobs()[before:] if j["payload"].get("actor_id") == owner["id"]
            or j["payload"].get("user_id") == member["id"]]
    assert [j["type"] for j in jobs] == ["notify.member_joined", "notify.task_created",
                                         "notify.task_completed"], jobs
    joined, created, completed = jobs
    assert created["payload"] == {"task_id": t["id"], "actor_id": owner["id"]}
    assert completed["payload"] == {"task_id": t["id"], "completion_id": c["id"], "actor_id": owner["id"]}
    assert joined["payload"] == {"residence_id": rid, "user_id": member["id"]}
    for j in jobs:
        assert j["queue"] == "default" and j["attempt"] == 0 and j["max_attempts"] > 0
        assert len(j["id"]) == 32 and j["enqueued_at"].endswith("Z")
    # An idempotent replay does not notify twice.
    hdr = {"Idempotency-Key": f"k-{t['id']}"}
    n = len(queued_jobs())
    request("POST", "/api/tasks/", {"residence_id": rid, "title": "once"}, token=otok, headers=hdr)
    request("POST", "/api/tasks/", {"residence_id": rid, "title": "once"}, token=otok, headers=hdr)
    assert len(queued_jobs()) == n + 1


def test_jobs_go_to_the_postgres_outbox_while_redis_is_down():
    from lib import stack
    from mail_jobs import wait_idle
    _, tok, _ = register_user("ob")
    _, mtok, _ = register_user("obm")
    rid = make_residence(tok)["id"]
    assert join(mtok, share(tok, rid)["code"]).status == 200  # someone to notify
    stack("worker-stop")  # so the outbox is seen before the worker drains it
    try:
        stack("redis-stop")
        try:
            r = request("POST", "/api/tasks/", {"residence_id": rid, "title": "while down"}, token=tok)
            assert r.status == 201
        finally:
            stack("redis-start")
        rows = psql(f"SELECT job->>'type', job->'payload'->>'task_id' FROM queue_outbox "
                    f"WHERE job->'payload'->>'task_id' = '{r.json['id']}'")
        assert rows == f"notify.task_created|{r.json['id']}"
    finally:
        stack("worker-start")
    wait_idle()  # the worker moves it to Redis and runs it
    assert psql("SELECT count(*) FROM queue_outbox") == "0"
