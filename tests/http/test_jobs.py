"""honeydue-worker against the real stack: delivery, retries with back-off,
the dead list and its CLI, lease recovery after SIGKILL, unique jobs, one
periodic run per period with two workers, the outbox drain, notifications
by feed and email, account emails, and the daily digest in a time zone whose
date differs from UTC's. The test stack runs the worker on a short clock
(tests/run.sh: retry base 200 ms, lease 3 s, reminders every 2 s)."""
import datetime
import json
import os
import re
import signal
import subprocess
import time
import zoneinfo

from lib import psql, redis_cli, register_user, request, stack, unique
from mail_jobs import delivered, wait_idle
from test_residences import make_residence
from test_sharing import join, share
from test_tasks import make_task

BIN = os.path.join(os.environ["HD_BIN"], "honeydue-worker")


def cli(*args):
    p = subprocess.run([BIN, "jobs", *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"honeydue-worker jobs {args}: {p.stdout}{p.stderr}"
    return p.stdout


def stats():
    return json.loads(cli("stats"))


def count(name):
    return stats().get(name, 0)


def dead_jobs():
    return [json.loads(line) for line in cli("dead", "10000").splitlines() if line.strip()]


def wait_for(fn, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def dead_with(tag):
    return [j for j in dead_jobs() if j["payload"].get("tag") == tag]


def test_a_job_runs_once_and_is_acknowledged():
    before = count("processed:noop")
    assert cli("enqueue", "noop", json.dumps({"tag": unique("ok")})).strip() == "queued"
    wait_for(lambda: count("processed:noop") == before + 1, what="the noop job")
    wait_idle()
    assert count("processed:noop") == before + 1


def test_a_failing_job_is_retried_with_back_off_then_dead_with_its_error():
    tag = unique("fail")
    failed, died = count("failed:noop"), count("dead:noop")
    t0 = time.time()
    cli("enqueue", "noop", json.dumps({"tag": tag, "fail": "boom " + tag}))
    job = wait_for(lambda: dead_with(tag), what="the dead job")[0]
    elapsed = time.time() - t0
    # noop has 3 attempts: two retries after 100-200 ms and 200-400 ms.
    assert job["attempt"] == 3 == job["max_attempts"] and job["last_error"] == "boom " + tag
    assert elapsed >= 0.3, elapsed
    assert count("failed:noop") == failed + 2 and count("dead:noop") == died + 1


def test_a_fatal_job_dies_at_once_and_the_cli_retries_and_deletes_it():
    tag = unique("fatal")
    cli("enqueue", "noop", json.dumps({"tag": tag, "fatal": "never"}))
    job = wait_for(lambda: dead_with(tag), what="the dead job")[0]
    assert job["attempt"] == 1 and job["last_error"] == "never"
    died = count("dead:noop")
    assert cli("retry", job["id"]).strip() == "1"
    wait_for(lambda: count("dead:noop") == died + 1, what="the retried job to run and die again")
    again = dead_with(tag)
    assert len(again) == 1 and again[0]["attempt"] == 1  # it ran again, from the start
    assert cli("delete", job["id"]).strip() == "1"
    assert dead_with(tag) == []


def test_a_job_whose_worker_is_killed_runs_again_after_its_lease():
    tag = unique("lease")
    done, recovered = count("processed:noop"), count("recovered:noop")
    cli("enqueue", "noop", json.dumps({"tag": tag, "sleep_ms": 1500}))
    # Find the process running it, and SIGKILL it mid-job.
    wait_for(lambda: any(tag in v for v in redis_cli("HVALS", "hd:active")), what="the job to start")
    supervisor = int(open(os.path.join(os.environ["HD_STATE"], "worker.pid")).read())
    children = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True).stdout.split()
    assert children, "no job worker processes"
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)
    # The lease (3 s) runs out, another process takes the job again and it
    # completes; it counts as one failed attempt.
    wait_for(lambda: count("processed:noop") == done + 1, timeout=20, what="the recovered job")
    assert count("recovered:noop") == recovered + 1
    assert dead_with(tag) == []


def test_a_unique_job_is_not_enqueued_twice_while_pending():
    key = unique("uniq")
    stack("worker-stop")
    try:
        assert cli("enqueue", "noop", "{}", "--unique", key).strip() == "queued"
        assert cli("enqueue", "noop", "{}", "--unique", key).strip() == "duplicate"
    finally:
        stack("worker-start")
    wait_idle()
    # Done: the key is free again.
    assert cli("enqueue", "noop", "{}", "--unique", key).strip() == "queued"
    wait_idle()


def test_a_unique_job_can_be_queued_again_once_it_is_running():
    # Unique while pending, not while running: a job that wakes a sweeper
    # (documents.sweep) enqueued while the sweep runs must not be dropped,
    # or what it was for waits for the next periodic run.
    key = unique("run")
    assert cli("enqueue", "noop", '{"sleep_ms": 5000}', "--unique", key).strip() == "queued"
    wait_for(lambda: any(json.loads(v).get("unique_key") == key
                         for v in redis_cli("HVALS", "hd:active") if v),
             what="the job running")
    # Within 2 s of its 5 s run (taken and started are two steps).
    wait_for(lambda: cli("enqueue", "noop", "{}", "--unique", key).strip() == "queued",
             timeout=2, what="the same unique job queued while the first runs")
    wait_idle()


def test_a_long_unique_key_is_free_again_once_its_job_ran():
    # The producer and the consumer build hd:unique:<key> the same way, so
    # the job's acknowledgement releases exactly the claim its enqueue took.
    key = unique("long") + "k" * 250
    assert cli("enqueue", "noop", "{}", "--unique", key).strip() == "queued"
    wait_idle()
    assert cli("enqueue", "noop", "{}", "--unique", key).strip() == "queued"
    wait_idle()


def test_a_refused_redis_auth_is_an_outage_for_the_job_worker():
    # A password this Redis refuses: the consumer's connection counts as
    # down (as the cache's does), it does not go on unauthenticated.
    url = re.sub(r"^redis://[^@/]*@", "redis://:wrong-password@", os.environ["REDIS_URL"])
    assert "wrong-password" in url
    p = subprocess.run([BIN, "jobs", "stats"], env=dict(os.environ, REDIS_URL=url),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and p.stdout.strip() == "{}", p.stdout + p.stderr
    assert "redis unavailable (AUTH refused: WRONGPASS" in p.stderr, p.stderr
    assert "wrong-password" not in p.stderr


def test_two_workers_run_each_periodic_job_once_per_period():
    # Reminders run every 2 s here. A second worker (two more processes)
    # joins for a while: every period still runs exactly once.
    def slots():
        return sorted(int(k.rsplit(":", 1)[1]) for k in redis_cli("KEYS", "hd:periodic:reminders.daily:*"))
    # First a run by whoever holds the scheduler lock now (a holder killed by
    # an earlier test is replaced within the lock's 5 s).
    first = count("processed:reminders.daily")
    wait_for(lambda: count("processed:reminders.daily") > first, what="a periodic run")
    before_runs, before_slots = count("processed:reminders.daily"), slots()
    second = subprocess.Popen([BIN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        time.sleep(7)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    wait_idle()
    new = [s for s in slots() if s not in before_slots]
    runs = count("processed:reminders.daily") - before_runs
    assert len(new) >= 2 and runs == len(new), (new, runs)
    assert new == list(range(new[0], new[0] + len(new))), new  # no period skipped, none twice


def test_the_outbox_is_drained_once_redis_is_back():
    owner, otok, _ = register_user("ob1")
    member, mtok, _ = register_user("ob2")
    rid = make_residence(otok)["id"]
    assert join(mtok, share(otok, rid)["code"]).status == 200
    stack("redis-stop")
    try:
        t = make_task(otok, rid, title="Created while Redis was down")
    finally:
        stack("redis-start")

    def created():
        feed = request("GET", "/api/notifications/", token=mtok).json["results"]
        return [n["title"] for n in feed if n["kind"] == "task_created"]
    # Not wait_idle(): the drain takes the rows out of the outbox before it
    # queues them, so for a moment neither holds the job.
    wait_for(created, what="the notification of the job parked in the outbox")
    wait_idle()
    assert created() == ["New task: " + t["title"]]


def mails_to(address):
    return [m for m in delivered() if str(m["To"]).lower() == address.lower()]


def verified(user):
    """USER's address marked verified (mail other than a code goes only to such)."""
    psql(f"UPDATE auth_user SET email_verified = true WHERE id = {user['id']}")
    return user


def test_members_are_notified_by_feed_and_email_as_they_chose():
    owner, otok, _ = register_user("nf1")
    member, mtok, _ = register_user("nf2")
    verified(owner)
    verified(member)
    rid = make_residence(otok, name="Lake house")["id"]
    assert join(mtok, share(otok, rid)["code"]).status == 200
    wait_idle()
    joined = [n for n in request("GET", "/api/notifications/", token=otok).json["results"]
              if n["kind"] == "member_joined"]
    assert len(joined) == 1 and "Lake house" in joined[0]["title"]
    t = make_task(otok, rid, title="Bleed the radiators")
    wait_idle()
    feed = request("GET", "/api/notifications/", token=mtok).json["results"]
    assert [n["title"] for n in feed] == ["New task: Bleed the radiators"]
    assert feed[0]["data"]["task_id"] == t["id"]
    mail = [m for m in mails_to(member["email"]) if m["Subject"] == "New task: Bleed the radiators"]
    assert len(mail) == 1 and "Bleed the radiators" in mail[0].get_body(("plain",)).get_content()
    # The actor is not notified of their own write.
    assert not [n for n in request("GET", "/api/notifications/", token=otok).json["results"]
                if n["kind"] == "task_created"]
    # A member who turned a kind (or email) off gets nothing of it.
    r = request("PATCH", "/api/notifications/preferences/", {"task_completed": False}, token=mtok)
    assert r.status == 200, r.text
    request("PATCH", "/api/notifications/preferences/", {"email_enabled": False}, token=otok)
    request("POST", f"/api/tasks/{t['id']}/complete/", token=otok)
    t2 = make_task(mtok, rid, title="Clean the filter")
    wait_idle()
    assert not [n for n in request("GET", "/api/notifications/", token=mtok).json["results"]
                if n["kind"] == "task_completed"]
    owner_feed = request("GET", "/api/notifications/", token=otok).json["results"]
    assert [n["title"] for n in owner_feed if n["kind"] == "task_created"] == ["New task: " + t2["title"]]
    assert not [m for m in mails_to(owner["email"]) if "Clean the filter" in str(m["Subject"])]


def test_a_temporary_smtp_failure_is_retried_and_the_mail_arrives():
    fail = os.path.join(os.environ["HD_MAIL_DIR"], ".fail")
    def failures():
        return count("failed:email.verify")
    failed = failures()
    with open(fail, "w") as f:
        f.write("1")  # the sink answers 451 to the next message only
    try:
        user, _, _ = register_user("smtp451")
        wait_idle()
    finally:
        if os.path.exists(fail):
            os.unlink(fail)
    assert failures() == failed + 1  # the sign-up's one email met the 451
    subjects = sorted(str(m["Subject"]) for m in mails_to(user["email"]))
    assert subjects == ["Welcome to honeyDue: confirm your email address"], subjects


def zone_off_utc_date():
    """A time zone whose local date is not UTC's right now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    tz = "Pacific/Kiritimati" if now.hour >= 11 else "Pacific/Pago_Pago"
    local = now.astimezone(zoneinfo.ZoneInfo(tz)).date()
    assert local != now.date()
    return tz, local


def test_daily_digest_in_a_time_zone_whose_date_is_not_utcs():
    tz, today = zone_off_utc_date()
    user, tok, _ = register_user("dg")
    verified(user)
    rid = make_residence(tok, name="Atoll", time_zone=tz)["id"]
    day = datetime.timedelta(days=1)
    make_task(tok, rid, title="Due today", due_date=today.isoformat())
    make_task(tok, rid, title="Overdue", due_date=(today - day).isoformat())
    make_task(tok, rid, title="Tomorrow", due_date=(today + day).isoformat())
    make_task(tok, rid, title="Done", due_date=(today - day).isoformat(), archived=True)
    # Reminder hour 0: due as soon as the next periodic run (every 2 s).
    assert request("PATCH", "/api/notifications/preferences/", {"reminder_hour": 0}, token=tok).status == 200

    def digest():
        return [m for m in mails_to(user["email"]) if str(m["Subject"]).startswith("honeyDue: ")]
    wait_for(digest, timeout=20, what="the digest email")
    wait_idle()
    mail = digest()[0]
    assert mail["Subject"] == f"honeyDue: 2 tasks for {today.isoformat()}"
    text = mail.get_body(("plain",)).get_content()
    assert "Due today" in text and "Overdue" in text and "overdue since" in text
    assert "Tomorrow" not in text and "Done" not in text
    html = mail.get_body(("html",)).get_content()
    assert "Due today" in html
    feed = [n for n in request("GET", "/api/notifications/", token=tok).json["results"] if n["kind"] == "reminder"]
    assert len(feed) == 1 and feed[0]["data"]["local_date"] == today.isoformat()
    # Never twice for the same day: more periodic runs, and a worker restart.
    time.sleep(4.5)
    stack("worker-stop")
    stack("worker-start")
    time.sleep(2.5)
    wait_idle()
    assert len(digest()) == 1
    assert len([n for n in request("GET", "/api/notifications/", token=tok).json["results"]
                if n["kind"] == "reminder"]) == 1
    assert psql(f"SELECT local_date FROM notification_reminderlog WHERE user_id = {user['id']}") == today.isoformat()
    # The sweep moved the next reminder to the next local day, at hour 0.
    assert next_reminder(user["id"], tz) == f"{today + day} 00:00:00"


def next_reminder(uid, tz):
    """The user's stored next reminder as local time in TZ, or "" (none)."""
    return psql(f"SELECT due_at AT TIME ZONE '{tz}' FROM notification_reminder_due WHERE user_id = {uid}")


def assert_owed(uid, tz, hour):
    """The stored next reminder is today's at HOUR in TZ, or tomorrow's when
    today's has been sent (read in one snapshot: the sweep runs meanwhile)."""
    row = psql(f"""SELECT (s.due_at AT TIME ZONE '{tz}')::text,
                          (now() AT TIME ZONE '{tz}')::date::text,
                          EXISTS (SELECT 1 FROM notification_reminderlog l WHERE l.user_id = {uid}
                                  AND l.local_date = (now() AT TIME ZONE '{tz}')::date)
                   FROM notification_reminder_due s WHERE s.user_id = {uid}""")
    assert row, "no next reminder stored"
    due, today, sent = row.split("|")
    day = datetime.date.fromisoformat(today) + datetime.timedelta(days=1 if sent == "t" else 0)
    assert due == f"{day} {hour:02d}:00:00", (row, hour)


def zone_before_hour(limit, avoid=None):
    """A time zone whose local hour is now below LIMIT (and is not AVOID)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    for tz in ("Asia/Tokyo", "Europe/Paris", "America/New_York", "Pacific/Honolulu",
               "Asia/Kolkata", "America/Sao_Paulo", "Australia/Sydney"):
        if tz != avoid and now.astimezone(zoneinfo.ZoneInfo(tz)).hour < limit:
            return tz, now.astimezone(zoneinfo.ZoneInfo(tz)).date()
    raise AssertionError("no time zone fits")


def test_each_users_next_reminder_is_stored_and_kept_current():
    """The sweep reads notification_reminder_due (due_at indexed) instead of
    every user's memberships; triggers keep it right when preferences,
    memberships, a residence's time zone or the active flag change."""
    user, tok, _ = register_user("nr")
    uid = user["id"]
    tz, today = zone_before_hour(20)
    hour = datetime.datetime.now(zoneinfo.ZoneInfo(tz)).hour + 2  # not due yet
    assert request("PATCH", "/api/notifications/preferences/", {"reminder_hour": hour},
                   token=tok).status == 200
    assert next_reminder(uid, tz) == ""  # no residence: nothing to remind of
    rid = make_residence(tok, name="Sched", time_zone=tz)["id"]
    assert next_reminder(uid, tz) == f"{today} {hour:02d}:00:00"
    assert request("PATCH", "/api/notifications/preferences/", {"reminder_hour": hour + 1},
                   token=tok).status == 200
    assert next_reminder(uid, tz) == f"{today} {hour + 1:02d}:00:00"
    # Another time zone: the same hour there (today's, or tomorrow's once the
    # sweep, every 2 s, has sent today's reminder).
    tz2, _ = zone_before_hour(24, avoid=tz)
    assert request("PATCH", f"/api/residences/{rid}/", {"time_zone": tz2}, token=tok).status == 200
    assert_owed(uid, tz2, hour + 1)
    # Reminders off, then on again.
    assert request("PATCH", "/api/notifications/preferences/", {"reminder": False},
                   token=tok).status == 200
    assert next_reminder(uid, tz2) == ""
    assert request("PATCH", "/api/notifications/preferences/", {"reminder": True},
                   token=tok).status == 200
    assert_owed(uid, tz2, hour + 1)
    # A deactivated user has none; reactivated, one again.
    psql(f"UPDATE auth_user SET is_active = false WHERE id = {uid}")
    assert next_reminder(uid, tz2) == ""
    psql(f"UPDATE auth_user SET is_active = true WHERE id = {uid}")
    assert_owed(uid, tz2, hour + 1)
    # A removed reminder log row makes that day owed again.
    psql(f"DELETE FROM notification_reminderlog WHERE user_id = {uid}")
    assert_owed(uid, tz2, hour + 1)
    # The last residence gone: none.
    assert request("DELETE", f"/api/residences/{rid}/", token=tok).status == 204
    assert next_reminder(uid, tz2) == ""


def test_password_reset_email_carries_a_code_that_works():
    user, _, _ = register_user("rs")
    assert request("POST", "/api/auth/password/reset/", {"email": user["email"]}).status == 202
    wait_idle()
    mail = [m for m in mails_to(user["email"]) if m["Subject"] == "Your honeyDue password reset code"]
    assert len(mail) == 1
    for part in (mail[0].get_body(("plain",)), mail[0].get_body(("html",))):
        assert part is not None
    assert mail[0]["Message-ID"] and mail[0]["Date"] and mail[0]["MIME-Version"] == "1.0"
    import re
    code = re.search(r"^    (\d{6})$", mail[0].get_body(("plain",)).get_content(), re.M).group(1)
    r = request("POST", "/api/auth/password/reset/confirm/",
                {"email": user["email"], "code": code, "new_password": "brand-new-pass-1"})
    assert r.status == 200, r.text


def push_raw(job):
    """Queue a job document as it is (what another producer could send)."""
    redis_cli("LPUSH", f"hd:queue:{job.get('queue', 'default')}", json.dumps(job))


def test_a_job_that_overruns_its_timeout_ends_and_counts_as_a_failed_attempt():
    tag = unique("slow")
    push_raw({"id": tag.replace("_", "")[:32].ljust(32, "0"), "type": "noop", "queue": "default",
              "payload": {"tag": tag, "sleep_ms": 6000}, "attempt": 0, "max_attempts": 1,
              "timeout": 1, "enqueued_at": "2026-11-23T00:00:00Z", "unique_key": None, "run_at": None})
    # The alarm ends its process after 1 + 1 s; the lease (3 s) then expires
    # and, with no attempt left, the job is dead.
    job = wait_for(lambda: dead_with(tag), timeout=20, what="the timed-out job in the dead list")[0]
    assert job["attempt"] == 1 and job["last_error"].startswith("lease expired")
    log = open(os.path.join(os.environ["HD_STATE"], "log", "worker.log")).read()
    assert "job overran its timeout" in log


def test_sigterm_lets_the_running_job_finish_and_takes_no_new_one():
    done = count("processed:noop")
    tag = unique("term")
    cli("enqueue", "noop", json.dumps({"tag": tag, "sleep_ms": 1500}))
    wait_for(lambda: any(tag in v for v in redis_cli("HVALS", "hd:active")), what="the job to start")
    pidfile = os.path.join(os.environ["HD_STATE"], "worker.pid")
    supervisor = int(open(pidfile).read())
    t0 = time.time()
    os.kill(supervisor, signal.SIGTERM)
    later = unique("later")
    cli("enqueue", "noop", json.dumps({"tag": later}))
    try:
        wait_for(lambda: not os.path.exists(f"/proc/{supervisor}") or
                 open(f"/proc/{supervisor}/stat").read().split()[2] == "Z",
                 timeout=25, what="the worker to stop")
        assert time.time() - t0 < 20
        assert count("processed:noop") == done + 1  # the running job finished...
        assert any(later in v for v in redis_cli("LRANGE", "hd:queue:default", 0, -1))  # ...no new one
        assert not [v for v in redis_cli("HVALS", "hd:active") if v]
    finally:
        stack("worker-start")
    wait_idle()
    assert count("processed:noop") == done + 2


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(x) for x in out.split())


def test_sighup_rereads_the_config_and_replaces_processes_after_their_job():
    """The worker's supervisor takes SIGHUP like the API's master: the config
    file is read again, new processes start with it, and the old ones finish
    the job they hold first. A broken file changes nothing."""
    d = os.path.join(os.environ["HD_STATE"], unique("hup"))
    os.makedirs(d)
    conf, log = os.path.join(d, "worker.conf"), os.path.join(d, "worker.log")
    with open(conf, "w") as f:
        f.write("HONEYDUE_JOB_WORKERS=1\n")
    stack("worker-stop")  # only this worker takes jobs here
    sup = subprocess.Popen([BIN], env=dict(os.environ, HONEYDUE_CONFIG=conf, LOG_FILE=log),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        first = wait_for(lambda: len(children(sup.pid)) == 1 and children(sup.pid), what="one process")
        done = count("processed:noop")
        tag = unique("hupjob")
        cli("enqueue", "noop", json.dumps({"tag": tag, "sleep_ms": 1500}))
        wait_for(lambda: any(tag in v for v in redis_cli("HVALS", "hd:active")), what="the job to start")
        with open(conf, "w") as f:
            f.write("HONEYDUE_JOB_WORKERS=3\n")
        sup.send_signal(signal.SIGHUP)
        three = wait_for(lambda: (lambda c: len(c) == 3 and not set(first) & set(c) and c)(children(sup.pid)),
                         timeout=15, what="three new processes and the old one gone")
        assert count("processed:noop") == done + 1 and not dead_with(tag)  # finished, not cut
        assert "reloaded: 1 job worker(s) retiring, 3 starting" in open(log).read()
        # A file that does not read keeps the running configuration.
        with open(conf, "w") as f:
            f.write("HONEYDUE_JOB_WORKERS=1\nnot a setting\n")
        sup.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload aborted" in open(log).read(), what="the aborted reload")
        time.sleep(0.5)
        assert children(sup.pid) == three
        cli("enqueue", "noop", json.dumps({"tag": unique("after")}))
        wait_for(lambda: count("processed:noop") == done + 2, what="a job after the reloads")
    finally:
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=30) == 0
        stack("worker-start")


def start_worker(**env):
    """A private honeydue-worker supervisor (its log in a fresh directory)."""
    d = os.path.join(os.environ["HD_STATE"], unique("pool"))
    os.makedirs(d)
    log = os.path.join(d, "worker.log")
    sup = subprocess.Popen([BIN], env=dict(os.environ, LOG_FILE=log, HONEYDUE_SHUTDOWN_TIMEOUT="20", **env),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return sup, log


def test_sigttin_and_sigttou_resize_the_job_pool():
    """The worker's pool runs on the API's supervisor, so it takes the same
    signals: one process more, one fewer, never below one."""
    sup, log = start_worker(HONEYDUE_JOB_WORKERS="2")
    try:
        first = wait_for(lambda: (lambda c: len(c) == 2 and c)(children(sup.pid)), what="two processes")
        sup.send_signal(signal.SIGTTIN)
        three = wait_for(lambda: (lambda c: len(c) == 3 and c)(children(sup.pid)), what="a third process")
        assert set(first) <= set(three)
        for _ in range(3):
            sup.send_signal(signal.SIGTTOU)
            time.sleep(0.3)
        one = wait_for(lambda: (lambda c: len(c) == 1 and c)(children(sup.pid)), what="one process")
        time.sleep(0.5)
        assert children(sup.pid) == one
        assert "job worker(s): 3" in open(log).read() and "job worker(s): 1" in open(log).read()
    finally:
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=30) == 0


def test_sigint_stops_the_job_pool_without_waiting_for_the_job():
    stack("worker-stop")  # so the private pool takes the job
    sup, log = start_worker(HONEYDUE_JOB_WORKERS="1")
    try:
        wait_for(lambda: children(sup.pid), what="the job process")
        tag = unique("cut")  # one attempt: when its lease expires it is dead, not run again
        push_raw({"id": tag.replace("_", "")[:32].ljust(32, "0"), "type": "noop", "queue": "default",
                  "payload": {"tag": tag, "sleep_ms": 8000}, "attempt": 0, "max_attempts": 1,
                  "timeout": 30, "enqueued_at": "2026-11-23T00:00:00Z", "unique_key": None, "run_at": None})
        wait_for(lambda: any(tag in v for v in redis_cli("HVALS", "hd:active")), what="the job to start")
        t0 = time.time()
        sup.send_signal(signal.SIGINT)
        assert sup.wait(timeout=10) == 0
        assert time.time() - t0 < 3, "SIGINT waited for the job"
        assert "SIGINT: stopping now" in open(log).read()
    finally:
        if sup.poll() is None:
            sup.kill()
        stack("worker-start")
    # The cut job was held under its lease: when that expires it counts as
    # its failed attempt (nothing lost, nothing run twice at once).
    job = wait_for(lambda: dead_with(tag), timeout=20, what="the cut job in the dead list")[0]
    assert job["last_error"].startswith("lease expired")


def test_a_pool_size_out_of_range_is_refused_at_start_for_both_binaries():
    """0 or more than 128 processes is a configuration mistake: both binaries
    say so and exit 1, instead of quietly running some other number."""
    for bad in ("0", "129"):
        p = subprocess.run([BIN], env=dict(os.environ, HONEYDUE_JOB_WORKERS=bad),
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1 and "HONEYDUE_JOB_WORKERS must be 1 to 128" in p.stderr, p.stderr
        sock = os.path.join(os.environ["HD_STATE"], unique("sock"))
        p = subprocess.run([os.path.join(os.environ["HD_BIN"], "honeydue-fcgi"), "--listen", sock],
                           env=dict(os.environ, HONEYDUE_WORKERS=bad), capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 1 and "HONEYDUE_WORKERS must be 1 to 128" in p.stderr, p.stderr


def metric(text, name, default=None):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    assert default is not None, f"{name} not in /metrics:\n{text}"
    return default


def test_metrics_show_queue_sizes_and_job_counters():
    r = request("GET", "/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain"), r.text
    assert metric(r.text, "honeydue_redis_up") == 1
    processed = metric(r.text, 'honeydue_jobs_total{type="noop",outcome="processed"}', 0)
    stack("worker-stop")
    try:
        for _ in range(3):
            cli("enqueue", "noop", "{}")
        r = request("GET", "/metrics")
        assert metric(r.text, 'honeydue_jobs_queued{queue="default"}') >= 3
        for name in ('honeydue_jobs_queued{queue="critical"}', "honeydue_jobs_scheduled",
                     "honeydue_jobs_running", "honeydue_jobs_dead"):
            metric(r.text, name)
    finally:
        stack("worker-start")
    wait_idle()
    r = request("GET", "/metrics")
    assert metric(r.text, 'honeydue_jobs_total{type="noop",outcome="processed"}') == processed + 3
    # The queue drains (a periodic job such as documents.sweep, or a push
    # another test caused, may land on it meanwhile: wait for idle again).
    for _ in range(5):
        if metric(request("GET", "/metrics").text, 'honeydue_jobs_queued{queue="default"}') == 0:
            break
        wait_idle()
    assert metric(request("GET", "/metrics").text, 'honeydue_jobs_queued{queue="default"}') == 0
    # Only loopback (and the pod network) may scrape.
    assert request("GET", "/metrics", source="127.0.0.2").status == 403


def noop_job(tag, queue="default", **extra):
    job = {"id": (tag.replace("_", "") + "0" * 32)[:32], "type": "noop", "queue": queue,
           "payload": {"tag": tag}, "attempt": 0, "max_attempts": 3, "timeout": 10,
           "enqueued_at": "2026-11-23T00:00:00Z", "unique_key": None, "run_at": None}
    job.update(extra)
    return job


def job_lines():
    """The worker's per-job log lines, parsed."""
    lines = open(os.path.join(os.environ["HD_STATE"], "log", "worker.log")).read().splitlines()
    return [json.loads(line) for line in lines if '"event":"job"' in line and line.startswith("{")]


def test_a_scheduled_job_waits_for_its_run_at():
    tag = unique("later")
    run_at = int(time.time()) + 3
    job = noop_job(tag, run_at=run_at)
    redis_cli("ZADD", "hd:scheduled", run_at, json.dumps(job))
    time.sleep(1.5)
    assert not [j for j in job_lines() if j.get("id") == job["id"]]  # not yet
    wait_for(lambda: [j for j in job_lines() if j.get("id") == job["id"]], what="the scheduled job")
    assert time.time() >= run_at


def test_queues_are_weighted_and_each_job_logs_one_json_line():
    # With the worker stopped, 20 low and 20 critical jobs wait; once it runs,
    # critical (weight 6) goes mostly first, yet low (weight 1) is not starved.
    stack("worker-stop")
    tags = {}
    try:
        for q in ("low", "critical"):
            for n in range(20):
                tag = unique(q[:4])
                tags[noop_job(tag)["id"]] = q
                redis_cli("LPUSH", f"hd:queue:{q}", json.dumps(noop_job(tag, queue=q)))
    finally:
        stack("worker-start")
    wait_idle()
    ran = [j for j in job_lines() if j.get("id") in tags]
    assert len(ran) == 40
    for j in ran:  # one line per job, with these fields
        assert j["type"] == "noop" and j["outcome"] == "ok" and j["attempt"] == 1
        assert isinstance(j["dur_ms"], float) and j["level"] == "info" and j["ts"].endswith("Z")
    order = [tags[j["id"]] for j in ran]
    mean = {q: sum(i for i, x in enumerate(order) if x == q) / 20 for q in ("low", "critical")}
    assert mean["critical"] < mean["low"], order
