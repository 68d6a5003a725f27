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


ADMIN_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
             "form-action 'self'; frame-ancestors 'none'")


def assert_admin_headers(r):
    """The admin panel's answers: the other security headers as everywhere,
    the strict policy of its contract, and revalidation on every use."""
    h = r.headers
    assert h["content-security-policy"] == ADMIN_CSP, h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "strict-origin-when-cross-origin"
    assert h["permissions-policy"]


def test_admin_panel_is_served_with_its_strict_csp_and_revalidated():
    r = request("GET", "/admin/")
    assert r.status == 200, r.text[:200]
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/admin/js/app.js"></script>' in r.text
    assert_admin_headers(r)
    assert r.headers["cache-control"] == "no-cache" and r.headers["etag"], r.headers
    again = request("GET", "/admin/", headers={"If-None-Match": r.headers["etag"]})
    assert again.status == 304 and again.body == b""
    assert_admin_headers(again)
    # The panel routes on the #fragment: any path that is not a file is the
    # panel too; /admin is sent to /admin/ whatever host it was asked as.
    for path in ("/admin/index.html", "/admin/users", "/admin/users/12"):
        other = request("GET", path)
        assert other.status == 200 and other.body == r.body, path
        assert_admin_headers(other)
    moved = request("GET", "/admin", headers={"Host": "admin.example.com:8443"})
    assert moved.status == 301 and moved.headers["location"] == "/admin/", moved.headers["location"]
    # Modules and styles: their real types, revalidated too (never the
    # landing page's 30 days: an old module must not run beside a new one).
    for path, ctype in (("/admin/js/app.js", "application/javascript; charset=utf-8"),
                        ("/admin/js/pages/dashboard.js", "application/javascript; charset=utf-8"),
                        ("/admin/admin.css", "text/css; charset=utf-8")):
        a = request("GET", path)
        assert a.status == 200 and a.headers["content-type"] == ctype, (path, a.status, a.headers["content-type"])
        assert a.headers["cache-control"] == "no-cache", (path, a.headers["cache-control"])
        assert_admin_headers(a)
    # A missing module is a 404, not index.html under a script's name.
    missing = request("GET", "/admin/js/no-such-module.js")
    assert missing.status == 404 and b"<script" not in missing.body
    # The strict policy is the panel's alone: the landing page and the API
    # keep theirs.
    assert_security_headers(request("GET", "/"))
    assert_security_headers(request("GET", "/administrator.html"))


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
