"""mail_jobs.py - what the API asked to email, read where a user would see it.

The API does not send mail itself: it enqueues jobs (fcgi-app/queue.h) that
honeydue-worker sends over SMTP to the stack's sink, which keeps each
message as a file in $HD_MAIL_DIR. jobs() waits until the worker has nothing
left to do (queues, leases, retries and the Postgres outbox all empty), then
reads the delivered messages back into the shape of the jobs that produced
them ({"type", "queue", "payload": {"to", "name", "code", "expires_at"}}),
so a test checks what really reached the inbox. Also here: client addresses
for tests that must not share throttle counters, and the keyed token hash
the auth cache uses (to prove a token really was cached).
"""
import email
import email.policy
import glob
import hashlib
import json
import os
import re
import subprocess
import time

from lib import psql, redis_cli_command, fresh_source  # noqa: F401 (fresh_source: the tests import it from here)


def redis(*args):
    """Run redis-cli against the stack's Redis; return its raw stdout."""
    argv, env = redis_cli_command()
    p = subprocess.run([*argv, "--raw", *args], env=env, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, f"redis-cli {args}: {p.stderr}"
    return p.stdout


# Subject -> (job type, queue): the templates of jobs/email.c.
SUBJECTS = {
    "Welcome to honeyDue": ("email.welcome", "default"),
    "Your honeyDue verification code": ("email.verify", "critical"),
    "Welcome to honeyDue: confirm your email address": ("email.verify", "critical"),
    "Your honeyDue password reset code": ("email.password_reset", "critical"),
    "Your honeyDue email address was changed": ("email.address_changed", "critical"),
}


def wait_idle(timeout=15):
    """Wait until honeydue-worker has run everything that was queued."""
    script = ("local n = redis.call('HLEN', 'hd:active') + redis.call('ZCARD', 'hd:scheduled') "
              "for _, q in ipairs({'critical', 'default', 'low'}) do "
              "n = n + redis.call('LLEN', 'hd:queue:' .. q) end return n")
    deadline = time.time() + timeout
    while True:
        busy = int(redis("EVAL", script, "0").strip() or 0)
        busy += int(psql("SELECT count(*) FROM queue_outbox"))
        if busy == 0:
            return
        assert time.time() < deadline, f"the job worker still has {busy} job(s) after {timeout} s"
        time.sleep(0.05)


def delivered():
    """Every message the sink received, newest first, parsed."""
    out = []
    for path in sorted(glob.glob(os.path.join(os.environ["HD_MAIL_DIR"], "*.eml")), reverse=True):
        with open(path, "rb") as f:
            out.append(email.message_from_binary_file(f, policy=email.policy.default))
    return out


def as_job(msg):
    """A delivered account email in the shape of the job that sent it."""
    job_type, queue = SUBJECTS.get(str(msg["Subject"]), (None, None))
    text = msg.get_body(("plain",)).get_content()
    payload = {"to": str(msg["To"])}
    m = re.match(r"Hello (.*),\n", text)
    payload["name"] = m.group(1) if m else ""
    if job_type != "email.welcome":
        code = re.search(r"^    (\d{6})$", text, re.M)
        until = re.search(r"^It works until (.*)\.$", text, re.M)
        payload["code"] = code.group(1) if code else None
        payload["expires_at"] = until.group(1) if until else None
    return {"type": job_type, "queue": queue, "payload": payload}


def jobs(job_type, to=None, queue=None):
    """Every JOB_TYPE email delivered (to address TO, any case), newest first,
    once the worker is idle. QUEUE is accepted for the older callers."""
    wait_idle()
    found = [as_job(m) for m in delivered()]
    return [j for j in found if j["type"] == job_type
            and (to is None or j["payload"]["to"].lower() == to.lower())]


def last_code(job_type, to):
    """The code of the newest JOB_TYPE email to TO (fails when there is none)."""
    js = jobs(job_type, to)
    assert js, f"no {job_type} email to {to}"
    return js[0]["payload"]["code"]


def auth_cache_key(token):
    """The Redis key under which the API caches TOKEN's resolution:
    auth:<BLAKE2b-256(token) keyed with a key derived from SECRET_KEY>."""
    secret = os.environ["SECRET_KEY"].encode()
    key = hashlib.blake2b(b"honeydue-token-v1" + secret, digest_size=32).digest()
    return "auth:" + hashlib.blake2b(token.encode(), key=key, digest_size=32).hexdigest()
