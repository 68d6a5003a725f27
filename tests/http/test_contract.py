"""The API contract, openapi.yaml: nginx serves the file; the validator in
lib.py (which checks every /api/ response of every test) fails on what the
spec does not describe; the statuses the spec lists are the ones the server
answers (401 without a token exactly where an operation declares TokenAuth,
400/413/415 for bad bodies, 503 with Postgres down); and
tests/openapi_merge.py merges fragments the way the integrator needs."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

from lib import (REPO, SPEC_PATH, ContractError, Response, assert_error, check_contract, psql,
                 register_user, request, spec, stack, unique)

METHODS = ("get", "put", "post", "delete", "patch")


def operations():
    """(METHOD, template, operation) of every operation in the spec."""
    for template, item in spec()["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                yield m.upper(), template, op


def world():
    """An owner (token) with a residence shared with a member, a task and a
    completion; returns (token, samples): samples maps (METHOD, template) of
    every operation of today's routes to (path, a valid JSON body or None)."""
    _, tok, _ = register_user("contract")
    member, mtok, _ = register_user("contract_m")
    rid = request("POST", "/api/residences/", {"name": "Contract house"}, token=tok).json["id"]
    code = request("POST", f"/api/residences/{rid}/share-code/", token=tok).json["code"]
    assert request("POST", "/api/residences/join/", {"code": code}, token=mtok).status == 200
    tid = request("POST", "/api/tasks/", {"residence_id": rid, "title": "Gutters"}, token=tok).json["id"]
    cid = request("POST", f"/api/tasks/{tid}/complete/", token=tok).json["completion"]["id"]
    name = unique("contract_new")
    samples = {
        ("GET", "/api/health/"): ("/api/health/", None),
        ("GET", "/api/ready/"): ("/api/ready/", None),
        ("GET", "/api/static-data/"): ("/api/static-data/", None),
        ("POST", "/api/auth/register/"): (
            "/api/auth/register/",
            {"username": name, "email": f"{name}@example.com", "password": "long-enough-1"}),
        ("POST", "/api/auth/login/"): (
            "/api/auth/login/", {"username": member["username"], "password": "wrong-password"}),
        ("POST", "/api/auth/logout/"): ("/api/auth/logout/", None),
        ("GET", "/api/auth/me/"): ("/api/auth/me/", None),
        ("GET", "/api/residences/"): ("/api/residences/", None),
        ("POST", "/api/residences/"): ("/api/residences/", {"name": "Another"}),
        ("GET", "/api/residences/{id}/"): (f"/api/residences/{rid}/", None),
        ("PATCH", "/api/residences/{id}/"): (f"/api/residences/{rid}/", {"name": "Renamed"}),
        ("DELETE", "/api/residences/{id}/"): (f"/api/residences/{rid}/", None),
        ("POST", "/api/residences/join/"): ("/api/residences/join/", {"code": code}),
        ("GET", "/api/residences/{id}/users/"): (f"/api/residences/{rid}/users/", None),
        ("DELETE", "/api/residences/{id}/users/{uid}/"): (
            f"/api/residences/{rid}/users/{member['id']}/", None),
        ("POST", "/api/residences/{id}/leave/"): (f"/api/residences/{rid}/leave/", None),
        ("POST", "/api/residences/{id}/share-code/"): (f"/api/residences/{rid}/share-code/", None),
        ("DELETE", "/api/residences/{id}/share-code/"): (f"/api/residences/{rid}/share-code/", None),
        ("GET", "/api/tasks/"): ("/api/tasks/", None),
        ("POST", "/api/tasks/"): ("/api/tasks/", {"residence_id": rid, "title": "More"}),
        ("GET", "/api/tasks/{id}/"): (f"/api/tasks/{tid}/", None),
        ("PATCH", "/api/tasks/{id}/"): (f"/api/tasks/{tid}/", {"title": "Gutters!"}),
        ("DELETE", "/api/tasks/{id}/"): (f"/api/tasks/{tid}/", None),
        ("POST", "/api/tasks/{id}/complete/"): (f"/api/tasks/{tid}/complete/", {"notes": "done"}),
        ("GET", "/api/tasks/{id}/completions/"): (f"/api/tasks/{tid}/completions/", None),
        ("DELETE", "/api/tasks/{id}/completions/{cid}/"): (
            f"/api/tasks/{tid}/completions/{cid}/", None),
    }
    ops = {(m, t) for m, t, _ in operations()}
    stale = sorted(set(samples) - ops)
    assert not stale, f"samples for operations openapi.yaml does not have: {stale}"
    return tok, samples


def op_of(method, template):
    return spec()["paths"][template][method.lower()]


# ---- the file ----

def test_nginx_serves_the_spec_file_as_it_is():
    r = request("GET", "/api/openapi.yaml")
    assert r.status == 200, r.text[:200]
    assert r.headers["content-type"] == "application/yaml; charset=utf-8", r.headers["content-type"]
    assert r.headers["cache-control"] == "max-age=300"
    assert r.headers["x-request-id"] is None, "served by nginx, not the app"
    assert r.headers["x-content-type-options"] == "nosniff"
    with open(SPEC_PATH, "rb") as f:
        assert r.body == f.read()
    doc = yaml.safe_load(r.text)
    assert doc["openapi"] == "3.1.0" and doc["paths"] == spec()["paths"]


# ---- the validator can fail ----

def fake(status, body=None, headers=None, ctype="application/json; charset=utf-8"):
    """A Response as the server might have sent it."""
    h = http.client.HTTPMessage()
    h["X-Request-ID"] = "0123456789abcdef0123456789abcdef"
    if body is not None:
        h["Content-Type"] = ctype
    for k, v in (headers or {}).items():
        h[k] = v
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, h, raw)


def rejects(method, path, resp, words):
    try:
        check_contract(method, path, resp)
    except ContractError as e:
        msg = str(e)
        assert f"{method} {path} -> {resp.status}" in msg and words in msg, msg
    else:
        raise AssertionError(f"the validator accepted {method} {path} {resp!r}")


def test_validator_fails_on_what_the_spec_does_not_describe():
    _, tok, _ = register_user("validator")
    me = request("GET", "/api/auth/me/", token=tok)
    assert me.status == 200
    check_contract("GET", "/api/auth/me/", fake(200, me.json))  # the real answer passes
    rejects("GET", "/api/auth/me/", fake(200, {**me.json, "password": "x"}),
            "Additional properties are not allowed ('password' was unexpected)")
    rejects("GET", "/api/auth/me/", fake(200, {k: v for k, v in me.json.items() if k != "email"}),
            "'email' is a required property")
    rejects("GET", "/api/auth/me/", fake(200, {**me.json, "id": str(me.json["id"])}), "at id:")
    rejects("GET", "/api/auth/me/",
            fake(200, {**me.json, "date_joined": "2026-01-01T10:00:00+02:00"}), "at date_joined:")
    rejects("GET", "/api/auth/me/", fake(200, b"{not json"), "not JSON")
    rejects("GET", "/api/auth/me/", fake(200, me.json, ctype="text/html"), "content type 'text/html'")
    rejects("GET", "/api/auth/me/", fake(418, {"error": {"code": "teapot", "message": "x"}}),
            "status 418 is not listed for getMe")
    rejects("GET", "/api/auth/me/", fake(401, {"error": {"code": "oops", "message": "x"}},
                                         {"WWW-Authenticate": "Token"}), "error/code:")
    rejects("GET", "/api/auth/me/", fake(401, {"error": {"code": "not_authenticated",
                                                         "message": "x"}}),
            "header WWW-Authenticate is missing")
    rejects("GET", "/api/auth/me/", fake(404, {"error": {"code": "not_found"}}),
            "'message' is a required property")
    rejects("GET", "/api/tasks/", fake(200, {"count": 0, "results": []}),
            "header ETag is missing")
    rejects("GET", "/api/tasks/", fake(200, None, {"ETag": '"0123456789abcdef"', "X-Cache": "hit"}),
            "the body is empty")
    rejects("DELETE", "/api/tasks/1/", fake(204, {"deleted": True}), "describes no content")
    rejects("PUT", "/api/tasks/", fake(404, {"error": {"code": "not_found", "message": "x"}}),
            "only a 405")
    rejects("PUT", "/api/tasks/", fake(405, {"error": {"code": "method_not_allowed", "message": "x"}},
                                       {"Allow": "GET"}), "Allow is 'GET'")
    rejects("GET", "/api/tasks/0/", fake(404, {"error": {"code": "not_found", "message": "x"}}),
            "no path in openapi.yaml matches it")
    check_contract("PUT", "/api/tasks/", fake(405, {"error": {"code": "method_not_allowed",
                                                              "message": "x"}},
                                              {"Allow": "GET, POST"}))


# ---- the statuses the spec lists are the ones the server answers ----

def test_token_is_required_exactly_where_the_spec_says():
    _, samples = world()
    for (method, template), (path, body) in samples.items():
        needs = any("TokenAuth" in req for req in op_of(method, template).get("security", []))
        r = request(method, path, body)
        if needs:
            assert_error(r, 401, "not_authenticated")
        else:
            assert r.status != 401 or template == "/api/auth/login/", f"{method} {path}: {r!r}"


def test_every_json_body_answers_400_413_415_as_documented():
    tok, samples = world()
    for (method, template), (path, _) in samples.items():
        op = op_of(method, template)
        if "application/json" not in (op.get("requestBody") or {}).get("content", {}):
            continue
        for status in ("400", "413", "415"):
            assert status in op["responses"], f"{method} {template} does not list {status}"
        bad = {"Content-Type": "application/json"}
        assert_error(request(method, path, raw=b'{"title": ', token=tok, headers=bad), 400,
                     "malformed_json")
        assert_error(request(method, path, raw=b'{"a": 1}', token=tok,
                             headers={"Content-Type": "text/plain"}), 415,
                     "unsupported_media_type")
        big = b'{"a": "' + b"x" * (1024 * 1024) + b'"}'
        assert_error(request(method, path, raw=big, token=tok, headers=bad), 413,
                     "payload_too_large")


def test_postgres_down_answers_503_exactly_where_the_spec_says():
    tok, samples = world()
    # Tokens are resolved from Redis for 60 s after use; this one was just used.
    assert request("GET", "/api/auth/me/", token=tok).status == 200
    before = psql("SELECT count(*) FROM task_task")
    stack("pg-stop")
    try:
        for (method, template), (path, body) in samples.items():
            r = request(method, path, body, token=tok)
            if "503" in op_of(method, template)["responses"]:
                assert_error(r, 503, "service_unavailable")
            else:
                assert r.status == 200, f"{method} {path} without Postgres: {r!r}"
    finally:
        stack("pg-start")
        # Every worker gets a fresh connection at once (a worker reconnects
        # at most every 500 ms, so the next test could meet a 503).
        stack("fcgi-restart", os.environ["HD_BIN"])
    assert psql("SELECT count(*) FROM task_task") == before
    assert request("GET", "/api/auth/me/", token=tok).status == 200


def test_a_token_of_a_deleted_user_is_401_or_404_never_an_error():
    # The token cache (60 s) can outlive the user: /me then finds nobody.
    user, tok, _ = register_user("deleted")
    assert request("GET", "/api/auth/me/", token=tok).status == 200
    psql(f"DELETE FROM auth_user WHERE id = {int(user['id'])}")
    r = request("GET", "/api/auth/me/", token=tok)
    assert r.status in (401, 404), r


# ---- tests/openapi_merge.py ----

FRAGMENT_A = """
paths:
  /api/zz-widgets/:
    get:
      operationId: listWidgetsForTheMergeTest
      summary: Widgets
      tags: [widgets]
      responses:
        "200":
          description: The widgets.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/MergeTestWidget"}
components:
  schemas:
    MergeTestWidget:
      type: object
      additionalProperties: false
      required: [id]
      properties:
        id: {type: integer}
"""
FRAGMENT_B = """
paths:
  /api/tasks/{id}/:
    parameters:
      - {$ref: "#/components/parameters/Id"}
    put:
      operationId: replaceTaskForTheMergeTest
      summary: Replace
      tags: [tasks]
      security: [{TokenAuth: []}]
      responses:
        "204": {description: Replaced.}
        "401": {$ref: "#/components/responses/Unauthorized"}
"""


def tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tests", name), *args],
                          capture_output=True, text=True, timeout=60)


def test_merge_adds_fragments_keeps_the_text_and_refuses_duplicates():
    with tempfile.TemporaryDirectory() as d:
        target = os.path.join(d, "openapi.yaml")
        shutil.copy(SPEC_PATH, target)
        frags = []
        for name, text in (("openapi-a.yaml", FRAGMENT_A), ("openapi-b.yaml", FRAGMENT_B)):
            frags.append(os.path.join(d, name))
            with open(frags[-1], "w", encoding="utf-8") as f:
                f.write(text)
        p = tool("openapi_merge.py", "--spec", target, *frags)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "added 2 operations (1 new paths) and 1 schemas" in p.stdout, p.stdout
        with open(SPEC_PATH, encoding="utf-8") as f:
            before = f.read().splitlines()
        with open(target, encoding="utf-8") as f:
            after_text = f.read()
        after = after_text.splitlines()
        # The spec's own lines (comments included) are all still there, in order.
        it = iter(after)
        assert all(line in it for line in before), "the merge rewrote the spec's own text"
        doc = yaml.safe_load(after_text)
        assert list(doc["paths"])[-1] == "/api/zz-widgets/"
        assert doc["paths"]["/api/tasks/{id}/"]["put"]["operationId"] == "replaceTaskForTheMergeTest"
        assert "MergeTestWidget" in doc["components"]["schemas"]
        # The linter sees the two operations routes.c does not have, and nothing else.
        p = tool("openapi_lint.py", target)
        assert p.returncode == 1
        problems = [line for line in p.stdout.splitlines() if "problem(s)" not in line]
        assert problems == [
            "openapi-lint: GET /api/zz-widgets/: is in the spec but not in handlers/routes.c",
            "openapi-lint: PUT /api/tasks/{id}/: is in the spec but not in handlers/routes.c",
        ], p.stdout
        # A second merge of the same fragment is refused and writes nothing.
        p = tool("openapi_merge.py", "--spec", target, frags[0])
        assert p.returncode == 1 and "GET /api/zz-widgets/ is already in the spec" in p.stderr, p.stderr
        with open(target, encoding="utf-8") as f:
            assert f.read() == after_text
