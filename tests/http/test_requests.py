"""What every endpoint shares: routing, methods, content types, bodies, headers."""
from lib import request, register_user, assert_error
from test_process import Pool


def test_health_touches_nothing_and_is_fast_json():
    r = request("GET", "/api/health/")
    assert r.status == 200 and r.json == {"status": "ok"}
    assert r.headers["content-type"] == "application/json; charset=utf-8"


def test_ready_reports_postgres_schema_and_redis():
    r = request("GET", "/api/ready/")
    assert r.status == 200, r.text
    assert r.json["postgres"] == "ok" and r.json["redis"] == "ok"
    assert r.json["schema_version"] >= 1


def test_every_response_has_request_id_and_server_timing():
    r = request("GET", "/api/health/")
    rid = r.headers.get("x-request-id")
    assert rid and len(rid) == 32
    assert "db;dur=" in r.headers["server-timing"] and "app;dur=" in r.headers["server-timing"]
    assert request("GET", "/api/health/").headers["x-request-id"] != rid
    _, tok, _ = register_user("hdr")
    r = request("GET", "/api/nope/", token=tok, validate=False)  # no such path
    assert r.headers.get("x-request-id")


def test_server_timing_is_off_unless_configured():
    # Review finding (issue 15): the reset path's extra query showed in the
    # db timing to anyone. A pool without the setting sends none.
    pool = Pool(workers=1, HONEYDUE_SERVER_TIMING="false")
    try:
        status, headers, _ = pool.call_full("GET", "/api/health/")
        assert status == 200 and headers.get("X-Request-ID")
        assert "Server-Timing" not in headers, headers
    finally:
        assert pool.stop() == 0
    pool = Pool(workers=1, HONEYDUE_SERVER_TIMING="true")
    try:
        status, headers, _ = pool.call_full("GET", "/api/health/")
        assert status == 200 and "db;dur=" in headers.get("Server-Timing", ""), headers
    finally:
        assert pool.stop() == 0


def test_responses_carry_their_length_instead_of_chunks():
    """The app sends Content-Length, so nginx passes bodies on unchunked
    (a task list is tens of KB); 304s and HEADs carry no body."""
    _, tok, _ = register_user("len")
    rid = request("POST", "/api/residences/", {"name": "Length house"}, token=tok).json["id"]
    for i in range(30):
        assert request("POST", "/api/tasks/", {"residence_id": rid, "title": f"task {i}",
                                               "description": "x" * 300}, token=tok).status == 201
    r = request("GET", "/api/tasks/", token=tok)
    assert r.status == 200 and len(r.body) > 8192
    assert int(r.headers["content-length"]) == len(r.body), r.headers
    assert "transfer-encoding" not in r.headers, r.headers
    again = request("GET", "/api/tasks/", token=tok, headers={"If-None-Match": r.headers["etag"]})
    assert again.status == 304 and again.body == b"" and "content-length" not in again.headers


def test_unknown_endpoint_is_404_json():
    # Paths the API does not have, so nothing in openapi.yaml to check against.
    assert_error(request("GET", "/api/nope/", validate=False), 404, "not_found")
    assert_error(request("GET", "/api/tasks", validate=False), 404, "not_found")  # trailing slash required
    assert_error(request("GET", "/api/tasks/abc/", validate=False), 404, "not_found")


def test_wrong_method_is_405_with_allow():
    r = request("PUT", "/api/tasks/")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"
    r = request("DELETE", "/api/health/")
    assert_error(r, 405, "method_not_allowed")


def test_non_json_content_type_is_415():
    _, tok, _ = register_user("ct")
    r = request("POST", "/api/residences/", token=tok, raw=b"name=x",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415, "unsupported_media_type")
    r = request("POST", "/api/residences/", token=tok, raw=b'{"name":"x"}',
                headers={"Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")
    r = request("POST", "/api/residences/", token=tok, raw=b'{"name":"x"}',
                headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 201, r.text


def test_malformed_bodies_are_400():
    _, tok, _ = register_user("mal")
    for raw in (b"", b"{", b"{\"name\": }", b"[1,2]", b"\"str\"", b"{\"name\":\"x\"} extra",
                b"{\"name\": \"\xff\xfe\"}", b"{'name': 'x'}", b"null"):
        r = request("POST", "/api/residences/", token=tok, raw=raw,
                    headers={"Content-Type": "application/json"})
        assert_error(r, 400, "malformed_json")
    # nothing was created by any of them
    assert request("GET", "/api/residences/", token=tok).json["count"] == 0


def test_oversized_body_is_413_and_creates_nothing():
    _, tok, _ = register_user("big")
    raw = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    r = request("POST", "/api/residences/", token=tok, raw=raw,
                headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert r.json["error"]["code"] == "payload_too_large"
    assert request("GET", "/api/residences/", token=tok).json["count"] == 0


def test_auth_checked_before_body():
    r = request("POST", "/api/tasks/", raw=b"not json", headers={"Content-Type": "application/json"})
    assert_error(r, 401, "not_authenticated")
