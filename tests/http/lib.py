"""lib.py - helpers for the black-box HTTP tests in tests/http/.

The tests talk to the stack through nginx at $API_URL, exactly as a client
would; tests/run.sh starts that stack (tests/stack.sh up .run/test ...) and
exports its environment (STATE/env) before running tests/http/run.py.

Every response request() returns for a path under /api/ is checked against
the contract, openapi.yaml at the repository root (see check_contract).
Standard library plus Debian's python3-yaml, python3-jsonschema and
python3-brotli, which tests/deps.sh installs and tests/run.sh uses through
/usr/bin/python3.
"""
import http.client
import itertools
import json
import os
import random
import re
import subprocess
import time
import urllib.parse
import zlib

try:
    import brotli
    import jsonschema
    import yaml
except ImportError as e:  # a python without Debian's packages (say pyenv's)
    raise ImportError(f"{e}: run the HTTP tests with /usr/bin/python3 (python3-yaml, "
                      "python3-jsonschema and python3-brotli, from tests/deps.sh)") from e

API = os.environ["API_URL"]
_URL = urllib.parse.urlsplit(API)
HOST = _URL.hostname
PORT = _URL.port or 80
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 10


def decode(coding, data):
    """DATA as sent with Content-Encoding CODING (None: identity), decoded:
    one whole gzip member or Brotli stream, nothing after it (an empty body,
    a HEAD's, stays empty)."""
    if coding is None or not data:
        return data
    if coding == "gzip":
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(data)
        assert d.eof and not d.unused_data, "a gzip body that is truncated or has trailing bytes"
        return out
    if coding == "br":
        return brotli.decompress(data)
    raise AssertionError(f"unexpected Content-Encoding {coding!r}")


class Response:
    """One HTTP answer: status (int), headers (case-insensitive: headers["x"]
    is None when absent), body (bytes, decoded when the answer has a
    Content-Encoding), wire (the body's bytes as they came), text (str) and
    json (parsed body, or None when it is not JSON)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.wire = body
        self.body = decode(headers["content-encoding"], body)
        self.text = self.body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<Response {self.status} {self.text[:200]!r}>"


def request(method, path, body=None, token=None, headers=None, raw=None, source=None,
            validate=True):
    """Send one request on a new connection and return a Response.

    body is sent as JSON (with Content-Type: application/json); raw (bytes or
    str) is sent as it is, with only the headers given. token adds
    "Authorization: Token <token>"; headers adds or overrides any header.
    source is the local address to connect from (say "127.0.0.2").
    A response to a path under /api/ must be one openapi.yaml describes
    (check_contract), or the test fails; validate=False skips that, for the
    few requests that deliberately never reach a documented operation (an
    unknown path).
    """
    h = {"Connection": "close"}
    data = None
    if raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
    elif body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if token is not None:
        h["Authorization"] = f"Token {token}"
    h.update(headers or {})
    conn = http.client.HTTPConnection(HOST, PORT, timeout=TIMEOUT,
                                      source_address=(source, 0) if source else None)
    try:
        try:
            conn.request(method, path, body=data, headers=h)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered (say 413) and closed before the whole body
            # was sent: its answer is still there to read.
            pass
        resp = conn.getresponse()
        r = Response(resp.status, resp.msg, resp.read())
    finally:
        conn.close()
    if validate:
        check_contract(method, path, r)
    return r


# ---- the contract: every /api/ response is one openapi.yaml describes ----

SPEC_PATH = os.path.join(REPO, "openapi.yaml")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_spec = None  # the parsed openapi.yaml and its compiled path templates, loaded once
_validators = {}  # id(schema) -> Draft202012Validator
# What a 405 (a method the path does not have) looks like; not per operation.
_METHOD_NOT_ALLOWED = {"content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}


class ContractError(AssertionError):
    """A response openapi.yaml does not describe."""


def _load_spec():
    global _spec
    if _spec is None:
        with open(SPEC_PATH, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        templates = []
        for template, item in doc.get("paths", {}).items():
            # Every path parameter of this API is a positive integer (router.h).
            rx = "".join("[1-9][0-9]{0,17}" if part.startswith("{") else re.escape(part)
                         for part in re.split(r"(\{[^}/]+\})", template))
            templates.append((template.count("{"), template, re.compile(rx + r"\Z"), item))
        templates.sort(key=lambda t: t[0])  # concrete paths win over templated ones
        _spec = (doc, templates)
    return _spec


def spec():
    """openapi.yaml, parsed (once per run)."""
    return _load_spec()[0]


def _deref(doc, obj):
    """Follow a Reference Object (#/...) within the spec until a real object."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), f"openapi.yaml: only local refs are supported: {ref}"
        target = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        obj = target
        seen += 1
        assert seen < 20, f"openapi.yaml: $ref loop at {ref}"
    return obj


def _validator(doc, schema):
    """A JSON Schema 2020-12 validator for SCHEMA; its #/components/... refs
    resolve against the spec (the root schema carries the components)."""
    key = id(schema)
    if key not in _validators:
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "allOf": [schema], "components": doc.get("components", {})}
        _validators[key] = jsonschema.Draft202012Validator(
            root, format_checker=jsonschema.FormatChecker())
    return _validators[key]


def _fail(method, path, resp, why):
    raise ContractError(f"{method} {path} -> {resp.status}: not what openapi.yaml describes: "
                        f"{why}\nbody: {resp.text[:500]}")


def _check_body(doc, method, path, resp, described):
    """RESP's headers and body against the Response Object DESCRIBED."""
    described = _deref(doc, described)
    for name, h in (described.get("headers") or {}).items():
        h = _deref(doc, h)
        if h.get("required") and resp.headers[name] is None:
            _fail(method, path, resp, f"header {name} is missing")
        if resp.headers[name] is not None and "schema" in h:
            err = jsonschema.exceptions.best_match(
                _validator(doc, h["schema"]).iter_errors(resp.headers[name]))
            if err is not None:
                _fail(method, path, resp, f"header {name}: {err.message}")
    content = described.get("content") or {}
    if not resp.body or method == "HEAD":
        if not content or method == "HEAD":
            return
        _fail(method, path, resp, "the body is empty but the spec describes content "
                                  f"({', '.join(content)})")
    if not content:
        _fail(method, path, resp, "the spec describes no content but the body is not empty")
    ctype = (resp.headers["content-type"] or "").split(";")[0].strip().lower()
    if ctype not in content:
        _fail(method, path, resp, f"content type {ctype!r} is not one of {list(content)}")
    schema = content[ctype].get("schema")
    if schema is None:
        return
    if resp.json is None and resp.text.strip() != "null":
        _fail(method, path, resp, "the body is not JSON")
    err = jsonschema.exceptions.best_match(_validator(doc, schema).iter_errors(resp.json))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(the body)"
        _fail(method, path, resp, f"at {where}: {err.message}")


def check_contract(method, path, resp):
    """Fail (ContractError) unless openapi.yaml describes RESP as an answer to
    METHOD PATH: the operation is found by matching the path against the
    spec's templates; its status must be listed (or, for a method the path
    does not have, be a 405 with the Error body and an Allow header naming
    the spec's methods); headers marked required must be there; the body must
    validate against that status's schema, and an empty body (204, 304)
    needs a response without content. Paths outside /api/, and
    /api/openapi.yaml itself (nginx serves the file), are not checked."""
    path_only = urllib.parse.urlsplit(path).path
    if not path_only.startswith("/api/") or path_only == "/api/openapi.yaml":
        return
    doc, templates = _load_spec()
    match = next(((t, item) for _, t, rx, item in templates if rx.match(path_only)), None)
    if match is None:
        _fail(method, path, resp, "no path in openapi.yaml matches it")
    _, item = match
    op = item.get("head" if method == "HEAD" and "head" in item else
                  "get" if method == "HEAD" else method.lower())
    if op is None:
        allowed = sorted(m.upper() for m in item if m in _METHODS)
        if resp.status != 405:
            _fail(method, path, resp, f"the path has no {method} operation (only {allowed}), "
                                      "so only a 405 is expected")
        allow = sorted(m.strip() for m in (resp.headers["allow"] or "").split(",") if m.strip())
        if allow != allowed:
            _fail(method, path, resp, f"Allow is {resp.headers['allow']!r}, the spec has {allowed}")
        _check_body(doc, method, path, resp, _METHOD_NOT_ALLOWED)
        return
    responses = op.get("responses") or {}
    described = responses.get(str(resp.status)) or responses.get(f"{str(resp.status)[0]}XX")
    if described is None:
        _fail(method, path, resp, f"status {resp.status} is not listed for "
                                  f"{op.get('operationId', method)} (it lists {sorted(responses)})")
    _check_body(doc, method, path, resp, described)


_counter = itertools.count(1)
_run = f"{int(time.time() * 1000) % 46656000:x}{os.getpid() % 1296:x}"


def unique(prefix):
    """A string no other call (in this run or an earlier one) returns:
    lowercase letters, digits and underscores, so it also makes a valid
    username or database name."""
    return f"{prefix}_{_run}_{next(_counter)}".lower()


def fresh_source():
    """A loopback client address no other test uses (127.x.y.z, x >= 2), so
    per-address throttle counters start at zero."""
    return f"127.{random.randint(2, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def register_user(prefix="user"):
    """Register a fresh user through the API, from an address of its own (sign-ups
    are limited per client address); return (user_json, token, password)."""
    name = unique(prefix)
    password = f"pw-{name}-secret"
    r = request("POST", "/api/auth/register/",
                {"username": name, "email": f"{name}@example.com", "password": password},
                source=fresh_source())
    assert r.status == 201, f"register {name}: {r.status} {r.text}"
    return r.json["user"], r.json["token"], password


def assert_error(resp, status, code=None):
    """resp is an error in the API's shape (DESIGN.md 5):
    status, JSON content type, {"error": {"code": str, "message": str, ...}}."""
    assert resp.status == status, f"expected {status}, got {resp.status}: {resp.text[:500]}"
    ctype = resp.headers["content-type"] or ""
    assert ctype.startswith("application/json"), f"content-type {ctype!r}: {resp.text[:200]}"
    assert isinstance(resp.json, dict) and isinstance(resp.json.get("error"), dict), resp.text[:500]
    err = resp.json["error"]
    assert isinstance(err.get("code"), str) and err["code"], resp.text[:500]
    assert isinstance(err.get("message"), str) and err["message"], resp.text[:500]
    if code is not None:
        assert err["code"] == code, f"expected code {code!r}, got {err['code']!r}: {resp.text[:500]}"
    return err


def stack(cmd, *args):
    """Run tests/stack.sh CMD $HD_STATE [ARGS...] (e.g. "redis-stop"); fail on error."""
    p = subprocess.run([os.path.join(REPO, "tests", "stack.sh"), cmd, os.environ["HD_STATE"], *args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"stack.sh {cmd} failed ({p.returncode}):\n{p.stdout}{p.stderr}"
    return p.stdout


def psql(sql, db="honeydue"):
    """Run SQL with psql against the stack's Postgres; return its unaligned,
    tuples-only output without the trailing newline. Fails on an SQL error."""
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", os.environ.get("DB_HOST", "127.0.0.1"),
                        "-p", os.environ["DB_PORT"], "-U", os.environ.get("DB_USER", "postgres"), "-d", db,
                        "-At", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"psql failed: {sql}\n{p.stderr}"
    return p.stdout.rstrip("\n")


def redis_cli_command(url=None):
    """(argv, env) of redis-cli for the Redis of URL (REDIS_URL by default):
    its password goes in REDISCLI_AUTH, never on the command line, where
    ps would show it; an ACL user's name as --user."""
    u = urllib.parse.urlsplit(url or os.environ["REDIS_URL"])
    argv = ["redis-cli", "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 6379),
            "-n", (u.path or "/0").lstrip("/") or "0"]
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    if u.password:
        env["REDISCLI_AUTH"] = urllib.parse.unquote(u.password)
    if u.username:
        argv += ["--user", urllib.parse.unquote(u.username)]
    return argv, env


def redis_cli(*args):
    """Run one redis-cli command against the stack's Redis (REDIS_URL);
    return its raw output lines (a list of str). Fails on an error."""
    argv, env = redis_cli_command()
    p = subprocess.run([*argv, "--raw", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not p.stdout.startswith("ERR"), f"redis-cli {args}: {p.stdout}{p.stderr}"
    return p.stdout.splitlines()


def queued_jobs(queue="default"):
    """The jobs waiting on hd:queue:<queue>, oldest first, parsed."""
    return [json.loads(line) for line in reversed(redis_cli("LRANGE", f"hd:queue:{queue}", 0, -1))
            if line]  # an empty list is one empty line

