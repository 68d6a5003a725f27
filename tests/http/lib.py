"""lib.py - helpers for the black-box HTTP tests in tests/http/.

The tests talk to the stack through nginx at $API_URL, exactly as a client
would; tests/run.sh starts that stack (tests/stack.sh up .run/test ...) and
exports its environment (STATE/env) before running tests/http/run.py.
Standard library only.
"""
import http.client
import itertools
import json
import os
import subprocess
import time
import urllib.parse

API = os.environ["API_URL"]
_URL = urllib.parse.urlsplit(API)
HOST = _URL.hostname
PORT = _URL.port or 80
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 10


class Response:
    """One HTTP answer: status (int), headers (case-insensitive: headers["x"]
    is None when absent), body (bytes), text (str) and json (parsed body, or
    None when it is not JSON)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<Response {self.status} {self.text[:200]!r}>"


def request(method, path, body=None, token=None, headers=None, raw=None, source=None):
    """Send one request on a new connection and return a Response.

    body is sent as JSON (with Content-Type: application/json); raw (bytes or
    str) is sent as it is, with only the headers given. token adds
    "Authorization: Token <token>"; headers adds or overrides any header.
    source is the local address to connect from (say "127.0.0.2").
    """
    h = {"Connection": "close"}
    data = None
    if raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
    elif body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if token is not None:
        h["Authorization"] = f"Token {token}"
    h.update(headers or {})
    conn = http.client.HTTPConnection(HOST, PORT, timeout=TIMEOUT,
                                      source_address=(source, 0) if source else None)
    try:
        try:
            conn.request(method, path, body=data, headers=h)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered (say 413) and closed before the whole body
            # was sent: its answer is still there to read.
            pass
        resp = conn.getresponse()
        return Response(resp.status, resp.msg, resp.read())
    finally:
        conn.close()


_counter = itertools.count(1)
_run = f"{int(time.time() * 1000) % 46656000:x}{os.getpid() % 1296:x}"


def unique(prefix):
    """A string no other call (in this run or an earlier one) returns:
    lowercase letters, digits and underscores, so it also makes a valid
    username or database name."""
    return f"{prefix}_{_run}_{next(_counter)}".lower()


def register_user(prefix="user"):
    """Register a fresh user through the API; return (user_json, token, password)."""
    name = unique(prefix)
    password = f"pw-{name}-secret"
    r = request("POST", "/api/auth/register/",
                {"username": name, "email": f"{name}@example.com", "password": password})
    assert r.status == 201, f"register {name}: {r.status} {r.text}"
    return r.json["user"], r.json["token"], password


def assert_error(resp, status, code=None):
    """resp is an error in the API's shape (DESIGN.md 5):
    status, JSON content type, {"error": {"code": str, "message": str, ...}}."""
    assert resp.status == status, f"expected {status}, got {resp.status}: {resp.text[:500]}"
    ctype = resp.headers["content-type"] or ""
    assert ctype.startswith("application/json"), f"content-type {ctype!r}: {resp.text[:200]}"
    assert isinstance(resp.json, dict) and isinstance(resp.json.get("error"), dict), resp.text[:500]
    err = resp.json["error"]
    assert isinstance(err.get("code"), str) and err["code"], resp.text[:500]
    assert isinstance(err.get("message"), str) and err["message"], resp.text[:500]
    if code is not None:
        assert err["code"] == code, f"expected code {code!r}, got {err['code']!r}: {resp.text[:500]}"
    return err


def stack(cmd, *args):
    """Run tests/stack.sh CMD $HD_STATE [ARGS...] (e.g. "redis-stop"); fail on error."""
    p = subprocess.run([os.path.join(REPO, "tests", "stack.sh"), cmd, os.environ["HD_STATE"], *args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"stack.sh {cmd} failed ({p.returncode}):\n{p.stdout}{p.stderr}"
    return p.stdout


def psql(sql, db="honeydue"):
    """Run SQL with psql against the stack's Postgres; return its unaligned,
    tuples-only output without the trailing newline. Fails on an SQL error."""
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", os.environ.get("DB_HOST", "127.0.0.1"),
                        "-p", os.environ["DB_PORT"], "-U", os.environ.get("DB_USER", "postgres"), "-d", db,
                        "-At", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"psql failed: {sql}\n{p.stderr}"
    return p.stdout.rstrip("\n")


def redis_cli(*args):
    """Run one redis-cli command against the stack's Redis (REDIS_URL);
    return its raw output lines (a list of str). Fails on an error."""
    url = urllib.parse.urlsplit(os.environ["REDIS_URL"])
    p = subprocess.run(["redis-cli", "--raw", "-h", url.hostname, "-p", str(url.port or 6379),
                        "-n", (url.path or "/0").lstrip("/") or "0", *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not p.stdout.startswith("ERR"), f"redis-cli {args}: {p.stdout}{p.stderr}"
    return p.stdout.splitlines()


def queued_jobs(queue="default"):
    """The jobs waiting on hd:queue:<queue>, oldest first, parsed."""
    return [json.loads(line) for line in reversed(redis_cli("LRANGE", f"hd:queue:{queue}", 0, -1))]

