"""Password reset by a 6-digit code sent by email: the request never
reveals whether an account exists, the code is stored only hashed, lives
15 minutes and 5 wrong attempts, and a reset ends every session."""
import statistics
import time

from lib import request, register_user, unique, assert_error, psql
from mail_jobs import jobs, last_code, fresh_source, redis, auth_cache_key

SENT = {"detail": "if an account uses this address, a code has been sent to it"}


def ask(email):
    """Request a reset from an address of its own (the per-address counter
    of reset requests is not what these tests are about)."""
    return request("POST", "/api/auth/password/reset/", {"email": email}, source=fresh_source())


def confirm(email, code, new_password="a-new-password", source=None):
    return request("POST", "/api/auth/password/reset/confirm/",
                   {"email": email, "code": code, "new_password": new_password},
                   source=source or fresh_source())


def other_code(code):
    return "000000" if code != "000000" else "999999"


def test_request_answers_the_same_for_known_and_unknown_addresses():
    user, _, _ = register_user("rq")
    known = ask(user["email"].upper())
    unknown = ask(unique("nobody") + "@example.com")
    for r in (known, unknown):
        assert r.status == 202, r.text
        assert r.json == SENT
        assert r.headers["content-type"].startswith("application/json")
    assert known.body == unknown.body
    js = jobs("email.password_reset", user["email"])
    assert len(js) == 1
    p = js[0]["payload"]
    assert set(p) == {"to", "name", "code", "expires_at"}
    assert p["to"] == user["email"] and p["name"] == ""  # a code mail carries no name
    assert len(p["code"]) == 6 and p["code"].isdigit()
    assert js[0]["queue"] == "critical"
    # Stored as a keyed hash with a 15-minute expiry and no attempts yet.
    row = psql("SELECT code_hash, attempts, round(extract(epoch FROM expires_at - created_at)) "
               f"FROM user_verificationcode WHERE user_id = {user['id']} AND purpose = 'password_reset'")
    digest, attempts, ttl = row.split("|")
    assert len(digest) == 64 and p["code"] not in digest
    assert attempts == "0" and ttl == "900"


def test_request_takes_about_as_long_for_unknown_addresses():
    user, _, _ = register_user("rqt")
    ask(user["email"])  # the first one issues a code; later ones within a minute do not

    def timed(email):
        t0 = time.monotonic()
        assert ask(email).status == 202
        return time.monotonic() - t0

    psql(f"UPDATE user_verificationcode SET created_at = now() - interval '2 minutes' "
         f"WHERE user_id = {user['id']}")
    known = [timed(user["email"])]  # issues a new code (a DB write and a Redis enqueue)
    unknown = [timed(unique("ghost") + "@example.com") for _ in range(5)]
    # No password hashing or other slow path on either side: both are a few
    # milliseconds, far below an argon2 verification (~100 ms).
    assert known[0] < statistics.median(unknown) + 0.05, (known, unknown)
    assert statistics.median(unknown) < 0.05, unknown


def test_confirm_sets_the_password_and_ends_every_session():
    user, tok, pw = register_user("rc")
    other = request("POST", "/api/auth/login/", {"username": user["username"], "password": pw},
                    source=fresh_source()).json["token"]
    request("GET", "/api/auth/me/", token=other)  # cached in Redis
    assert redis("HGET", auth_cache_key(other), "body").strip() == f"{user['id']}:0"
    assert ask(user["email"]).status == 202
    code = last_code("email.password_reset", user["email"])
    r = confirm(user["email"].upper(), code, "reset-pass-123")
    assert r.status == 200, r.text
    assert len(r.json["token"]) == 40 and r.json["user"]["id"] == user["id"]
    assert r.json["user"]["email_verified"] is True  # the code reached the address
    for t in (tok, other):
        assert_error(request("GET", "/api/auth/me/", token=t), 401, "not_authenticated")
    assert request("GET", "/api/auth/me/", token=r.json["token"]).status == 200
    assert psql(f"SELECT count(*) FROM user_authtoken WHERE user_id = {user['id']}") == "1"
    src = fresh_source()
    assert_error(request("POST", "/api/auth/login/", {"username": user["username"], "password": pw},
                         source=src), 401, "invalid_credentials")
    assert request("POST", "/api/auth/login/", {"username": user["username"], "password": "reset-pass-123"},
                   source=src).status == 200
    # The code is used up.
    assert_error(confirm(user["email"], code, "yet-another-pass"), 400, "invalid_code")
    assert psql(f"SELECT count(*) FROM user_verificationcode WHERE user_id = {user['id']} "
                "AND purpose = 'password_reset'") == "0"


def test_wrong_codes_count_and_five_kill_the_code():
    user, _, pw = register_user("rw")
    ask(user["email"])
    code = last_code("email.password_reset", user["email"])
    wrongs = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != code][:5]
    for i, w in enumerate(wrongs, 1):
        r = confirm(user["email"], w)
        err = assert_error(r, 400, "invalid_code")
        assert err["fields"] == {"code": "is invalid or has expired"}
        assert psql(f"SELECT attempts FROM user_verificationcode WHERE user_id = {user['id']} "
                    "AND purpose = 'password_reset'") == str(i)
    assert_error(confirm(user["email"], code), 400, "invalid_code")
    assert request("POST", "/api/auth/login/", {"username": user["username"], "password": pw},
                   source=fresh_source()).status == 200


def test_a_few_wrong_codes_do_not_stop_the_right_one():
    user, _, _ = register_user("rf")
    ask(user["email"])
    code = last_code("email.password_reset", user["email"])
    for _ in range(4):
        assert_error(confirm(user["email"], other_code(code)), 400, "invalid_code")
    assert confirm(user["email"], code).status == 200


def test_expired_code_is_dead():
    user, _, _ = register_user("rx")
    ask(user["email"])
    code = last_code("email.password_reset", user["email"])
    psql(f"UPDATE user_verificationcode SET expires_at = now() - interval '1 second' "
         f"WHERE user_id = {user['id']}")
    assert_error(confirm(user["email"], code), 400, "invalid_code")


def test_repeated_requests_within_a_minute_send_one_email():
    user, _, _ = register_user("rr")
    for _ in range(3):
        assert ask(user["email"]).json == SENT
    js = jobs("email.password_reset", user["email"])
    assert len(js) == 1
    first = js[0]["payload"]["code"]
    # A minute later a new request sends a new code, and the old one dies.
    psql(f"UPDATE user_verificationcode SET created_at = now() - interval '61 seconds' "
         f"WHERE user_id = {user['id']}")
    assert ask(user["email"]).status == 202
    js = jobs("email.password_reset", user["email"])
    assert len(js) == 2
    second = js[0]["payload"]["code"]
    if second != first:
        assert_error(confirm(user["email"], first), 400, "invalid_code")
    assert confirm(user["email"], second).status == 200


def test_code_works_only_for_its_own_account_and_address():
    a, _, _ = register_user("ra")
    b, btok, bpw = register_user("rb")
    ask(a["email"])
    code = last_code("email.password_reset", a["email"])
    assert_error(confirm(b["email"], code), 400, "invalid_code")
    assert_error(confirm(unique("nobody") + "@example.com", code), 400, "invalid_code")
    # A code for B, then B's address changes: the code sent to the old one is dead.
    ask(b["email"])
    bcode = last_code("email.password_reset", b["email"])
    assert request("PATCH", "/api/auth/me/", {"email": unique("rbnew") + "@example.com",
                                              "current_password": bpw}, token=btok).status == 200
    assert_error(confirm(b["email"], bcode), 400, "invalid_code")
    assert confirm(a["email"], code).status == 200


def test_inactive_accounts_get_no_code():
    user, _, _ = register_user("ri")
    psql(f"UPDATE auth_user SET is_active = false WHERE id = {user['id']}")
    r = ask(user["email"])
    assert r.status == 202 and r.json == SENT
    assert jobs("email.password_reset", user["email"]) == []


def test_reset_validation_and_malformed_input():
    r = ask("not-an-email")
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"email": "must be a valid email address"}
    r = request("POST", "/api/auth/password/reset/", {}, source=fresh_source())
    assert r.json["error"]["fields"] == {"email": "is required"}
    assert_error(request("POST", "/api/auth/password/reset/", raw="{", source=fresh_source(),
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(request("POST", "/api/auth/password/reset/", raw="email=a@b.co", source=fresh_source(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    r = request("POST", "/api/auth/password/reset/confirm/", {}, source=fresh_source())
    assert_error(r, 422, "validation_failed")
    assert set(r.json["error"]["fields"]) == {"email", "code", "new_password"}
    for code, msg in (("12345", "is too short"), ("abcdef", "must be 6 digits"), (123456, "must be a string")):
        r = confirm("a@example.com", code)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {"code": msg}
    r = confirm("a@example.com", "123456", "short")
    assert r.json["error"]["fields"] == {"new_password": "is too short"}
    assert_error(request("POST", "/api/auth/password/reset/confirm/", raw="[1]", source=fresh_source(),
                         headers={"Content-Type": "application/json"}), 400)
    # Reset endpoints need no token, and a stale one does not get in the way.
    r = request("POST", "/api/auth/password/reset/", {"email": "a@example.com"},
                token="0" * 40, source=fresh_source())
    assert r.status == 202 and r.json == SENT


def test_a_weak_new_password_does_not_use_up_the_code():
    user, _, _ = register_user("rwk")
    ask(user["email"])
    code = last_code("email.password_reset", user["email"])
    r = confirm(user["email"], code, "short")
    assert_error(r, 422, "validation_failed")
    assert psql(f"SELECT attempts FROM user_verificationcode WHERE user_id = {user['id']} "
                    "AND purpose = 'password_reset'") == "0"
    assert confirm(user["email"], code, "long-enough-now").status == 200
