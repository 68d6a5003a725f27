"""Push notifications, end to end: a write through nginx makes a feed entry,
honeydue-worker's push.send delivers it to the user's iOS devices through
APNs and Android devices through FCM, and the stack's push server
(tests/push_server.py: HTTP/2 over TLS, checking the provider token, the
OAuth assertion and the access token, the headers and the payload as Apple
and Google do) records what arrived. Then what each answer means: a dead
token deletes its device, 429 and 5xx are retried no sooner than
Retry-After, an expired provider or access token is renewed once, one bad
device never stops the others, a device that got a push never gets it
twice, and the counters in /metrics and the admin API's user view."""
import datetime
import glob
import json
import os
import secrets
import time

from lib import psql, register_user, request, stack
from mail_jobs import wait_idle
from test_residences import make_residence
from test_sharing import join, share
from test_tasks import make_task

PUSH_DIR = os.environ["HD_PUSH_DIR"]
SENT = os.path.join(PUSH_DIR, "sent")


def ios_token():
    return secrets.token_hex(32)


def android_token():
    return "fcm" + secrets.token_urlsafe(60).replace("-", "_")


def register_device(tok, platform, token):
    r = request("POST", "/api/devices/", {"platform": platform, "token": token}, token=tok)
    assert r.status in (200, 201), r.text
    return r.json["id"]


def household(prefix):
    """An owner and a member of one residence (the member joined; its
    member_joined entry went to the owner before any device existed)."""
    owner, otok, _ = register_user(prefix + "o")
    member, mtok, _ = register_user(prefix + "m")
    rid = make_residence(otok, name="Elm Street")["id"]
    assert join(mtok, share(otok, rid)["code"]).status == 200
    wait_idle()
    return (owner, otok), (member, mtok), rid


def records(token):
    """What the push server accepted for device TOKEN, oldest first."""
    out = []
    for path in sorted(glob.glob(os.path.join(SENT, "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
        except (FileNotFoundError, ValueError):
            continue
        if rec.get("token") == token:
            out.append(rec)
    return out


def wait_records(token, n=1, timeout=20):
    deadline = time.time() + timeout
    while len(records(token)) < n and time.time() < deadline:
        time.sleep(0.05)
    got = records(token)
    assert len(got) >= n, f"{len(got)} push(es) to {token[:12]}..., wanted {n}"
    return got


def at(rec):
    """When the push server accepted REC (Unix seconds)."""
    return datetime.datetime.fromisoformat(rec["time"].replace("Z", "+00:00")).timestamp()


def control(name, content):
    path = os.path.join(PUSH_DIR, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)
    return path


def push_rows(notification_id):
    return psql(f"SELECT string_agg(status || ':' || attempts, ',' ORDER BY device_id) "
                f"FROM notification_push WHERE notification_id = {notification_id}")


def device_exists(device_id):
    return psql(f"SELECT count(*) FROM notification_device WHERE id = {device_id}") == "1"


def metric(provider, outcome):
    text = request("GET", "/metrics").text
    for line in text.splitlines():
        if line.startswith(f'honeydue_push_total{{provider="{provider}",outcome="{outcome}"}}'):
            return int(line.split()[-1])
    raise AssertionError(f"no honeydue_push_total for {provider} {outcome}")


def newest_entry(tok, kind):
    feed = request("GET", "/api/notifications/", token=tok).json["results"]
    return next(n for n in feed if n["kind"] == kind)


def test_a_new_task_reaches_the_members_iphone_through_apns():
    (owner, otok), (member, mtok), rid = household("pi")
    token = ios_token()
    register_device(mtok, "ios", token)
    sent_before = metric("apns", "sent")
    task = make_task(otok, rid, title="Bleed the radiators")
    [rec] = wait_records(token)
    wait_idle()
    entry = newest_entry(mtok, "task_created")
    assert rec["provider"] == "apns" and rec["topic"] == os.environ["APNS_TOPIC"]
    assert rec["push_type"] == "alert" and rec["priority"] == 10
    assert rec["expiration"] > time.time() + 3600  # worth showing for a day
    assert rec["provider_token"]["kid"] == os.environ["APNS_KEY_ID"]
    assert rec["provider_token"]["iss"] == os.environ["APNS_TEAM_ID"]
    assert rec["warnings"] == []
    aps = rec["payload"]["aps"]
    assert aps["alert"] == {"title": "New task: Bleed the radiators", "body": entry["body"]}
    assert "Bleed the radiators" in aps["alert"]["body"] and "Elm Street" in aps["alert"]["body"]
    assert aps["badge"] == 1  # the member's unread count
    assert rec["payload"]["notification_id"] == entry["id"]
    assert rec["payload"]["kind"] == "task_created"
    assert rec["payload"]["residence_id"] == rid and rec["payload"]["task_id"] == task["id"]
    assert push_rows(entry["id"]) == "sent:1"
    assert metric("apns", "sent") == sent_before + 1
    # The actor's own write pushes nothing to the actor.
    assert not psql(f"SELECT count(*) FROM notification_push p JOIN notification_device d "
                    f"ON d.id = p.device_id WHERE d.user_id = {owner['id']}") != "0"


def test_a_completed_task_reaches_an_android_phone_through_fcm():
    (_, otok), (member, mtok), rid = household("pa")
    task = make_task(otok, rid, title="Descale the kettle")
    wait_idle()
    token = android_token()
    register_device(mtok, "android", token)
    assert request("POST", f"/api/tasks/{task['id']}/complete/", token=otok).status == 201
    [rec] = wait_records(token)
    wait_idle()
    entry = newest_entry(mtok, "task_completed")
    msg = rec["payload"]["message"]
    assert rec["provider"] == "fcm" and msg["token"] == token
    assert msg["notification"] == {"title": "Done: Descale the kettle", "body": entry["body"]}
    assert msg["data"] == {"notification_id": str(entry["id"]), "kind": "task_completed",
                           "residence_id": str(rid), "task_id": str(task["id"]), "badge": "2"}
    assert msg["android"]["priority"] == "HIGH" and msg["android"]["ttl"].endswith("s")
    assert msg["android"]["notification"]["notification_count"] == 2
    assert rec["warnings"] == []
    assert push_rows(entry["id"]) == "sent:1"


def test_push_follows_the_preferences():
    (_, otok), (member, mtok), rid = household("pp")
    token = ios_token()
    register_device(mtok, "ios", token)
    assert request("PATCH", "/api/notifications/preferences/", {"task_created": False},
                   token=mtok).status == 200
    make_task(otok, rid, title="No push: kind off")
    assert request("PATCH", "/api/notifications/preferences/", {"task_created": True, "push_enabled": False},
                   token=mtok).status == 200
    make_task(otok, rid, title="No push: push off")
    wait_idle()
    titles = [n["title"] for n in request("GET", "/api/notifications/", token=mtok).json["results"]]
    assert "New task: No push: push off" in titles  # the feed still has it
    assert records(token) == []
    assert psql(f"SELECT count(*) FROM notification_push p JOIN notification_device d ON d.id = p.device_id "
                f"WHERE d.user_id = {member['id']}") == "0"
    assert request("PATCH", "/api/notifications/preferences/", {"push_enabled": True},
                   token=mtok).status == 200
    make_task(otok, rid, title="Pushed again")
    assert wait_records(token)[0]["payload"]["aps"]["alert"]["title"] == "New task: Pushed again"


def test_dead_tokens_delete_their_devices_and_the_others_still_get_it():
    (_, otok), (member, mtok), rid = household("pd")
    good_ios, good_android = ios_token(), android_token()
    gone_ios, bad_ios, gone_android = ios_token(), ios_token(), android_token()
    bad_android = "not.an.fcm." + android_token()  # the API takes it; FCM says it is no token
    ids = {t: register_device(mtok, p, t) for p, t in (
        ("ios", gone_ios), ("ios", bad_ios), ("android", gone_android), ("android", bad_android),
        ("ios", good_ios), ("android", good_android))}
    control(f"unregistered/{gone_ios}", "")
    control(f"unregistered/{gone_android}", "")
    control(f"script/{bad_ios}", json.dumps([{"status": 400, "reason": "BadDeviceToken"}]))
    removed = metric("apns", "removed"), metric("fcm", "removed")
    make_task(otok, rid, title="Check the smoke alarms")
    wait_records(good_ios)
    wait_records(good_android)
    wait_idle()
    for t in (gone_ios, bad_ios, gone_android, bad_android):
        assert not device_exists(ids[t]), t
    assert device_exists(ids[good_ios]) and device_exists(ids[good_android])
    assert (metric("apns", "removed"), metric("fcm", "removed")) == (removed[0] + 2, removed[1] + 2)
    entry = newest_entry(mtok, "task_created")
    assert push_rows(entry["id"]) == "sent:1,sent:1"  # the dead devices' rows went with them
    r = request("GET", "/api/devices/", token=mtok).json
    assert sorted(d["token"] for d in r["results"]) == sorted([good_ios, good_android])


def test_429_and_503_are_retried_no_sooner_than_retry_after_and_nothing_twice():
    (_, otok), (member, mtok), rid = household("pr")
    slow, ok, android = ios_token(), ios_token(), android_token()
    for p, t in (("ios", slow), ("ios", ok), ("android", android)):
        register_device(mtok, p, t)
    control(f"script/{slow}", json.dumps([{"status": 429, "reason": "TooManyRequests", "retry_after": 2}]))
    control(f"script/{android}", json.dumps([{"status": 503}, {"status": 500}]))
    t0 = time.time()
    make_task(otok, rid, title="Clear the gutters")
    [first_ok] = wait_records(ok)
    [late] = wait_records(slow, timeout=30)
    [android_rec] = wait_records(android, timeout=30)
    wait_idle()
    assert at(late) - t0 >= 2.0, at(late) - t0  # not before Retry-After
    entry = newest_entry(mtok, "task_created")
    rows = push_rows(entry["id"]).split(",")
    assert rows[1] == "sent:1"  # the device that got it at once was not sent it again
    assert rows[0].startswith("sent:") and int(rows[0].split(":")[1]) >= 2
    assert rows[2] == "sent:3"
    assert len(records(ok)) == 1 and first_ok["payload"]["notification_id"] == entry["id"]
    assert android_rec["payload"]["message"]["data"]["notification_id"] == str(entry["id"])


def test_expired_provider_and_access_tokens_are_renewed_once_and_the_push_goes_out():
    (_, otok), (member, mtok), rid = household("pt")
    ios, android = ios_token(), android_token()
    register_device(mtok, "ios", ios)
    register_device(mtok, "android", android)
    make_task(otok, rid, title="Warm-up")  # the worker now holds a provider and an access token
    first_ios, first_android = wait_records(ios)[0], wait_records(android)[0]
    wait_idle()
    time.sleep(1.1)  # past the second the current tokens were made in
    control("expire-apns", "")
    control("revoke-fcm", "")
    try:
        make_task(otok, rid, title="Test the sump pump")
        second_ios, second_android = wait_records(ios, 2)[1], wait_records(android, 2)[1]
        wait_idle()
    finally:
        os.unlink(os.path.join(PUSH_DIR, "expire-apns"))
        os.unlink(os.path.join(PUSH_DIR, "revoke-fcm"))
    assert second_ios["provider_token"]["sha256"] != first_ios["provider_token"]["sha256"]
    assert second_android["access_token_sha256"] != first_android["access_token_sha256"]
    entry = newest_entry(mtok, "task_created")
    assert push_rows(entry["id"]) == "sent:1,sent:1"  # renewed within the one attempt


def test_a_stopped_push_service_is_retried_until_it_is_back():
    (_, otok), (member, mtok), rid = household("ps")
    token = ios_token()
    register_device(mtok, "ios", token)
    stack("push-stop")
    try:
        make_task(otok, rid, title="Reseal the bath")
        deadline = time.time() + 10
        entry = None
        while time.time() < deadline:
            feed = request("GET", "/api/notifications/", token=mtok).json["results"]
            entry = next((n for n in feed if n["kind"] == "task_created"), None)
            if entry and psql(f"SELECT attempts FROM notification_push WHERE notification_id = {entry['id']}") not in ("", "0"):
                break
            time.sleep(0.1)
        assert entry is not None
        time.sleep(0.5)
        assert psql(f"SELECT status FROM notification_push WHERE notification_id = {entry['id']}") == "pending"
        err = psql(f"SELECT last_error FROM notification_push WHERE notification_id = {entry['id']}")
        assert "onnect" in err, err  # libcurl's "Couldn't connect" / "Connection refused"
    finally:
        stack("push-start")
    [rec] = wait_records(token, timeout=30)
    assert rec["payload"]["notification_id"] == entry["id"]
    wait_idle()
    assert push_rows(entry["id"]).startswith("sent:")


def test_the_admin_user_view_shows_each_devices_last_push():
    (_, otok), (member, mtok), rid = household("pv")
    token = ios_token()
    register_device(mtok, "ios", token)
    gone = android_token()
    register_device(mtok, "android", gone)
    control(f"script/{gone}", json.dumps([{"status": 400, "reason": "INVALID_ARGUMENT",
                                           "message": "Request contains an invalid argument."}]))
    make_task(otok, rid, title="Oil the hinges")
    wait_records(token)
    wait_idle()
    staff, _, password = register_user("pvs")
    psql(f"UPDATE auth_user SET is_staff = true WHERE id = {staff['id']}")
    # a fresh login: a cached token resolution would not know of is_staff yet
    r = request("POST", "/api/auth/login/", {"username": staff["username"], "password": password})
    stok = r.json["token"]
    view = request("GET", f"/api/admin/users/{member['id']}/", token=stok)
    assert view.status == 200, view.text
    by_platform = {d["platform"]: d for d in view.json["devices"]}
    assert by_platform["ios"]["last_push_result"] == "sent" and by_platform["ios"]["last_push_at"]
    # A plain INVALID_ARGUMENT (not about the token) is a refusal of the message, not of the device.
    assert by_platform["android"]["last_push_result"] == "INVALID_ARGUMENT"


def test_the_daily_reminder_and_a_new_member_are_pushed_and_reminders_collapse():
    owner, otok, _ = register_user("pjo")
    token = ios_token()
    register_device(otok, "ios", token)
    # Reminder hour 0: due at the next periodic run (every 2 s), once the
    # user has a residence (its time zone) with a task due today.
    assert request("PATCH", "/api/notifications/preferences/", {"reminder_hour": 0}, token=otok).status == 200
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    rid = make_residence(otok, name="Birch Lane", time_zone="UTC")["id"]
    make_task(otok, rid, title="Due today", due_date=today)
    [reminder] = wait_records(token, timeout=30)
    assert reminder["payload"]["kind"] == "reminder"
    assert reminder["collapse_id"] == "reminder"  # tomorrow's replaces today's on the lock screen
    assert reminder["payload"]["aps"]["alert"]["title"] == "1 task to do today"
    wait_idle()
    unread = request("GET", "/api/notifications/?unread=true", token=otok).json["count"]
    assert reminder["payload"]["aps"]["badge"] == unread == 1
    _, ntok, _ = register_user("pjn")
    assert join(ntok, share(otok, rid)["code"]).status == 200
    joined = wait_records(token, 2)[1]
    assert joined["payload"]["kind"] == "member_joined"
    assert "Birch Lane" in joined["payload"]["aps"]["alert"]["title"]
    assert joined["collapse_id"] is None and joined["payload"]["residence_id"] == rid
    assert joined["payload"]["aps"]["badge"] == 2
