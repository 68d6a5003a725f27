"""Push devices: registering (and refreshing) a token, a token moving to the
user who registered it last, listing, removing, validation, and that nobody
sees or removes another user's device."""
import time

from lib import request, register_user, assert_error, psql, unique

DEVICE_KEYS = {"id", "platform", "token", "created_at", "last_seen_at"}


def apns_token():
    """A fresh 64-hex-digit token, as APNs hands out."""
    return unique("x").encode().hex()[:64].ljust(64, "0")


def fcm_token():
    """A fresh token shaped like an FCM registration token."""
    return f"{unique('f')}:APA91b-Hk_{'q' * 120}"


def register(tok, token, platform="ios"):
    return request("POST", "/api/devices/", {"platform": platform, "token": token}, token=tok)


def devices(tok):
    r = request("GET", "/api/devices/", token=tok)
    assert r.status == 200, r.text
    return r.json


def test_register_then_refresh():
    user, tok, _ = register_user("dv")
    token = apns_token()
    r = register(tok, token)
    assert r.status == 201, r.text
    assert set(r.json) == DEVICE_KEYS
    assert r.json["platform"] == "ios" and r.json["token"] == token
    assert r.json["created_at"] == r.json["last_seen_at"]
    time.sleep(0.01)
    again = register(tok, token)
    assert again.status == 200, again.text
    assert again.json["id"] == r.json["id"] and again.json["created_at"] == r.json["created_at"]
    assert again.json["last_seen_at"] > r.json["last_seen_at"]
    lst = devices(tok)
    assert lst["count"] == 1 and lst["results"] == [again.json]
    assert psql(f"SELECT count(*) FROM notification_device WHERE user_id = {user['id']}") == "1"


def test_two_devices_listed_in_order():
    _, tok, _ = register_user("dl")
    a = register(tok, apns_token()).json
    b = register(tok, fcm_token(), "android").json
    assert b["platform"] == "android"
    assert devices(tok) == {"count": 2, "results": [a, b]}


def test_re_registering_may_change_the_platform():
    _, tok, _ = register_user("dp")
    token = fcm_token()
    register(tok, token, "android")
    r = register(tok, token, "ios")
    assert r.status == 200 and r.json["platform"] == "ios"
    assert devices(tok)["count"] == 1


def test_token_moves_to_the_user_who_registers_it_last():
    first, first_tok, _ = register_user("d1")
    second, second_tok, _ = register_user("d2")
    token = apns_token()
    old = register(first_tok, token).json
    time.sleep(0.01)
    moved = register(second_tok, token)
    assert moved.status == 201, moved.text
    assert moved.json["created_at"] > old["created_at"]
    assert devices(first_tok)["count"] == 0
    assert [d["token"] for d in devices(second_tok)["results"]] == [token]
    assert psql(f"SELECT user_id FROM notification_device WHERE token = '{token}'") == str(second["id"])
    # The first user can no longer remove it; its new owner can.
    assert_error(request("DELETE", "/api/devices/", {"token": token}, token=first_tok), 404, "not_found")
    assert request("DELETE", "/api/devices/", {"token": token}, token=second_tok).status == 204
    assert first["id"] != second["id"]


def test_remove():
    _, tok, _ = register_user("dr")
    token = fcm_token()
    register(tok, token, "android")
    r = request("DELETE", "/api/devices/", {"token": token}, token=tok)
    assert r.status == 204 and r.body == b""
    assert devices(tok) == {"count": 0, "results": []}
    assert_error(request("DELETE", "/api/devices/", {"token": token}, token=tok), 404, "not_found")
    assert_error(request("DELETE", "/api/devices/", {"token": apns_token()}, token=tok), 404, "not_found")


def test_another_users_device_is_404():
    _, owner_tok, _ = register_user("do")
    _, other_tok, _ = register_user("dx")
    token = apns_token()
    register(owner_tok, token)
    assert_error(request("DELETE", "/api/devices/", {"token": token}, token=other_tok), 404, "not_found")
    assert devices(other_tok) == {"count": 0, "results": []}
    assert [d["token"] for d in devices(owner_tok)["results"]] == [token]


def test_register_validation():
    _, tok, _ = register_user("dval")
    cases = [
        ({"token": apns_token()}, {"platform": "is required"}),
        ({"platform": "ios"}, {"token": "is required"}),
        ({}, {"platform": "is required", "token": "is required"}),
        ({"platform": "windows", "token": apns_token()}, {"platform": "is not one of the allowed values"}),
        ({"platform": "IOS", "token": apns_token()}, {"platform": "is not one of the allowed values"}),
        ({"platform": "ios", "token": 12345678901234567890}, {"token": "must be a string"}),
        ({"platform": "ios", "token": ""}, {"token": "may not be blank"}),
        ({"platform": "ios", "token": "a" * 15}, {"token": "must be 16 to 512 letters, digits or the characters _:.-"}),
        ({"platform": "ios", "token": "a" * 513}, {"token": "is too long"}),
        ({"platform": "ios", "token": "a" * 40 + " b"}, {"token": "must be 16 to 512 letters, digits or the characters _:.-"}),
        ({"platform": "ios", "token": "a" * 40 + "/"}, {"token": "must be 16 to 512 letters, digits or the characters _:.-"}),
        ({"platform": "ios", "token": "a" * 40 + "é"}, {"token": "must be 16 to 512 letters, digits or the characters _:.-"}),
        ({"platform": None, "token": apns_token()}, {"platform": "may not be null"}),
    ]
    for body, fields in cases:
        r = request("POST", "/api/devices/", body, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == fields, (body, r.json)
    # The bounds themselves are accepted.
    shortest, longest = unique("t").ljust(16, "a"), unique("t").ljust(512, "b")
    assert len(shortest) == 16
    assert register(tok, shortest).status == 201
    assert register(tok, longest).status == 201
    assert_error(request("POST", "/api/devices/", raw="{", token=tok,
                         headers={"Content-Type": "application/json"}), 400, "malformed_json")
    assert_error(request("POST", "/api/devices/", raw="token=x", token=tok,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert devices(tok)["count"] == 2


def test_remove_validation():
    _, tok, _ = register_user("drv")
    r = request("DELETE", "/api/devices/", {}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"token": "is required"}
    r = request("DELETE", "/api/devices/", {"token": 5}, token=tok)
    assert r.json["error"]["fields"] == {"token": "must be a string"}
    # A DELETE without a body is not JSON.
    assert_error(request("DELETE", "/api/devices/", token=tok), 415)


def test_device_endpoints_need_a_token():
    for method in ("GET", "POST", "DELETE"):
        body = None if method == "GET" else {"platform": "ios", "token": apns_token()}
        assert_error(request(method, "/api/devices/", body), 401, "not_authenticated")
    assert_error(request("PUT", "/api/devices/", {}), 405)
