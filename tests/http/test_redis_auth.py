"""Redis requires a password (issue 15): the stack's Redis refuses a client
without it, the app and the job worker send it (AUTH, or AUTH user password
for an ACL user) on every connection, a re-opened one too, a wrong one makes
the pool not ready with a clear log line that never holds the password, and
the password shows nowhere it could leak (log, status, admin system page,
metrics, command lines)."""
import os
import secrets
import subprocess
import time
import urllib.parse

from lib import psql, redis_cli, redis_cli_command, register_user, request
from test_process import Pool

BIN = os.environ.get("HD_BIN", "build/asan")


def _url_with(password=None, user=None):
    """The stack's REDIS_URL with PASSWORD (None: none) and ACL USER."""
    u = urllib.parse.urlsplit(os.environ["REDIS_URL"])
    auth = ""
    if password is not None:
        auth = f"{urllib.parse.quote(user or '', safe='')}:{urllib.parse.quote(password, safe='')}@"
    return f"redis://{auth}{u.hostname}:{u.port}{u.path}"


def _password():
    return urllib.parse.unquote(urllib.parse.urlsplit(os.environ["REDIS_URL"]).password or "")


def test_the_stacks_redis_refuses_a_client_without_the_password():
    assert len(_password()) >= 32
    argv, env = redis_cli_command(_url_with(None))
    assert "REDISCLI_AUTH" not in env
    p = subprocess.run([*argv, "SET", "intruder", "1"], env=env, capture_output=True, text=True,
                       timeout=10)
    assert p.stdout.startswith("NOAUTH"), p.stdout + p.stderr
    argv, env = redis_cli_command(_url_with("not-" + _password()))
    p = subprocess.run([*argv, "GET", "x"], env=env, capture_output=True, text=True, timeout=10)
    assert p.stdout.startswith("NOAUTH") and "WRONGPASS" in p.stderr, p.stdout + p.stderr
    # With it: answered.
    assert redis_cli("PING") == ["PONG"]


def test_the_password_lives_in_a_0600_file_and_on_no_command_line():
    state = os.environ["HD_STATE"]
    for f in ("redis_password", "redis/redis.conf"):
        mode = os.stat(os.path.join(state, f)).st_mode & 0o777
        assert mode == 0o600, f"{f}: {oct(mode)}"
    pw = _password().encode()
    out = subprocess.run(["ps", "-e", "-o", "args="], capture_output=True, timeout=10).stdout
    assert pw not in out, "the Redis password on a command line"


def _readiness(pool):
    return pool.call("GET", "/api/ready/")


def test_a_pool_with_a_wrong_redis_password_is_not_ready_and_says_why():
    wrong = "wrong-" + secrets.token_hex(8)
    pool = Pool(workers=1, REDIS_URL=_url_with(wrong))
    try:
        status, body = _readiness(pool)
        assert status == 503 and body["error"]["code"] == "redis_refused", (status, body)
        # Liveness is untouched, and requests are served from Postgres.
        assert pool.call("GET", "/api/health/")[0] == 200
        _, tok, _ = register_user("redispw")
        assert pool.call("GET", "/api/tasks/", token=tok)[0] == 200
        text = pool.text()
        assert "redis unavailable (AUTH refused: WRONGPASS" in text, text
        assert wrong not in text
    finally:
        assert pool.stop() == 0, pool.text()


def test_a_pool_without_the_password_is_not_ready_and_says_why():
    pool = Pool(workers=1, REDIS_URL=_url_with(None))
    try:
        status, body = _readiness(pool)
        assert status == 503 and body["error"]["code"] == "redis_refused", (status, body)
        assert "redis unavailable (REDIS_URL has no password: NOAUTH" in pool.text(), pool.text()
    finally:
        assert pool.stop() == 0, pool.text()


def test_an_unreachable_redis_is_degraded_not_refused():
    pool = Pool(workers=1, REDIS_URL="redis://:x@127.0.0.1:1/0")
    try:
        status, body = _readiness(pool)
        assert status == 200 and body["redis"] == "degraded", (status, body)
    finally:
        assert pool.stop() == 0, pool.text()


def test_an_acl_user_authenticates_with_its_name_and_password():
    user, pw = f"hd-acl-{secrets.token_hex(4)}", secrets.token_hex(16) + "@:/%"
    redis_cli("ACL", "SETUSER", user, "on", f">{pw}", "~*", "&*", "+@all")
    try:
        pool = Pool(workers=1, REDIS_URL=_url_with(pw, user=user))
        try:
            status, body = _readiness(pool)
            assert status == 200 and body["redis"] == "ok", (status, body)
            clients = "\n".join(redis_cli("CLIENT", "LIST"))
            assert f"user={user}" in clients, clients
        finally:
            assert pool.stop() == 0, pool.text()
        # The same user with another password: refused, and not ready.
        pool = Pool(workers=1, REDIS_URL=_url_with("x" + pw, user=user))
        try:
            assert _readiness(pool)[1]["error"]["code"] == "redis_refused"
            assert pw not in pool.text()
        finally:
            assert pool.stop() == 0, pool.text()
    finally:
        redis_cli("ACL", "DELUSER", user)


def test_a_connection_redis_dropped_is_reopened_with_auth():
    # Every client connection killed: the pool's next cache read re-opens
    # its connection, which must AUTH again, or the hit never comes back.
    _, tok, _ = register_user("reauth")
    request("GET", "/api/tasks/", token=tok)
    deadline = time.monotonic() + 5
    while request("GET", "/api/tasks/", token=tok).headers.get("X-Cache") != "hit":
        assert time.monotonic() < deadline, "no cache hit before the kill"
        time.sleep(0.1)
    redis_cli("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    hits = 0
    for _ in range(8):  # every worker gets one, whichever accepts
        r = request("GET", "/api/tasks/", token=tok)
        assert r.status == 200
        hits += r.headers.get("X-Cache") == "hit"
    assert hits == 8, f"{8 - hits} of 8 reads after the kill were not cache hits"


def test_the_password_is_in_no_answer_and_no_log_line():
    pw = _password()
    staff, tok, _ = register_user("redisstaff")
    psql(f"UPDATE auth_user SET is_staff = true WHERE id = {staff['id']}")
    bodies = [request("GET", "/api/internal/status/").text,
              request("GET", "/metrics").text,
              request("GET", "/api/ready/").text,
              request("GET", "/api/admin/system/", token=tok).text]
    for b in bodies:
        assert b and pw not in b and urllib.parse.quote(pw) not in b
    log_dir = os.path.join(os.environ["HD_STATE"], "log")
    for name in os.listdir(log_dir):
        if name == "redis.log":
            continue
        with open(os.path.join(log_dir, name), "rb") as f:
            assert pw.encode() not in f.read(), f"the Redis password in log/{name}"
