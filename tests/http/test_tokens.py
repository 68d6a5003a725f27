"""Tokens' lifetimes: a token unused for HONEYDUE_TOKEN_IDLE_DAYS (30) or
older than HONEYDUE_TOKEN_MAX_DAYS (365) is refused with 401 token_expired
and deleted; a token in use stays valid and its use restarts the idle
clock; and the auth cache (auth:<hash> in Redis) never outlives a token.
The tests age a token by moving its timestamps back in Postgres."""
import os
import time

from lib import assert_error, psql, register_user, request
from mail_jobs import auth_cache_key, redis

IDLE_DAYS = int(os.environ.get("HONEYDUE_TOKEN_IDLE_DAYS", "30"))
MAX_DAYS = int(os.environ.get("HONEYDUE_TOKEN_MAX_DAYS", "365"))


def set_times(uid, created, last_used):
    """Set user UID's token's created and last_used (SQL expressions)."""
    psql(f"UPDATE user_authtoken SET created = {created}, last_used = {last_used} WHERE user_id = {uid}")


def tokens(uid):
    return int(psql(f"SELECT count(*) FROM user_authtoken WHERE user_id = {uid}"))


def assert_expired(r):
    assert_error(r, 401, "token_expired")
    assert r.headers["www-authenticate"] == "Token"


def test_a_token_idle_too_long_is_refused_and_deleted():
    user, tok, pw = register_user("idle")
    set_times(user["id"], f"now() - interval '{IDLE_DAYS + 10} days'",
              f"now() - interval '{IDLE_DAYS} days 1 minute'")
    assert_expired(request("GET", "/api/auth/me/", token=tok))
    assert tokens(user["id"]) == 0
    # Gone for good: now simply unknown.
    assert_error(request("GET", "/api/auth/me/", token=tok), 401, "not_authenticated")
    # Never used since it was made counts from its creation.
    r = request("POST", "/api/auth/login/", {"username": user["username"], "password": pw})
    assert r.status == 200, r.text
    set_times(user["id"], f"now() - interval '{IDLE_DAYS} days 1 minute'", "NULL")
    assert_expired(request("GET", "/api/tasks/", token=r.json["token"]))


def test_a_token_past_its_absolute_lifetime_is_refused_though_in_use():
    user, tok, _ = register_user("old")
    set_times(user["id"], f"now() - interval '{MAX_DAYS} days 1 minute'", "now() - interval '5 minutes'")
    assert_expired(request("GET", "/api/tasks/", token=tok))
    assert tokens(user["id"]) == 0


def test_a_token_in_use_stays_valid_and_its_use_restarts_the_idle_clock():
    user, tok, _ = register_user("inuse")
    # Made long ago, last used almost an idle lifetime ago: still good.
    set_times(user["id"], f"now() - interval '{IDLE_DAYS + 100} days'",
              f"now() - interval '{IDLE_DAYS - 1} days'")
    assert request("GET", "/api/auth/me/", token=tok).status == 200
    assert psql(f"SELECT last_used > now() - interval '1 minute' FROM user_authtoken "
                f"WHERE user_id = {user['id']}") == "t"
    assert request("GET", "/api/tasks/", token=tok).status == 200


def test_the_auth_cache_never_outlives_the_token():
    user, tok, _ = register_user("cache")
    # Three seconds of absolute lifetime left; used a minute ago.
    set_times(user["id"], f"now() - interval '{MAX_DAYS} days' + interval '3 seconds'",
              "now() - interval '1 minute'")
    assert request("GET", "/api/tasks/", token=tok).status == 200
    key = auth_cache_key(tok)
    assert redis("HGET", key, "body").strip() == f"{user['id']}:0"  # cached...
    assert 1 <= int(redis("TTL", key)) <= 3  # ...no longer than the token lives
    time.sleep(3.5)
    assert_expired(request("GET", "/api/tasks/", token=tok))
    # An idle deadline bounds the cache the same way.
    user, tok, _ = register_user("cache")
    set_times(user["id"], "now() - interval '1 day'",
              f"now() - interval '{IDLE_DAYS} days' + interval '30 minutes'")
    assert request("GET", "/api/tasks/", token=tok).status == 200
    assert 50 <= int(redis("TTL", auth_cache_key(tok))) <= 60  # the usual minute: it has longer
