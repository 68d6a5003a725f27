"""mail_jobs.py - what the API asked to email, read where the tests can see it.

The API does not send mail itself: it enqueues jobs (fcgi-app/queue.h) that
honeydue-worker turns into email. The test stack runs no worker, so a job
stays in its Redis list (hd:queue:<queue>, newest first) or, when Redis was
down, in the Postgres table queue_outbox; these helpers read both, so the
tests can use the code a user would have received. Also here: client
addresses for tests that must not share throttle counters, and the keyed
token hash the auth cache uses (to prove a token really was cached).
"""
import hashlib
import json
import os
import random
import subprocess
import urllib.parse

from lib import psql

_REDIS = urllib.parse.urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def redis(*args):
    """Run redis-cli against the stack's Redis; return its raw stdout."""
    p = subprocess.run(["redis-cli", "-h", _REDIS.hostname or "127.0.0.1", "-p", str(_REDIS.port or 6379),
                        "-n", (_REDIS.path or "/0").lstrip("/") or "0", "--raw", *args],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, f"redis-cli {args}: {p.stderr}"
    return p.stdout


def jobs(job_type, to=None, queue="critical"):
    """Every pending job of JOB_TYPE (to address TO, any case), newest first:
    those in Redis, then those in the Postgres outbox."""
    found = []
    for line in redis("LRANGE", f"hd:queue:{queue}", "0", "-1").splitlines():
        if line.strip():
            found.append(json.loads(line))
    outbox = psql("SELECT job::text FROM queue_outbox ORDER BY id DESC")
    found += [json.loads(line) for line in outbox.splitlines() if line.strip()]
    return [j for j in found if j["type"] == job_type
            and (to is None or j["payload"].get("to", "").lower() == to.lower())]


def last_code(job_type, to):
    """The code of the newest JOB_TYPE email to TO (fails when there is none)."""
    queue = "default" if job_type == "email.welcome" else "critical"
    js = jobs(job_type, to, queue)
    assert js, f"no {job_type} job for {to}"
    return js[0]["payload"]["code"]


def fresh_source():
    """A loopback client address no other test uses (127.x.y.z, x >= 2), so
    per-address throttle counters start at zero."""
    return f"127.{random.randint(2, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def auth_cache_key(token):
    """The Redis key under which the API caches TOKEN's resolution:
    auth:<BLAKE2b-256(token) keyed with a key derived from SECRET_KEY>."""
    secret = os.environ["SECRET_KEY"].encode()
    key = hashlib.blake2b(b"honeydue-token-v1" + secret, digest_size=32).digest()
    return "auth:" + hashlib.blake2b(token.encode(), key=key, digest_size=32).hexdigest()
