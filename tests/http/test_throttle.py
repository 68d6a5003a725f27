"""Throttling of guesses: failed logins per account and client address (10
in 15 minutes, then 429 with Retry-After; 3 while the account has had 100
failures from everywhere), per client address (30); password-reset requests and
confirmations, wrong passwords given by a signed-in user; and that all of
it fails open when Redis is down. Every test uses client addresses of its
own (127.x.y.z: nginx passes the connection's address as REMOTE_ADDR)."""
import os
import time

from lib import request, register_user, unique, assert_error, psql, stack
from mail_jobs import jobs, last_code, fresh_source, redis, wait_idle


def login(ident, password, source):
    return request("POST", "/api/auth/login/", {"username": ident, "password": password}, source=source)


def assert_throttled(r, window=900):
    err = assert_error(r, 429, "throttled")
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= window, r.headers["retry-after"]
    assert str(wait) in err["message"]
    return wait


def test_nginx_passes_the_client_address():
    src = fresh_source()
    for _ in range(10):
        assert_error(login(unique("ghost"), "wrong-password", src), 401, "invalid_credentials")
    assert redis("GET", f"throttle:login:ip:{src}").strip() == "10"


def test_a_stranger_cannot_lock_the_owner_out():
    user, _, pw = register_user("lock")
    attacker = fresh_source()
    # Twelve failures from one address, under several spellings of the name.
    idents = [user["username"], user["username"].upper(), f"  {user['username']} "]
    for i in range(10):
        assert_error(login(idents[i % 3], "wrong-password", attacker), 401, "invalid_credentials")
    # The attacker's address is locked out of this account, even with the
    # right password...
    wait = assert_throttled(login(user["username"], pw, attacker))
    assert wait > 880
    assert_throttled(login(user["username"].upper(), "wrong-password", attacker))
    # ...but the owner, from their own address, logs in.
    owner = fresh_source()
    assert login(user["username"], pw, owner).status == 200
    # Logging in forgives the owner's own mistakes, not the attacker's.
    assert_throttled(login(user["username"], pw, attacker))
    # The attacker's address may still try other accounts (up to its own limit).
    other, _, opw = register_user("free")
    assert login(other["username"], opw, attacker).status == 200


def test_distributed_guessing_is_slowed_not_locked():
    """Past 100 failures on one account in the window from everywhere, an
    address may fail on it 3 times rather than 10; an address that has not
    failed (the owner's) still logs in."""
    user, _, pw = register_user("dist")
    sources = [fresh_source() for _ in range(11)]
    for src in sources[:10]:
        for _ in range(10):
            assert_error(login(user["username"], "wrong-password", src), 401, "invalid_credentials")
    # 100 failures: a new address gets three tries, not ten.
    late = sources[10]
    for _ in range(3):
        assert_error(login(user["username"], "wrong-password", late), 401, "invalid_credentials")
    assert_throttled(login(user["username"], pw, late))
    # The owner, from an address that has not failed, is let in.
    assert login(user["username"], pw, fresh_source()).status == 200
    # And one that failed twice still has a try left.
    owner = fresh_source()
    for _ in range(2):
        assert_error(login(user["username"], "wrong-password", owner), 401, "invalid_credentials")
    assert login(user["username"], pw, owner).status == 200


def test_address_locks_after_thirty_failures_for_any_accounts():
    user, _, pw = register_user("iplock")
    src = fresh_source()
    for _ in range(30):
        assert_error(login(unique("ghost"), "wrong-password", src), 401, "invalid_credentials")
    assert_throttled(login(user["username"], pw, src))
    # The same account from another address logs in.
    assert login(user["username"], pw, fresh_source()).status == 200


def test_a_successful_login_forgives_the_account_failures():
    user, _, pw = register_user("forgive")
    for _ in range(9):
        assert_error(login(user["username"], "wrong-password", fresh_source()), 401)
    assert login(user["username"], pw, fresh_source()).status == 200
    for _ in range(9):
        assert_error(login(user["username"], "wrong-password", fresh_source()), 401)
    # 18 failures in all, but only 9 since the success.
    assert login(user["username"], pw, fresh_source()).status == 200


def test_reset_requests_are_limited_per_address_and_per_email():
    src = fresh_source()
    for _ in range(10):
        r = request("POST", "/api/auth/password/reset/", {"email": unique("g") + "@example.com"}, source=src)
        assert r.status == 202, r.text
    assert_throttled(request("POST", "/api/auth/password/reset/", {"email": "x@example.com"}, source=src))
    user, _, _ = register_user("rql")
    for _ in range(5):
        assert request("POST", "/api/auth/password/reset/", {"email": user["email"]},
                       source=fresh_source()).status == 202
    r = request("POST", "/api/auth/password/reset/", {"email": user["email"].upper()}, source=fresh_source())
    assert_throttled(r, window=3600)
    assert len(jobs("email.password_reset", user["email"])) == 1  # one per minute anyway


def test_reset_confirm_failures_are_limited():
    user, _, _ = register_user("rcl")
    assert request("POST", "/api/auth/password/reset/", {"email": user["email"]},
                   source=fresh_source()).status == 202
    code = last_code("email.password_reset", user["email"])
    wrong = "000000" if code != "000000" else "999999"
    body = {"email": user["email"], "code": wrong, "new_password": "a-new-password"}
    for _ in range(10):
        assert_error(request("POST", "/api/auth/password/reset/confirm/", body, source=fresh_source()),
                     400, "invalid_code")
    body["code"] = code
    assert_throttled(request("POST", "/api/auth/password/reset/confirm/", body, source=fresh_source()))
    # Per address too: ten wrong codes for unknown addresses.
    src = fresh_source()
    for _ in range(10):
        r = request("POST", "/api/auth/password/reset/confirm/",
                    {"email": unique("g") + "@example.com", "code": "123456", "new_password": "a-new-password"},
                    source=src)
        assert_error(r, 400, "invalid_code")
    r = request("POST", "/api/auth/password/reset/confirm/",
                {"email": unique("g") + "@example.com", "code": "123456", "new_password": "a-new-password"},
                source=src)
    assert_throttled(r)


def test_wrong_current_passwords_are_limited_per_user():
    user, tok, pw = register_user("pwl")
    body = {"current_password": "not-my-password", "new_password": "brand-new-pass"}
    for _ in range(10):
        assert_error(request("POST", "/api/auth/password/change/", body, token=tok), 422)
    body["current_password"] = pw
    assert_throttled(request("POST", "/api/auth/password/change/", body, token=tok))
    # Deleting the account asks for the password too: the same counter.
    assert_throttled(request("DELETE", "/api/auth/me/", {"password": pw}, token=tok))
    assert request("GET", "/api/auth/me/", token=tok).status == 200


def _throttle_log_lines():
    with open(os.path.join(os.environ["HD_STATE"], "log", "fcgi.log")) as f:
        return sum(1 for line in f if '"event":"throttle"' in line and "not throttled" in line)


def test_everything_fails_open_while_redis_is_down():
    user, tok, pw = register_user("open")
    src = fresh_source()
    logged = _throttle_log_lines()
    stack("redis-stop")
    try:
        for _ in range(12):
            assert_error(login(user["username"], "wrong-password", src), 401, "invalid_credentials")
        assert login(user["username"], pw, src).status == 200
        r = request("POST", "/api/auth/password/reset/", {"email": user["email"]}, source=src)
        assert r.status == 202, r.text
    finally:
        stack("redis-start")
        time.sleep(1.5)  # let every worker's 1 s Redis back-off run out before the next test
    # The reset email was not lost: it waited in the Postgres outbox until the
    # worker could move it to Redis, and then it was sent.
    js = jobs("email.password_reset", user["email"])
    assert len(js) == 1 and psql("SELECT count(*) FROM queue_outbox") == "0"
    # Nothing was counted while Redis was down.
    assert login(user["username"], pw, src).status == 200
    assert _throttle_log_lines() > logged


# ---- mail sent on a user's request --------------------------------------------

def register(username, email, source, password="a-good-password"):
    return request("POST", "/api/auth/register/",
                   {"username": username, "email": email, "password": password}, source=source)


def test_sign_ups_are_limited_per_client_address():
    # HONEYDUE_REGISTER_PER_HOUR (10 by default; the test stack sets more,
    # for its suites register many users from 127.0.0.1).
    limit = int(os.environ.get("HONEYDUE_REGISTER_PER_HOUR", "10"))
    taken, _, _ = register_user("regt")
    src = fresh_source()
    # Every attempt counts, a refused one too (a taken name costs no hash,
    # and tells whether a name exists: that is what is slowed down).
    for _ in range(limit):
        assert_error(register(taken["username"], unique("regx") + "@example.com", src), 409, "conflict")
    name = unique("regt")
    assert_throttled(register(name, name + "@example.com", src), window=3600)
    wait_idle()
    assert psql(f"SELECT count(*) FROM auth_user WHERE username = '{name}'") == "0"
    assert not jobs("email.verify", name + "@example.com")
    # Another address signs up.
    assert register(name, name + "@example.com", fresh_source()).status == 201


def backdate_codes(user_id):
    """Move user_id's codes two minutes back: past the one-a-minute gap."""
    psql(f"UPDATE user_verificationcode SET created_at = created_at - interval '2 minutes' "
         f"WHERE user_id = {user_id}")


def test_verification_mails_are_limited_per_address():
    user, tok, _ = register_user("vma")  # the sign-up's code: the first of 5
    for _ in range(4):
        backdate_codes(user["id"])
        r = request("POST", "/api/auth/verify-email/send/", token=tok)
        assert r.status == 202, r.text
    backdate_codes(user["id"])
    assert_throttled(request("POST", "/api/auth/verify-email/send/", token=tok), window=3600)
    assert len(jobs("email.verify", user["email"])) == 5


def test_no_inbox_can_be_flooded_through_address_changes():
    # Accounts take turns pointing their address at one inbox (each change
    # sends it a code), then give it back: at most 5 codes an hour reach it.
    victim = unique("flood") + "@example.net"
    for i in range(5):
        user, tok, pw = register_user(f"fl{i}")
        r = request("PATCH", "/api/auth/me/", {"email": victim, "current_password": pw}, token=tok)
        assert r.status == 200, r.text
        r = request("PATCH", "/api/auth/me/", {"email": user["email"], "current_password": pw}, token=tok)
        assert r.status == 200, r.text
    user, tok, pw = register_user("fl5")
    r = request("PATCH", "/api/auth/me/", {"email": victim, "current_password": pw}, token=tok)
    assert_throttled(r, window=3600)
    assert request("GET", "/api/auth/me/", token=tok).json["email"] == user["email"]
    # Signing up with it is refused too, and creates nothing.
    name = unique("fl6")
    assert_throttled(register(name, victim, fresh_source()), window=3600)
    assert psql(f"SELECT count(*) FROM auth_user WHERE username = '{name}'") == "0"
    assert len(jobs("email.verify", victim)) == 5


def test_email_changes_are_limited_per_user():
    user, tok, pw = register_user("ecl")
    for i in range(5):
        r = request("PATCH", "/api/auth/me/", {"email": unique(f"ecl{i}") + "@example.org",
                                               "current_password": pw}, token=tok)
        assert r.status == 200, r.text
    now = request("GET", "/api/auth/me/", token=tok).json["email"]
    last = unique("ecl5") + "@example.org"
    r = request("PATCH", "/api/auth/me/", {"email": last, "current_password": pw}, token=tok)
    assert_throttled(r, window=3600)
    assert request("GET", "/api/auth/me/", token=tok).json["email"] == now
    assert not jobs("email.verify", last)
    # The other fields still change.
    assert request("PATCH", "/api/auth/me/", {"first_name": "Still"}, token=tok).status == 200
