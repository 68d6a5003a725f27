"""The stack's push server (tests/push_server.py), as a push client will meet
it: APNs, FCM and Google's token endpoint over HTTP/2 and TLS, with the
stack's keys (APNS_KEY_FILE, FCM_CREDENTIALS_FILE) and certificate
(PUSH_CA_FILE). A valid APNs push and a valid FCM send are accepted and kept
as files in $HD_PUSH_DIR/sent/ (through curl --http2, what libcurl does, and
through a small python3-h2 client); then each check each service makes is
shown to refuse what it should, with the status and reason Apple or Google
give, and to record nothing: provider tokens signed with another key, stale
or from the future, wrong topic, push type, priority, expiration, collapse
id, payload, device token; assertions with a wrong signature, audience,
scope, issuer or lifetime; sends without a token, with a revoked or expired
one, to another project, to an unregistered or malformed token, with data
that is not strings. Then the fault controls (unregistered/, script/ with
429 and Retry-After, a delay that does not hold other streams, GOAWAY,
revoke-fcm, expire-apns, fcm-token-ttl, apns-token-updates), and the
transport: HTTP/1.1 is refused, an untrusted client fails TLS.

JWTs are made with PyJWT (python3-jwt) and python3-cryptography."""
import base64
import json
import os
import secrets
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import h2.config
import h2.connection
import h2.events
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

APNS_URL = os.environ["APNS_URL"]
FCM_URL = os.environ["FCM_URL"]
CA = os.environ["PUSH_CA_FILE"]
KEY_ID = os.environ["APNS_KEY_ID"]
TEAM_ID = os.environ["APNS_TEAM_ID"]
TOPIC = os.environ["APNS_TOPIC"]
PUSH_DIR = os.environ["HD_PUSH_DIR"]
SENT = os.path.join(PUSH_DIR, "sent")
with open(os.environ["APNS_KEY_FILE"], "rb") as _f:
    APNS_KEY = serialization.load_pem_private_key(_f.read(), password=None)
with open(os.environ["FCM_CREDENTIALS_FILE"], encoding="utf-8") as _f:
    ACCOUNT = json.load(_f)
PROJECT = ACCOUNT["project_id"]
TOKEN_URI = ACCOUNT["token_uri"]
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"
TIME_MSG = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim.")


# ---- an HTTP/2 client ---------------------------------------------------------

class H2:
    """One HTTP/2 connection over TLS (python3-h2), trusting PUSH_CA_FILE;
    several requests may be in flight. Responses are (status, headers dict,
    body bytes)."""

    def __init__(self, url=APNS_URL, cafile=CA):
        u = urllib.parse.urlsplit(url)
        self.authority = u.netloc
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        self.sock = ctx.wrap_socket(socket.create_connection((u.hostname, u.port), timeout=10),
                                    server_hostname=u.hostname)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.heads, self.bodies, self.done = {}, {}, set()
        self.goaway = None  # (error code, debug data) once the server sent GOAWAY

    def start(self, method, path, headers=(), body=b""):
        sid = self.conn.get_next_available_stream_id()
        h = [(":method", method), (":scheme", "https"), (":authority", self.authority),
             (":path", path)] + list(headers)
        if body:
            h.append(("content-length", str(len(body))))
        self.conn.send_headers(sid, h, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        self.bodies[sid] = b""
        return sid

    def wait(self, sid):
        while sid not in self.done:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed before stream {sid} ended (goaway {self.goaway})")
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.heads[ev.stream_id] = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    self.bodies[ev.stream_id] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    self.done.add(ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = (ev.error_code, ev.additional_data)
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)
        h = self.heads[sid]
        return int(h[":status"]), h, self.bodies[sid]

    def request(self, method, path, headers=(), body=b""):
        return self.wait(self.start(method, path, headers, body))

    def close(self):
        try:
            self.conn.close_connection()
            self.sock.sendall(self.conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()


def once(method, path, headers=(), body=b"", url=APNS_URL):
    c = H2(url)
    try:
        return c.request(method, path, headers, body)
    finally:
        c.close()


def curl(*args, cacert=True):
    """curl --http2 (with --cacert PUSH_CA_FILE unless cacert=False);
    returns (status or 0, http version, headers text, body bytes, exit code)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, hdr = os.path.join(tmp, "body"), os.path.join(tmp, "headers")
        cmd = ["curl", "-sS", "--max-time", "10", "-o", out, "-D", hdr,
               "-w", "%{http_code} %{http_version}", *(["--cacert", CA] if cacert else []), *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        body = open(out, "rb").read() if os.path.exists(out) else b""
        heads = open(hdr).read() if os.path.exists(hdr) else ""
    code, _, version = p.stdout.partition(" ")
    return (int(code) if code.isdigit() else 0), version, heads, body, p.returncode


# ---- APNs ---------------------------------------------------------------------

def provider_token(iat=None, kid=KEY_ID, iss=TEAM_ID, key=APNS_KEY, alg="ES256"):
    claims = {"iss": iss, "iat": int(time.time()) if iat is None else iat}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


TOKEN = provider_token()  # as a client does: one token, reused


def device():
    return secrets.token_hex(32)


def alert(text="hello"):
    return json.dumps({"aps": {"alert": {"title": "honeyDue", "body": text}}}).encode()


def apns_headers(token=None, **extra):
    h = {"authorization": f"bearer {token or TOKEN}", "apns-topic": TOPIC,
         "apns-push-type": "alert"}
    for k, v in extra.items():
        k = k.replace("_", "-")
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return list(h.items())


def push(dev, body=None, token=None, conn=None, path=None, method="POST", **extra):
    args = (method, path or f"/3/device/{dev}", apns_headers(token, **extra),
            alert() if body is None else body)
    return conn.request(*args) if conn else once(*args)


def reason(body):
    return json.loads(body)["reason"]


def records(dev):
    """The records in sent/ for device token dev, oldest first."""
    out = []
    if os.path.isdir(SENT):
        for name in sorted(os.listdir(SENT)):
            if name.endswith(".json") and not name.startswith("."):
                with open(os.path.join(SENT, name)) as f:
                    rec = json.load(f)
                if rec.get("token") == dev:
                    out.append((name, rec))
    return out


def refused(dev, want_status, want_reason, **kw):
    status, headers, body = push(dev, **kw)
    assert (status, reason(body)) == (want_status, want_reason), (status, body, kw)
    assert uuid.UUID(headers["apns-id"])
    assert not records(dev), "a refused push was recorded"


def control(name, content=""):
    path = os.path.join(PUSH_DIR, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)
    return path


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def test_apns_push_through_curl_is_accepted_and_recorded():
    dev = device()
    payload = alert("Replace furnace filter")
    status, version, heads, body, rc = curl(
        "--http2", "-H", f"authorization: bearer {TOKEN}", "-H", f"apns-topic: {TOPIC}",
        "-H", "apns-push-type: alert", "-H", "apns-priority: 10", "-H", "apns-expiration: 0",
        "-H", "apns-collapse-id: task-42", "-H", "content-type: application/json",
        "--data-binary", payload, f"{APNS_URL}/3/device/{dev}")
    assert (status, version, rc) == (200, "2", 0), (status, version, heads, body)
    assert body == b""
    apns_id = [line.split(":", 1)[1].strip() for line in heads.splitlines()
               if line.lower().startswith("apns-id:")][0]
    assert str(uuid.UUID(apns_id)) == apns_id.lower()
    [(name, rec)] = records(dev)
    assert name.endswith("-apns.json")
    assert rec["provider"] == "apns" and rec["id"] == apns_id
    assert rec["payload"] == json.loads(payload)
    assert (rec["topic"], rec["push_type"], rec["priority"], rec["expiration"],
            rec["collapse_id"]) == (TOPIC, "alert", 10, 0, "task-42")
    assert rec["provider_token"]["kid"] == KEY_ID and rec["provider_token"]["iss"] == TEAM_ID
    assert "authorization" not in rec["headers"] and TOKEN not in json.dumps(rec)
    assert rec["warnings"] == []


def test_apns_id_is_echoed_and_a_bad_one_refused():
    dev = device()
    given = str(uuid.uuid4())
    status, headers, _ = push(dev, apns_id=given)
    assert status == 200 and headers["apns-id"] == given
    assert uuid.UUID(headers["apns-unique-id"])  # as the sandbox answers
    refused(device(), 400, "BadMessageId", apns_id="not-a-uuid")


def test_one_connection_carries_many_pushes_and_records_warnings():
    c = H2()
    try:
        devs = [device() for _ in range(5)]
        sids = [c.start("POST", f"/3/device/{d}", apns_headers(), alert(d)) for d in devs]
        assert [c.wait(s)[0] for s in sids] == [200] * 5
        # A background push Apple takes but a client should not send so.
        bg = device()
        body = json.dumps({"aps": {"alert": "x"}}).encode()
        status, _, _ = push(bg, body, conn=c, apns_push_type="background", apns_priority="10")
        assert status == 200
    finally:
        c.close()
    assert all(len(records(d)) == 1 for d in devs)
    [(_, rec)] = records(bg)
    assert rec["warnings"] == ["background push without aps.content-available 1",
                               "background push with aps.alert, sound or badge",
                               "background push at priority 10 (Apple requires 5)"]


def _der_signed_token():
    """A provider token whose signature is DER (what OpenSSL's ECDSA gives),
    not JWS's raw r||s: the mistake a C client makes."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "ES256", "kid": KEY_ID}).encode())
    claims = b64(json.dumps({"iss": TEAM_ID, "iat": int(time.time())}).encode())
    sig = APNS_KEY.sign(f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    return f"{head}.{claims}.{b64(sig)}"


def test_apns_provider_token_refusals():
    now = int(time.time())
    other = ec.generate_private_key(ec.SECP256R1())
    refused(device(), 403, "MissingProviderToken", authorization=None)
    refused(device(), 403, "MissingProviderToken", authorization="bearer ")
    refused(device(), 403, "InvalidProviderToken", token=provider_token(key=other))
    refused(device(), 403, "InvalidProviderToken", token=_der_signed_token())
    refused(device(), 403, "InvalidProviderToken", token=provider_token(kid="ABCDEFGHIJ"))
    refused(device(), 403, "InvalidProviderToken", token=provider_token(iss="ABCDEFGHIJ"))
    refused(device(), 403, "InvalidProviderToken", token=provider_token(
        key=ec.generate_private_key(ec.SECP384R1()), alg="ES384"))
    refused(device(), 403, "InvalidProviderToken", token=TOKEN[:-4] + "AAAA")
    refused(device(), 403, "InvalidProviderToken", token=TOKEN + "==")  # JWS has no padding
    refused(device(), 403, "ExpiredProviderToken", token=provider_token(iat=now - 3700))
    refused(device(), 403, "InvalidProviderToken", token=provider_token(iat=now + 600))
    # Just inside both bounds: accepted.
    for iat in (now - 3500, now + 5):
        assert push(device(), token=provider_token(iat=iat))[0] == 200


def test_apns_header_refusals():
    refused(device(), 400, "MissingTopic", apns_topic=None)
    refused(device(), 400, "TopicDisallowed", apns_topic="com.example.other")
    refused(device(), 400, "InvalidPushType", apns_push_type=None)
    refused(device(), 400, "InvalidPushType", apns_push_type="voip")
    refused(device(), 400, "BadPriority", apns_priority="7")
    refused(device(), 400, "BadExpirationDate", apns_expiration="tomorrow")
    refused(device(), 400, "BadExpirationDate", apns_expiration="-1")
    refused(device(), 400, "BadCollapseId", apns_collapse_id="c" * 65)
    for priority in ("10", "5", "1"):
        assert push(device(), apns_priority=priority)[0] == 200
    assert push(device(), apns_collapse_id="c" * 64)[0] == 200
    dev = device()
    status, _, body = once("POST", f"/3/device/{dev}",
                           apns_headers() + [("apns-topic", TOPIC)], alert())
    assert (status, reason(body)) == (400, "DuplicateHeaders")


def test_apns_payload_refusals():
    aps = b'{"aps":{"alert":"x"},"pad":"'
    exact = aps + b"p" * (4096 - len(aps) - 2) + b'"}'
    assert len(exact) == 4096
    assert push(device(), exact)[0] == 200
    refused(device(), 413, "PayloadTooLarge", body=exact[:-2] + b'p"}')
    refused(device(), 400, "PayloadEmpty", body=b"")
    refused(device(), 400, "PayloadEmpty", body=b'{"aps": ')
    refused(device(), 400, "PayloadEmpty", body=b'["aps"]')
    refused(device(), 400, "PayloadEmpty", body=b'{"alert": "no aps"}')


def test_apns_device_token_path_and_method_refusals():
    refused("ab" * 31, 400, "BadDeviceToken")           # 62 hex digits
    refused("ab" * 32 + "a", 400, "BadDeviceToken")     # odd length
    refused("zz" * 32, 400, "BadDeviceToken")
    refused("ab" * 101, 400, "BadDeviceToken")          # over 200
    assert push("AB" * 100)[0] == 200                    # 100 bytes, the most
    status, _, body = push("", path="/3/device/")
    assert (status, reason(body)) == (400, "MissingDeviceToken")
    status, _, body = push(device(), path="/2/device/" + device())
    assert (status, reason(body)) == (404, "BadPath")
    status, _, body = push(device(), method="GET", body=b"")
    assert (status, reason(body)) == (405, "MethodNotAllowed")


def test_apns_unregistered_is_410_with_its_timestamp():
    dev = device()
    path = control(f"unregistered/{dev}")
    when = time.time() - 86400
    os.utime(path, (when, when))
    try:
        status, _, body = push(dev)
        assert status == 410, body
        assert json.loads(body) == {"reason": "Unregistered", "timestamp": int(when * 1000)}
        # Unregistered is checked after the request itself: a bad one still says why.
        refused(dev, 400, "BadPriority", apns_priority="3")
    finally:
        remove(path)
    assert push(dev)[0] == 200


def test_apns_script_429_with_retry_after_then_normal():
    dev = device()
    path = control(f"script/{dev}", json.dumps([{"status": 429, "retry_after": 2},
                                                {"status": 503}]))
    try:
        # A refused request consumes nothing.
        refused(dev, 400, "TopicDisallowed", apns_topic="x")
        status, headers, body = push(dev)
        assert (status, reason(body), headers.get("retry-after")) == (429, "TooManyRequests", "2")
        status, headers, body = push(dev)
        assert (status, reason(body)) == (503, "ServiceUnavailable")
        assert "retry-after" not in headers
        assert not os.path.exists(path), "an emptied script is removed"
        assert not records(dev)
        assert push(dev)[0] == 200
        assert len(records(dev)) == 1
    finally:
        remove(path)


def test_script_delay_holds_one_stream_not_the_connection():
    slow, fast = device(), device()
    path = control(f"script/{slow}", json.dumps([{"delay": 1.5}]))
    c = H2()
    try:
        start = time.monotonic()
        s1 = c.start("POST", f"/3/device/{slow}", apns_headers(), alert())
        s2 = c.start("POST", f"/3/device/{fast}", apns_headers(), alert())
        assert c.wait(s2)[0] == 200
        assert s1 not in c.done and time.monotonic() - start < 1.0
        assert c.wait(s1)[0] == 200
        assert time.monotonic() - start >= 1.4
    finally:
        c.close()
        remove(path)
    assert len(records(slow)) == 1


def test_script_goaway_closes_the_connection():
    dev = device()
    path = control(f"script/{dev}", json.dumps([{"reason": "Shutdown", "goaway": True}]))
    c = H2()
    try:
        status, _, body = push(dev, conn=c)
        assert (status, reason(body)) == (503, "Shutdown")
        try:
            c.wait(c.start("POST", f"/3/device/{dev}", apns_headers(), alert()))
        except (ConnectionError, OSError, h2.exceptions.ProtocolError):
            pass
        else:
            raise AssertionError("the connection outlived GOAWAY")
        assert c.goaway is not None and json.loads(c.goaway[1]) == {"reason": "Shutdown"}
    finally:
        c.close()
        remove(path)
    assert push(dev)[0] == 200  # a new connection


def test_expire_apns_then_a_new_token_works():
    old = provider_token(iat=int(time.time()) - 2)
    dev = device()
    assert push(dev, token=old)[0] == 200
    time.sleep(0.05)
    path = control("expire-apns")
    try:
        time.sleep(0.05)
        refused(device(), 403, "ExpiredProviderToken", token=old)
        assert push(device(), token=provider_token())[0] == 200
    finally:
        remove(path)
    assert push(device(), token=old)[0] == 200


def test_apns_token_updates_limit():
    path = control("apns-token-updates", "1")
    try:
        time.sleep(1.1)
        a = provider_token(iat=int(time.time()) - 1)
        b = provider_token(iat=int(time.time()))
        assert push(device(), token=a)[0] == 200
        refused(device(), 429, "TooManyProviderTokenUpdates", token=b)
        assert push(device(), token=a)[0] == 200
        time.sleep(1.1)
        assert push(device(), token=b)[0] == 200
    finally:
        remove(path)


# ---- the transport -----------------------------------------------------------------

def test_http1_is_refused():
    status, version, _, body, rc = curl("--http1.1", "-H", f"authorization: bearer {TOKEN}",
                                        "-d", "{}", f"{APNS_URL}/3/device/{device()}")
    assert rc != 0 and status == 0 and not body.startswith(b"HTTP/"), (rc, status, body)
    # The same without curl: ALPN http/1.1 only, a request line, then no HTTP/1 answer.
    u = urllib.parse.urlsplit(APNS_URL)
    ctx = ssl.create_default_context(cafile=CA)
    ctx.set_alpn_protocols(["http/1.1"])
    with ctx.wrap_socket(socket.create_connection((u.hostname, u.port), timeout=10),
                         server_hostname=u.hostname) as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        answer = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer and not answer.startswith(b"HTTP/"), answer
    assert b"HTTP/2 only" in answer  # the GOAWAY's debug data


def test_untrusted_client_fails_tls():
    status, _, _, _, rc = curl("--http2", f"{APNS_URL}/3/device/{device()}", cacert=False)
    assert (rc, status) == (60, 0)  # curl: the peer's certificate is not trusted
    try:
        H2(cafile=None)
    except ssl.SSLCertVerificationError:
        pass
    else:
        raise AssertionError("a client without PUSH_CA_FILE got through")
    # The certificate names localhost as well as 127.0.0.1.
    port = urllib.parse.urlsplit(APNS_URL).port
    status, version, _, body, rc = curl("--http2", "-d", "grant_type=password",
                                        f"https://localhost:{port}/token",
                                        "--resolve", f"localhost:{port}:127.0.0.1")
    assert (rc, version, status) == (0, "2", 400), body
    assert json.loads(body)["error"] == "unsupported_grant_type"


# ---- Google's token endpoint -------------------------------------------------------

def assertion(key=None, kid=None, alg="RS256", **claims):
    now = int(time.time())
    c = {"iss": ACCOUNT["client_email"], "scope": FCM_SCOPE, "aud": TOKEN_URI,
         "iat": now, "exp": now + 3600}
    c.update(claims)
    c = {k: v for k, v in c.items() if v is not None}
    if key is None:
        key = ACCOUNT["private_key"]
    return jwt.encode(c, key, algorithm=alg, headers={"kid": kid or ACCOUNT["private_key_id"]})


def token_request(form, ctype="application/x-www-form-urlencoded"):
    body = urllib.parse.urlencode(form).encode()
    status, headers, raw = once("POST", urllib.parse.urlsplit(TOKEN_URI).path,
                                [("content-type", ctype)], body, url=TOKEN_URI)
    return status, json.loads(raw)


def access_token(**kw):
    status, body = token_request({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                  "assertion": assertion(**kw)})
    assert status == 200, body
    return body["access_token"]


def test_token_endpoint_issues_a_bearer_token():
    assert urllib.parse.urlsplit(TOKEN_URI).netloc == urllib.parse.urlsplit(FCM_URL).netloc
    form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                   "assertion": assertion()})
    status, version, _, body, rc = curl("--http2", "-d", form, TOKEN_URI)
    assert (status, version, rc) == (200, "2", 0), body
    answer = json.loads(body)
    assert set(answer) == {"access_token", "expires_in", "token_type"}
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3599
    assert len(answer["access_token"]) > 40


def test_token_endpoint_refusals():
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad_sig = (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    now = int(time.time())

    def grant(**kw):
        return token_request({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                              "assertion": assertion(**kw)})
    assert grant(key=other) == bad_sig
    assert grant(kid="0" * 40) == bad_sig
    assert grant(alg="HS256", key="not-the-key") == bad_sig
    assert grant(aud="https://oauth2.googleapis.com/token") == (400, {
        "error": "invalid_grant", "error_description": "Invalid JWT: Failed audience check. "
        f"The right audience is {TOKEN_URI}"})
    stale = (400, {"error": "invalid_grant", "error_description": TIME_MSG})
    assert grant(iat=now - 7200, exp=now - 3600) == stale   # expired
    assert grant(iat=now, exp=now + 7200) == stale           # longer than an hour
    assert grant(iat=now + 600, exp=now + 1200) == stale     # from the future
    assert grant(iss="someone@else.iam.gserviceaccount.com") == (400, {
        "error": "invalid_grant", "error_description": "Invalid grant: account not found"})
    invalid_scope = (400, {"error": "invalid_scope", "error_description":
                           "Invalid OAuth scope or ID token audience provided."})
    assert grant(scope=None) == invalid_scope
    assert grant(scope="firebase.messaging") == invalid_scope
    status, body = token_request({"grant_type": "client_credentials", "assertion": assertion()})
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, body = token_request({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"})
    assert (status, body["error"]) == (400, "invalid_request")
    # A JSON body works too, as at Google.
    status, headers, raw = once("POST", "/token", [("content-type", "application/json")],
                                json.dumps({"grant_type": "urn:ietf:params:oauth:grant-type:"
                                            "jwt-bearer", "assertion": assertion()}).encode())
    assert status == 200 and json.loads(raw)["token_type"] == "Bearer"


# ---- FCM ----------------------------------------------------------------------------

def fcm_device():
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(100)}"


def message(dev, **extra):
    m = {"token": dev, "notification": {"title": "honeyDue", "body": "Filter due"},
         "data": {"task_id": "42", "kind": "task_due"},
         "android": {"priority": "high", "ttl": "3600s",
                     "notification": {"channel_id": "reminders"}}}
    m.update(extra)
    return {"message": m}


def send(body, token=None, project=PROJECT, conn=None, ctype="application/json"):
    headers = [("content-type", ctype)]
    if token is not False:
        headers.append(("authorization", f"Bearer {token or live_access()}"))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    args = ("POST", f"/v1/projects/{project}/messages:send", headers, raw)
    status, h, out = conn.request(*args) if conn else once(*args, url=FCM_URL)
    return status, h, json.loads(out)


def fcm_code(body):
    for d in body["error"].get("details", []):
        if d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError":
            return d["errorCode"]
    return None


def violations(body):
    for d in body["error"].get("details", []):
        if d["@type"] == "type.googleapis.com/google.rpc.BadRequest":
            return d["fieldViolations"]
    return None


_access = []


def live_access():
    """An access token the server knows now: one per server run, fetched
    again after a restart (which forgets them all: another module's tests
    stop and start the server)."""
    pid = open(os.path.join(os.environ["HD_STATE"], "push-server.pid")).read().strip()
    if not _access or _access[0] != pid:
        _access[:] = [pid, access_token()]
    return _access[1]


def test_fcm_send_through_curl_is_accepted_and_recorded():
    ACCESS = live_access()
    dev = fcm_device()
    body = message(dev)
    status, version, _, out, rc = curl(
        "--http2", "-H", f"authorization: Bearer {ACCESS}", "-H", "content-type: application/json",
        "--data-binary", json.dumps(body), FCM_URL + SEND_PATH)
    assert (status, version, rc) == (200, "2", 0), out
    name = json.loads(out)["name"]
    assert name.startswith(f"projects/{PROJECT}/messages/0:")
    [(fname, rec)] = records(dev)
    assert fname.endswith("-fcm.json")
    assert (rec["provider"], rec["id"], rec["project"]) == ("fcm", name, PROJECT)
    assert rec["payload"] == body
    assert ACCESS not in json.dumps(rec) and "authorization" not in rec["headers"]


def test_fcm_send_needs_a_live_token():
    dev = fcm_device()
    status, headers, body = send(message(dev), token=False)
    assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED"), body
    assert body["error"]["details"][0]["reason"] == "CREDENTIALS_MISSING"
    status, headers, body = send(message(dev), token="ya29.not-one-of-ours")
    assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED"), body
    assert 'error="invalid_token"' in headers["www-authenticate"]
    # A token without an FCM scope is issued, and cannot send.
    narrow = access_token(scope="https://www.googleapis.com/auth/userinfo.email")
    status, _, body = send(message(dev), token=narrow)
    assert (status, body["error"]["status"]) == (403, "PERMISSION_DENIED"), body
    # ... cloud-platform can.
    assert send(message(dev), token=access_token(
        scope="https://www.googleapis.com/auth/cloud-platform"))[0] == 200
    status, _, body = send(message(fcm_device()), project="someone-elses-project")
    assert (status, body["error"]["status"]) == (403, "PERMISSION_DENIED"), body
    assert len(records(dev)) == 1


def test_revoke_fcm_forces_renewal():
    old = access_token()
    dev = fcm_device()
    assert send(message(dev), token=old)[0] == 200
    time.sleep(0.05)
    path = control("revoke-fcm")
    try:
        time.sleep(0.05)
        status, _, body = send(message(dev), token=old)
        assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED"), body
        assert send(message(dev), token=access_token())[0] == 200
    finally:
        remove(path)
    assert len(records(dev)) == 2


def test_fcm_token_ttl_control_makes_tokens_expire():
    path = control("fcm-token-ttl", "1")
    try:
        status, body = token_request({"grant_type": "urn:ietf:params:oauth:grant-type:"
                                      "jwt-bearer", "assertion": assertion()})
    finally:
        remove(path)
    assert status == 200 and body["expires_in"] == 1
    assert send(message(fcm_device()), token=body["access_token"])[0] == 200
    time.sleep(1.2)
    status, _, out = send(message(fcm_device()), token=body["access_token"])
    assert (status, out["error"]["status"]) == (401, "UNAUTHENTICATED"), out


def test_fcm_unregistered_and_malformed_tokens():
    dev = fcm_device()
    path = control(f"unregistered/{dev}")
    try:
        status, _, body = send(message(dev))
    finally:
        remove(path)
    assert status == 404, body
    assert body["error"]["status"] == "NOT_FOUND"
    assert body["error"]["message"] == "Requested entity was not found."
    assert fcm_code(body) == "UNREGISTERED"
    for bad in ("short", "x" * 40 + "!", ""):
        status, _, body = send(message(bad))
        assert (status, body["error"]["status"], fcm_code(body)) == \
            (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), (bad, body)
        assert violations(body)[0]["field"] == "message.token", body
    assert not records(dev)


def test_fcm_message_refusals():
    dev = fcm_device()
    status, _, body = send(message(dev, data={"task_id": 42}))
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT"), body
    assert violations(body)[0]["field"] == "message.data[0].value"
    assert fcm_code(body) is None  # a parse error: Google's BadRequest alone
    status, _, body = send(message(dev, notfication={"title": "typo"}))
    assert status == 400 and 'Unknown name "notfication"' in body["error"]["message"], body
    status, _, body = send(message(dev, android={"priority": "urgent"}))
    assert status == 400 and violations(body)[0]["field"] == "message.android.priority", body
    status, _, body = send(message(dev, android={"ttl": 3600}))
    assert status == 400 and violations(body)[0]["field"] == "message.android.ttl", body
    status, _, body = send({"message": {"notification": {"title": "to nobody"}}})
    assert (status, body["error"]["message"]) == (400, "Recipient of the message is not set."), body
    status, _, body = send(message(dev, topic="news"))
    assert status == 400 and "oneof" in body["error"]["message"], body
    status, _, body = send(message(dev, data={"k": "v" * 5000}))
    assert (status, body["error"]["message"]) == (400, "Android message is too big"), body
    # libcurl's default content type for a POST body: Google does not read it as JSON.
    status, _, body = send(message(dev), ctype="application/x-www-form-urlencoded")
    assert status == 400 and "Cannot bind query parameter" in body["error"]["message"], body
    status, _, body = send(b'{"message": ')
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT"), body
    # camelCase names are the JSON names and are accepted; validate_only records nothing.
    status, _, body = send({"validateOnly": True, "message": message(dev)["message"]})
    assert (status, body) == (200, {"name": f"projects/{PROJECT}/messages/fake_message_id"})
    assert not records(dev)


def test_fcm_script_503_with_retry_after_then_normal():
    dev = fcm_device()
    path = control(f"script/{dev}", json.dumps([{"status": 503, "retry_after": 3},
                                                {"reason": "QUOTA_EXCEEDED"}]))
    c = H2(FCM_URL)
    try:
        status, headers, body = send(message(dev), conn=c)
        assert (status, body["error"]["status"], fcm_code(body)) == \
            (503, "UNAVAILABLE", "UNAVAILABLE"), body
        assert headers["retry-after"] == "3"
        status, _, body = send(message(dev), conn=c)
        assert (status, fcm_code(body)) == (429, "QUOTA_EXCEEDED"), body
        assert not records(dev)
        assert send(message(dev), conn=c)[0] == 200
    finally:
        c.close()
        remove(path)
    assert len(records(dev)) == 1
