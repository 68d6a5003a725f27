"""The signed-in user's account: profile changes (PATCH /api/auth/me/),
password change, email verification, and account deletion with what it
does to shared residences and to every member's cached lists."""
import re

from lib import request, register_user, unique, assert_error, psql
from mail_jobs import jobs, last_code, fresh_source, redis, auth_cache_key, delivered, wait_idle
from test_residences import make_residence, add_member
from test_tasks import make_task


def login(user, password, source=None):
    return request("POST", "/api/auth/login/", {"username": user["username"], "password": password},
                   source=source or fresh_source())


# ---- PATCH /api/auth/me/ ---------------------------------------------------

def test_patch_me_changes_names_and_username():
    user, tok, pw = register_user("pm")
    new_name = unique("pmnew")
    r = request("PATCH", "/api/auth/me/",
                {"first_name": "Grace", "last_name": "Hopper", "username": new_name}, token=tok)
    assert r.status == 200, r.text
    assert r.json["first_name"] == "Grace" and r.json["last_name"] == "Hopper"
    assert r.json["username"] == new_name and r.json["email"] == user["email"]
    assert r.json == request("GET", "/api/auth/me/", token=tok).json
    assert login({"username": new_name}, pw).status == 200
    # An empty body changes nothing; unknown and read-only fields are ignored.
    r = request("PATCH", "/api/auth/me/", {"is_staff": True, "email_verified": True, "id": 1, "x": 1},
                token=tok)
    assert r.status == 200 and r.json["is_staff"] is False and r.json["email_verified"] is False
    assert r.json["id"] == user["id"]
    assert psql(f"SELECT is_staff OR email_verified FROM auth_user WHERE id = {user['id']}") == "f"


def test_patch_me_email_change_unverifies_and_sends_a_code():
    user, tok, pw = register_user("pme")
    psql(f"UPDATE auth_user SET email_verified = true WHERE id = {user['id']}")
    # A change of case only is the same mailbox: still verified, no email.
    r = request("PATCH", "/api/auth/me/", {"email": user["email"].upper()}, token=tok)
    assert r.status == 200 and r.json["email"] == user["email"].upper()
    assert r.json["email_verified"] is True
    new = unique("pmenew") + "@example.org"
    r = request("PATCH", "/api/auth/me/", {"email": new, "current_password": pw}, token=tok)
    assert r.status == 200, r.text
    assert r.json["email"] == new and r.json["email_verified"] is False
    js = jobs("email.verify", new)
    assert len(js) == 1 and js[0]["payload"]["to"] == new
    # The code sent to the new address verifies it.
    r = request("POST", "/api/auth/verify-email/", {"code": js[0]["payload"]["code"]}, token=tok)
    assert r.status == 200, r.text
    assert r.json["email_verified"] is True and r.json["email"] == new


def mails_to(address):
    return [m for m in delivered() if str(m["To"]).lower() == address.lower()]


def test_an_email_change_needs_the_current_password():
    user, tok, pw = register_user("ecp")
    new = unique("ecpnew") + "@example.org"
    r = request("PATCH", "/api/auth/me/", {"email": new, "first_name": "Eve"}, token=tok)
    err = assert_error(r, 422, "validation_failed")
    assert err["fields"] == {"current_password": "is required to change the email address"}, r.text
    r = request("PATCH", "/api/auth/me/", {"email": new, "current_password": "not-my-password"}, token=tok)
    err = assert_error(r, 422, "validation_failed")
    assert err["fields"] == {"current_password": "is incorrect"}, r.text
    me = request("GET", "/api/auth/me/", token=tok).json
    assert me["email"] == user["email"] and me["first_name"] == ""
    wait_idle()
    assert not mails_to(new)
    # Other fields need no password, nor does the same address in another case.
    r = request("PATCH", "/api/auth/me/", {"first_name": "Ada", "email": user["email"].upper()}, token=tok)
    assert r.status == 200 and r.json["first_name"] == "Ada", r.text
    # The password is never stored or echoed, and the right one changes the address.
    r = request("PATCH", "/api/auth/me/", {"email": new, "current_password": pw}, token=tok)
    assert r.status == 200 and r.json["email"] == new and "current_password" not in r.json, r.text
    assert login({"username": user["username"]}, pw).status == 200


def test_wrong_passwords_for_an_email_change_count_with_the_password_changes():
    user, tok, pw = register_user("ecw")
    for i in range(9):
        r = request("PATCH", "/api/auth/me/", {"email": unique("ecwnew") + "@example.org",
                                               "current_password": f"wrong-{i}"}, token=tok)
        assert_error(r, 422, "validation_failed")
    assert_error(request("POST", "/api/auth/password/change/",
                         {"current_password": "wrong-again", "new_password": "brand-new-pass"}, token=tok), 422)
    # Ten wrong passwords in all: the right one is refused too, by either door.
    r = request("PATCH", "/api/auth/me/", {"email": unique("ecwnew") + "@example.org", "current_password": pw},
                token=tok)
    assert_error(r, 429, "throttled")
    assert int(r.headers["retry-after"]) > 0
    assert_error(request("POST", "/api/auth/password/change/",
                         {"current_password": pw, "new_password": "brand-new-pass"}, token=tok), 429)
    assert request("GET", "/api/auth/me/", token=tok).json["email"] == user["email"]
    # Fields other than the address still change.
    assert request("PATCH", "/api/auth/me/", {"last_name": "Still"}, token=tok).status == 200


def test_an_email_change_notifies_the_old_address_and_verifies_the_new_one():
    user, tok, pw = register_user("ecn")
    old = user["email"]
    psql(f"UPDATE auth_user SET email_verified = true WHERE id = {user['id']}")
    local = unique("ecnnew")
    new = local + "@example.org"
    wait_idle()
    before = len(mails_to(old))
    r = request("PATCH", "/api/auth/me/", {"email": new, "current_password": pw}, token=tok)
    assert r.status == 200 and r.json["email_verified"] is False, r.text
    wait_idle()
    notices = [m for m in mails_to(old) if m["Subject"] == "Your honeyDue email address was changed"]
    assert len(notices) == 1 and len(mails_to(old)) == before + 1
    text = notices[0].get_body(("plain",)).get_content()
    html = notices[0].get_body(("html",)).get_content()
    masked = local[0] + "***@e***.org"
    for body in (text, html):
        assert masked in body, body
        assert new not in body and local not in body
        assert "If you did not make this change" in body and "change your password" in body
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text
    # The new address got a code, and only that.
    sent = mails_to(new)
    assert [str(m["Subject"]) for m in sent] == ["Your honeyDue verification code"]
    code = last_code("email.verify", new)
    r = request("POST", "/api/auth/verify-email/", {"code": code}, token=tok)
    assert r.status == 200 and r.json["email_verified"] is True, r.text


def test_an_unverified_old_address_gets_no_notice():
    # Nothing but the verification mail goes to an address nobody proved.
    user, tok, pw = register_user("ecu")
    new = unique("ecunew") + "@example.org"
    wait_idle()
    before = len(mails_to(user["email"]))
    r = request("PATCH", "/api/auth/me/", {"email": new, "current_password": pw}, token=tok)
    assert r.status == 200, r.text
    wait_idle()
    assert len(mails_to(user["email"])) == before
    assert len(mails_to(new)) == 1


def test_patch_me_conflicts_are_409_naming_the_field():
    other, _, _ = register_user("pmo")
    user, tok, pw = register_user("pmc")
    r = request("PATCH", "/api/auth/me/", {"username": other["username"].upper()}, token=tok)
    assert_error(r, 409, "conflict")
    assert r.json["error"]["fields"] == {"username": "is already taken"}
    r = request("PATCH", "/api/auth/me/", {"email": other["email"].upper(), "current_password": pw}, token=tok)
    assert_error(r, 409, "conflict")
    assert r.json["error"]["fields"] == {"email": "is already registered"}
    r = request("PATCH", "/api/auth/me/", {"email": other["email"], "username": other["username"],
                                           "first_name": "Nope", "current_password": pw}, token=tok)
    assert_error(r, 409, "conflict")
    assert set(r.json["error"]["fields"]) == {"username", "email"}
    me = request("GET", "/api/auth/me/", token=tok).json
    assert me["username"] == user["username"] and me["first_name"] == ""
    # One's own name and address, in another case, are no conflict.
    r = request("PATCH", "/api/auth/me/", {"username": user["username"].upper(),
                                           "email": user["email"].upper()}, token=tok)
    assert r.status == 200, r.text


def test_patch_me_validation_and_malformed_input():
    _, tok, _ = register_user("pmv")
    cases = [
        ({"username": "ab"}, "username", "is too short"),
        ({"username": "bad name!"}, "username", None),
        ({"username": 42}, "username", "must be a string"),
        ({"email": "not-an-email"}, "email", "must be a valid email address"),
        ({"first_name": "x" * 151}, "first_name", "is too long"),
        ({"last_name": None}, "last_name", None),
    ]
    for body, name, message in cases:
        r = request("PATCH", "/api/auth/me/", body, token=tok)
        err = assert_error(r, 422, "validation_failed")
        assert name in err["fields"], (body, r.text)
        if message:
            assert err["fields"][name] == message, (body, r.text)
    assert_error(request("PATCH", "/api/auth/me/", raw="{nope", token=tok,
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(request("PATCH", "/api/auth/me/", raw="[]", token=tok,
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(request("PATCH", "/api/auth/me/", raw="first_name=x", token=tok,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)


def test_account_endpoints_need_a_token():
    for method, path, body in [("PATCH", "/api/auth/me/", {"first_name": "x"}),
                               ("DELETE", "/api/auth/me/", {"password": "whatever-1"}),
                               ("POST", "/api/auth/password/change/",
                                {"current_password": "a", "new_password": "long-enough"}),
                               ("POST", "/api/auth/verify-email/send/", None),
                               ("POST", "/api/auth/verify-email/", {"code": "123456"})]:
        assert_error(request(method, path, body), 401, "not_authenticated")
        assert_error(request(method, path, body, token="0" * 40), 401, "not_authenticated")


# ---- POST /api/auth/password/change/ ------------------------------------------

def test_password_change_keeps_this_session_and_ends_every_other_at_once():
    user, tok, pw = register_user("pwc")
    other = login(user, pw).json["token"]
    # The other session is in use: its resolution sits in the Redis auth cache.
    for _ in range(3):
        assert request("GET", "/api/auth/me/", token=other).status == 200
    assert redis("HGET", auth_cache_key(other), "body").strip() == f"{user['id']}:0"
    r = request("POST", "/api/auth/password/change/",
                {"current_password": pw, "new_password": "brand-new-pass"}, token=tok)
    assert r.status == 204 and r.text == "", r.text
    assert_error(request("GET", "/api/auth/me/", token=other), 401, "not_authenticated")
    assert request("GET", "/api/auth/me/", token=tok).status == 200
    assert psql(f"SELECT count(*) FROM user_authtoken WHERE user_id = {user['id']}") == "1"
    assert_error(login(user, pw), 401, "invalid_credentials")
    assert login(user, "brand-new-pass").status == 200


def test_password_change_refusals():
    user, tok, pw = register_user("pwr")
    r = request("POST", "/api/auth/password/change/",
                {"current_password": "not-my-password", "new_password": "brand-new-pass"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"current_password": "is incorrect"}
    r = request("POST", "/api/auth/password/change/",
                {"current_password": pw, "new_password": "short"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"new_password": "is too short"}
    r = request("POST", "/api/auth/password/change/",
                {"current_password": pw, "new_password": "x" * 129}, token=tok)
    assert r.json["error"]["fields"] == {"new_password": "is too long"}
    r = request("POST", "/api/auth/password/change/",
                {"current_password": pw, "new_password": pw}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"new_password": "must differ from the current password"}
    r = request("POST", "/api/auth/password/change/", {}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert set(r.json["error"]["fields"]) == {"current_password", "new_password"}
    assert_error(request("POST", "/api/auth/password/change/", raw='{"current_password":', token=tok,
                         headers={"Content-Type": "application/json"}), 400)
    # Nothing changed.
    assert login(user, pw).status == 200


def test_password_change_also_kills_a_pending_reset_code():
    user, tok, pw = register_user("pwk")
    assert request("POST", "/api/auth/password/reset/", {"email": user["email"]},
                   source=fresh_source()).status == 202
    code = last_code("email.password_reset", user["email"])
    assert request("POST", "/api/auth/password/change/",
                   {"current_password": pw, "new_password": "brand-new-pass"}, token=tok).status == 204
    r = request("POST", "/api/auth/password/reset/confirm/",
                {"email": user["email"], "code": code, "new_password": "attacker-pass"},
                source=fresh_source())
    assert_error(r, 400, "invalid_code")


# ---- email verification ---------------------------------------------------------

def test_verify_email_send_and_confirm():
    user, tok, _ = register_user("ve")
    registration_code = last_code("email.verify", user["email"])
    # Right after registration the code was just sent: a resend waits a minute.
    r = request("POST", "/api/auth/verify-email/send/", token=tok)
    assert_error(r, 429, "throttled")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # An older code may be replaced by a new one; the old one then dies.
    psql(f"UPDATE user_verificationcode SET created_at = now() - interval '61 seconds' "
         f"WHERE user_id = {user['id']}")
    r = request("POST", "/api/auth/verify-email/send/", token=tok)
    assert r.status == 202 and r.json == {"detail": "a verification code has been sent"}, r.text
    code = last_code("email.verify", user["email"])
    assert len(jobs("email.verify", user["email"])) == 2
    if code != registration_code:
        assert_error(request("POST", "/api/auth/verify-email/", {"code": registration_code}, token=tok),
                     400, "invalid_code")
    wrong = "000000" if code != "000000" else "111111"
    r = request("POST", "/api/auth/verify-email/", {"code": wrong}, token=tok)
    err = assert_error(r, 400, "invalid_code")
    assert err["fields"] == {"code": "is invalid or has expired"}
    r = request("POST", "/api/auth/verify-email/", {"code": code}, token=tok)
    assert r.status == 200, r.text
    assert r.json["email_verified"] is True and r.json["id"] == user["id"]
    assert request("GET", "/api/auth/me/", token=tok).json["email_verified"] is True
    # Used up; and a verified address needs no new code.
    assert_error(request("POST", "/api/auth/verify-email/", {"code": code}, token=tok), 400, "invalid_code")
    assert_error(request("POST", "/api/auth/verify-email/send/", token=tok), 409, "conflict")


def test_verify_email_code_dies_after_five_wrong_attempts():
    user, tok, _ = register_user("ve5")
    code = last_code("email.verify", user["email"])
    wrongs = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != code][:5]
    for w in wrongs:
        assert_error(request("POST", "/api/auth/verify-email/", {"code": w}, token=tok), 400, "invalid_code")
    assert psql(f"SELECT attempts FROM user_verificationcode WHERE user_id = {user['id']}") == "5"
    assert_error(request("POST", "/api/auth/verify-email/", {"code": code}, token=tok), 400, "invalid_code")
    assert request("GET", "/api/auth/me/", token=tok).json["email_verified"] is False


def test_verify_email_code_is_bound_to_user_and_address():
    user, tok, pw = register_user("veb")
    other, otok, _ = register_user("veo")
    code = last_code("email.verify", user["email"])
    # Another user cannot use it.
    assert_error(request("POST", "/api/auth/verify-email/", {"code": code}, token=otok), 400, "invalid_code")
    # After an address change, a code sent to the old address proves nothing.
    r = request("PATCH", "/api/auth/me/", {"email": unique("vebnew") + "@example.com", "current_password": pw},
                token=tok)
    assert r.status == 200, r.text
    assert_error(request("POST", "/api/auth/verify-email/", {"code": code}, token=tok), 400, "invalid_code")
    assert request("GET", "/api/auth/me/", token=tok).json["email_verified"] is False


def test_verify_email_validation():
    _, tok, _ = register_user("vev")
    for body, msg in [({}, "is required"), ({"code": "12345"}, "is too short"),
                      ({"code": "1234567"}, "is too long"), ({"code": "12a456"}, "must be 6 digits"),
                      ({"code": 123456}, "must be a string")]:
        r = request("POST", "/api/auth/verify-email/", body, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {"code": msg}, r.text
    assert_error(request("POST", "/api/auth/verify-email/", raw="{", token=tok,
                         headers={"Content-Type": "application/json"}), 400)


# ---- DELETE /api/auth/me/ -----------------------------------------------------------

def test_delete_account_needs_the_password():
    user, tok, pw = register_user("dp")
    r = request("DELETE", "/api/auth/me/", token=tok)  # no body at all
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"password": "is required"}
    r = request("DELETE", "/api/auth/me/", {"password": "not-my-password"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"password": "is incorrect"}
    assert_error(request("DELETE", "/api/auth/me/", raw="{", token=tok,
                         headers={"Content-Type": "application/json"}), 400)
    assert request("GET", "/api/auth/me/", token=tok).status == 200
    assert psql(f"SELECT count(*) FROM auth_user WHERE id = {user['id']}") == "1"


def test_delete_account_removes_user_tokens_and_sessions_at_once():
    user, tok, pw = register_user("dt")
    other = login(user, pw).json["token"]
    request("GET", "/api/auth/me/", token=other)
    assert redis("HGET", auth_cache_key(other), "body").strip() == f"{user['id']}:0"
    r = request("DELETE", "/api/auth/me/", {"password": pw}, token=tok)
    assert r.status == 204 and r.text == "", r.text
    for t in (tok, other):
        assert_error(request("GET", "/api/auth/me/", token=t), 401, "not_authenticated")
    assert_error(login(user, pw), 401, "invalid_credentials")
    uid = user["id"]
    assert psql(f"SELECT (SELECT count(*) FROM auth_user WHERE id = {uid}) + "
                f"(SELECT count(*) FROM user_authtoken WHERE user_id = {uid}) + "
                f"(SELECT count(*) FROM user_verificationcode WHERE user_id = {uid})") == "0"
    # The name and the address are free again.
    r = request("POST", "/api/auth/register/",
                {"username": user["username"], "email": user["email"], "password": "another-pass"})
    assert r.status == 201, r.text


def test_delete_account_hands_residences_on_and_every_member_sees_it_at_once():
    # C registers before B (a lower id) but joins later: B is the longest-standing member.
    c, ctok, _ = register_user("dc")
    b, btok, _ = register_user("db")
    d, dtok, _ = register_user("dd")
    a, atok, apw = register_user("da")
    shared = make_residence(atok, name="Shared")["id"]
    psql(f"INSERT INTO residence_residence_users (residence_id, user_id, joined_at) VALUES "
         f"({shared}, {b['id']}, now() - interval '2 days'), ({shared}, {c['id']}, now() - interval '1 day')")
    alone = make_residence(atok, name="Alone")["id"]
    alone_task = make_task(atok, alone, title="only mine")["id"]
    shared_task = make_task(atok, shared, title="by A")["id"]
    theirs = make_residence(dtok, name="D's")["id"]
    add_member(theirs, a["id"])
    d_task = make_task(atok, theirs, title="A in D's")["id"]

    # Fill every other member's cached task list.
    for t in (btok, ctok, dtok):
        request("GET", "/api/tasks/", token=t)
        hit = request("GET", "/api/tasks/", token=t)
        assert hit.headers["x-cache"] == "hit"
        assert all(x["created_by_id"] == a["id"] for x in hit.json["results"]), hit.text

    r = request("DELETE", "/api/auth/me/", {"password": apw}, token=atok)
    assert r.status == 204, r.text

    for t, expect in ((btok, {shared_task}), (ctok, {shared_task}), (dtok, {d_task})):
        lst = request("GET", "/api/tasks/", token=t)
        assert lst.status == 200 and lst.headers["x-cache"] == "miss", lst.headers["x-cache"]
        assert {x["id"] for x in lst.json["results"]} == expect
        assert all(x["created_by_id"] is None for x in lst.json["results"]), lst.text
    # The shared residence now belongs to B; C stays a member.
    for t, is_owner in ((btok, True), (ctok, False)):
        res = request("GET", "/api/residences/", token=t).json["results"]
        assert [(x["id"], x["owner_id"], x["is_owner"]) for x in res] == [(shared, b["id"], is_owner)]
    members = request("GET", f"/api/residences/{shared}/users/", token=btok).json
    assert [m["id"] for m in members["results"]] == [b["id"], c["id"]]
    assert [m["is_owner"] for m in members["results"]] == [True, False]
    # B may now do what an owner does.
    assert request("PATCH", f"/api/residences/{shared}/", {"name": "B's now"}, token=btok).status == 200
    # D's residence lost a member, nothing else.
    members = request("GET", f"/api/residences/{theirs}/users/", token=dtok).json
    assert [m["id"] for m in members["results"]] == [d["id"]]
    # The residence A had alone is gone with its tasks.
    assert psql(f"SELECT (SELECT count(*) FROM residence_residence WHERE id = {alone}) + "
                f"(SELECT count(*) FROM task_task WHERE id = {alone_task})") == "0"
