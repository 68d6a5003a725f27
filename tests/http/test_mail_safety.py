"""Mail goes only where it may. Nothing but a verification code goes to an
address nobody proved: notifications and digests wait until the address is
verified, checked when the mail is sent (a change after the job was queued
counts), and the sign-up sends one mail, the code, with no text a user
wrote. One-time codes never sit in Redis in clear: the job carries them
sealed (crypto_seal), bound to the job type and the address, and the
worker opens them only to write the mail."""
import datetime
import json
import os
import re
import time

from lib import fresh_source, psql, redis_cli, register_user, request, stack, unique
from mail_jobs import delivered, last_code, wait_idle
from test_jobs import cli, dead_jobs, wait_for, zone_off_utc_date
from test_residences import make_residence
from test_sharing import join, share
from test_tasks import make_task


def mails_to(address):
    return [m for m in delivered() if str(m["To"]).lower() == address.lower()]


def subjects_to(address):
    return [str(m["Subject"]) for m in mails_to(address)]


def verify(user, tok):
    code = last_code("email.verify", user["email"])
    r = request("POST", "/api/auth/verify-email/", {"code": code}, token=tok)
    assert r.status == 200 and r.json["email_verified"] is True, r.text


# ---- only the verification mail to an unverified address ----------------------

def test_a_sign_up_sends_one_mail_with_the_code_and_no_text_a_user_wrote():
    name = unique("su")
    email = name + "@example.com"
    r = request("POST", "/api/auth/register/", {"username": name, "email": email, "password": "a-good-password",
                                                "first_name": "Win a prize at evil.example"})
    assert r.status == 201, r.text
    wait_idle()
    mail = mails_to(email)
    assert [str(m["Subject"]) for m in mail] == ["Welcome to honeyDue: confirm your email address"]
    for part in (mail[0].get_body(("plain",)), mail[0].get_body(("html",))):
        body = part.get_content()
        assert "evil.example" not in body and name not in body, body
        assert "Welcome to honeyDue" in body
    assert re.search(r"^    \d{6}$", mail[0].get_body(("plain",)).get_content(), re.M)


def test_notifications_wait_until_the_address_is_verified():
    owner, otok, _ = register_user("mvo")
    member, mtok, _ = register_user("mvm")
    verify(owner, otok)
    rid = make_residence(otok, name="Verify house")["id"]
    assert join(mtok, share(otok, rid)["code"]).status == 200
    make_task(otok, rid, title="Heard in the feed only")
    wait_idle()
    feed = request("GET", "/api/notifications/", token=mtok).json["results"]
    assert "New task: Heard in the feed only" in [n["title"] for n in feed]
    assert not [s for s in subjects_to(member["email"]) if s.startswith("New task")]
    verify(member, mtok)
    make_task(otok, rid, title="Heard by email too")
    wait_idle()
    assert [s for s in subjects_to(member["email"]) if s.startswith("New task")] == ["New task: Heard by email too"]


def test_the_digest_waits_until_the_address_is_verified():
    tz, today = zone_off_utc_date()
    user, tok, _ = register_user("mvd")
    rid = make_residence(tok, name="Digest isle", time_zone=tz)["id"]
    make_task(tok, rid, title="Due today", due_date=today.isoformat())
    assert request("PATCH", "/api/notifications/preferences/", {"reminder_hour": 0}, token=tok).status == 200

    def reminded():
        return [n for n in request("GET", "/api/notifications/", token=tok).json["results"] if n["kind"] == "reminder"]
    wait_for(reminded, timeout=20, what="the reminder in the feed")
    wait_idle()
    assert not [s for s in subjects_to(user["email"]) if s.startswith("honeyDue: ")]
    # Verified, and the day given back: the next run mails the digest.
    verify(user, tok)
    psql(f"DELETE FROM notification_reminderlog WHERE user_id = {user['id']}")
    wait_for(lambda: [s for s in subjects_to(user["email"]) if s.startswith("honeyDue: ")], timeout=20,
             what="the digest email")


def notification_job(user, subject, with_user_id=True):
    payload = {"to": user["email"], "name": "x", "subject": subject, "text": "t"}
    if with_user_id:
        payload["user_id"] = user["id"]
    return json.dumps(payload)


def test_the_address_is_checked_again_when_the_mail_is_sent():
    user, tok, _ = register_user("mvs")
    verify(user, tok)
    s1, s2, s3 = unique("s1"), unique("s2"), unique("s3")
    stack("worker-stop")
    try:
        cli("enqueue", "email.notification", notification_job(user, s1))
        cli("enqueue", "email.notification", notification_job(user, s2, with_user_id=False))
        # Unverified after the jobs were queued, before they run.
        psql(f"UPDATE auth_user SET email_verified = false WHERE id = {user['id']}")
    finally:
        stack("worker-start")
    wait_idle()
    assert s1 not in subjects_to(user["email"]) and s2 not in subjects_to(user["email"])
    # Verified again: the same jobs send.
    psql(f"UPDATE auth_user SET email_verified = true WHERE id = {user['id']}")
    cli("enqueue", "email.notification", notification_job(user, s3))
    wait_idle()
    assert s3 in subjects_to(user["email"])


# ---- codes never in Redis in clear -----------------------------------------------

DUMP_LUA = """
local out = {} local cur = '0'
repeat
  local r = redis.call('SCAN', cur, 'COUNT', 1000) cur = r[1]
  for _, k in ipairs(r[2]) do
    local t = redis.call('TYPE', k)['ok'] local vs = {}
    if t == 'string' then vs = {redis.call('GET', k)}
    elseif t == 'list' then vs = redis.call('LRANGE', k, 0, -1)
    elseif t == 'hash' then vs = redis.call('HGETALL', k)
    elseif t == 'set' then vs = redis.call('SMEMBERS', k)
    elseif t == 'zset' then vs = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES') end
    out[#out + 1] = k
    for _, v in ipairs(vs) do out[#out + 1] = v end
  end
until cur == '0'
return out
"""


def redis_dump():
    """Every key of the stack's Redis with every value it holds, as one text."""
    return "\n".join(redis_cli("EVAL", DUMP_LUA, "0"))


def holds(text, code):
    """Whether TEXT holds CODE as a number of its own (not inside a longer one)."""
    return re.search(rf"(?<!\d){code}(?!\d)", text) is not None


def log_ends():
    d = os.path.join(os.environ["HD_STATE"], "log")
    return {f: os.path.getsize(os.path.join(d, f)) for f in ("fcgi.log", "worker.log")}


def logs_since(ends):
    d, out = os.path.join(os.environ["HD_STATE"], "log"), []
    for f, at in ends.items():
        with open(os.path.join(d, f), errors="replace") as fh:
            fh.seek(at)
            out.append(fh.read())
    return "\n".join(out)


def sign_up(prefix):
    name = unique(prefix)
    r = request("POST", "/api/auth/register/", {"username": name, "email": name + "@example.com",
                                                "password": "a-good-password"}, source=fresh_source())
    assert r.status == 201, r.text
    return r.json["user"]


def test_codes_never_sit_in_redis_or_logs_in_clear():
    ends = log_ends()
    stack("worker-stop")
    try:
        user = sign_up("sealed")
        r = request("POST", "/api/auth/password/reset/", {"email": user["email"]}, source=fresh_source())
        assert r.status == 202, r.text
        queued = redis_dump()
        assert user["email"] in queued  # the dump does see the queued jobs
    finally:
        stack("worker-start")
    codes = [last_code("email.verify", user["email"]), last_code("email.password_reset", user["email"])]
    after, logs = redis_dump(), logs_since(ends)
    for code in codes:
        assert code and not holds(queued, code), f"code {code} in Redis while queued"
        assert not holds(after, code), f"code {code} in Redis after delivery"
        assert not holds(logs, code), f"code {code} in a log"


def test_a_sealed_code_moved_to_another_address_opens_nowhere():
    # Someone who can write to Redis points a queued code at their own
    # address: the worker cannot open it there; the job dies, saying so and
    # no more.
    thief = unique("thief") + "@example.net"
    stack("worker-stop")
    try:
        user = sign_up("moved")
        queue = redis_cli("LRANGE", "hd:queue:critical", 0, -1)
        at = [i for i, line in enumerate(queue) if user["email"] in line]
        assert len(at) == 1, queue
        job = json.loads(queue[at[0]])
        job["payload"]["to"] = thief
        redis_cli("LSET", "hd:queue:critical", at[0], json.dumps(job))
    finally:
        stack("worker-start")
    wait_idle()
    assert not mails_to(thief) and not mails_to(user["email"])
    dead = [j for j in dead_jobs() if j["id"] == job["id"]]
    assert len(dead) == 1, dead
    assert "does not open" in dead[0]["last_error"], dead[0]
    assert not re.search(r"(?<!\d)\d{6}(?!\d)", dead[0]["last_error"])
