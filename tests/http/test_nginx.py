"""What nginx does itself (nginx/honeydue.conf.in): static files and their
headers, body limits, JSON for its own errors, what reaches the app."""
import os
import re

from lib import REPO, assert_error, request

CSP = ("default-src 'self'; style-src 'self' https://fonts.googleapis.com; "
       "font-src https://fonts.gstatic.com")


def assert_nginx_error(r, status, code):
    """An error nginx answered itself: the API's JSON shape, a request id,
    the security headers."""
    assert_error(r, status, code)
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"] or ""), r.headers["x-request-id"]
    assert_security_headers(r)


def assert_security_headers(r):
    h = r.headers
    assert h["content-security-policy"] == CSP, h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "strict-origin-when-cross-origin"
    assert h["permissions-policy"]
    assert h["strict-transport-security"] is None  # plain http: see security_headers.conf
    assert h["server"] == "nginx"  # server_tokens off: no version


def test_index_is_served_with_security_headers_and_short_cache():
    r = request("GET", "/")
    assert r.status == 200, r.text[:200]
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "honeyDue" in r.text and 'href="/api/health/"' in r.text
    assert_security_headers(r)
    assert r.headers["cache-control"] == "max-age=300"
    assert request("GET", "/index.html").body == r.body


def test_assets_have_long_cache_and_security_headers():
    r = request("GET", "/css/site.css")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/css")
    assert r.headers["cache-control"] == "max-age=2592000"
    assert_security_headers(r)


def test_landing_page_keeps_to_its_own_csp():
    # No scripts, no inline styles, nothing from another origin.
    with open(os.path.join(REPO, "static", "index.html"), encoding="utf-8") as f:
        html = f.read()
    assert "<script" not in html.lower()
    assert not re.search(r"\sstyle\s*=", html, re.I) and "<style" not in html.lower()
    for url in re.findall(r'(?:href|src)\s*=\s*"([^"]*)"', html):
        assert url.startswith("/") and not url.startswith("//"), url
        if not url.startswith("/api/"):
            assert request("GET", url).status == 200, url


def test_missing_static_file_is_404():
    assert request("GET", "/no-such-page.html").status == 404


def test_body_over_1mib_is_413_json_from_nginx():
    raw = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    r = request("POST", "/api/tasks/", raw=raw, headers={"Content-Type": "application/json"})
    assert_nginx_error(r, 413, "payload_too_large")


def test_body_of_exactly_1mib_reaches_the_app():
    raw = b'{"t":"' + b"x" * (1024 * 1024 - 8) + b'"}'
    assert len(raw) == 1024 * 1024
    r = request("POST", "/api/tasks/", raw=raw, headers={"Content-Type": "application/json"})
    assert r.status != 413, r.text[:200]
    assert r.headers["x-request-id"], "the app answered (it sets X-Request-ID)"
    assert_error(r, 401)  # no token


def test_unknown_api_path_is_forwarded_to_the_app():
    r = request("GET", "/api/does-not-exist/", validate=False)  # no such path
    assert_error(r, 404)
    assert r.headers["x-request-id"], "the app answered (it sets X-Request-ID)"
    assert_security_headers(r)
    # An /api/ path that looks like an asset still goes to the app.
    r = request("GET", "/api/site.css", validate=False)
    assert_error(r, 404)
    assert r.headers["x-request-id"]


def test_internal_endpoints_refuse_other_addresses():
    for path in ("/metrics", "/api/internal/anything/"):
        r = request("GET", path, source="127.0.0.2", validate=False)  # not API paths
        assert_nginx_error(r, 403, "forbidden")


def test_unreachable_upstream_is_json_502():
    # The test stack runs no bare responder, so /bench/bare has no socket.
    if os.path.exists(os.path.join(os.environ["HD_STATE"], "bare.sock")):
        return
    r = request("GET", "/bench/bare")
    assert_nginx_error(r, 502, "service_unavailable")
