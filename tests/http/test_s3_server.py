"""The stack's S3-compatible server (tests/s3_server.py), as the S3 backend
will meet it: round trips signed by curl --aws-sigv4 (what libcurl's
CURLOPT_AWS_SIGV4 does), a presigned GET made by botocore, and the proof that
a wrong signature fails: a wrong secret, an unknown key id, a tampered path,
a tampered signed header, no signature at all, an expired presigned URL, a
clock too far off and a body that does not match its declared sha256 are
each refused as S3 refuses them, and a refused upload leaves the object as
it was. Then the stall fault: a client with a 1 s timeout gives up.

Requests built here are signed with botocore (as boto3 signs), sent with
http.client; the server re-signs what arrives, so the tampering happens on
the wire, after signing."""
import datetime
import hashlib
import http.client
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SIGV4_TIMESTAMP
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lib import unique

ENDPOINT = os.environ["S3_ENDPOINT"]
REGION = os.environ["S3_REGION"]
BUCKET = os.environ["S3_BUCKET"]
KEY_ID = os.environ["S3_ACCESS_KEY_ID"]
SECRET = os.environ["S3_SECRET_ACCESS_KEY"]
S3_DIR = os.environ["HD_S3_DIR"]
_URL = urllib.parse.urlsplit(ENDPOINT)
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY = hashlib.sha256(b"").hexdigest()


# ---- clients -----------------------------------------------------------------

def curl(*args, user=None, data=None):
    """curl --aws-sigv4 with the stack's key pair (or user="ID:SECRET"),
    the pair passed on stdin rather than the command line; returns (status,
    body bytes, curl's exit code)."""
    user = user or f"{KEY_ID}:{SECRET}"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "body")
        cmd = ["curl", "-sS", "-K", "-", "--aws-sigv4", f"aws:amz:{REGION}:s3",
               "-o", out, "-w", "%{http_code}", *args]
        if data is not None:
            src = os.path.join(tmp, "upload")
            with open(src, "wb") as f:
                f.write(data)
            cmd += ["-T", src]
        p = subprocess.run(cmd, input=f'user = "{user}"\n', capture_output=True, text=True,
                           timeout=20)
        body = b""
        if os.path.exists(out):
            with open(out, "rb") as f:
                body = f.read()
    status = int(p.stdout or 0) if p.stdout.isdigit() else 0
    return status, body, p.returncode


def sha_header(data=b""):
    return ["-H", f"x-amz-content-sha256: {hashlib.sha256(data).hexdigest()}"]


def url(key="", query=""):
    path = f"/{BUCKET}/" + urllib.parse.quote(key, safe="/~") if key else f"/{BUCKET}"
    return ENDPOINT + path + (f"?{query}" if query else "")


def signed(method, key="", query=None, headers=None, body=b"", secret=SECRET, when=None):
    """An AWSRequest signed by botocore's S3SigV4Auth (with the real sha256
    of the body), at `when` (a datetime, default now)."""
    q = ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)) if query else ""
    req = AWSRequest(method=method, url=url(key) + q, data=body, headers=headers or {})
    signer = S3SigV4Auth(Credentials(KEY_ID, secret), "s3", REGION)
    if when is None:
        signer.add_auth(req)
    else:  # add_auth with another clock
        req.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
        signer._modify_request_before_signing(req)
        sts = signer.string_to_sign(req, signer.canonical_request(req))
        signer._inject_signature_to_request(req, signer.signature(sts, req))
    return req


def presign(key, expires=60, when=None, query=None):
    """A presigned GET URL made by botocore's S3SigV4QueryAuth."""
    q = ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)) if query else ""
    req = AWSRequest(method="GET", url=url(key) + q)
    signer = S3SigV4QueryAuth(Credentials(KEY_ID, SECRET), "s3", REGION, expires=expires)
    if when is None:
        signer.add_auth(req)
    else:
        req.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
        signer._modify_request_before_signing(req)
        sts = signer.string_to_sign(req, signer.canonical_request(req))
        signer._inject_signature_to_request(req, signer.signature(sts, req))
    return req.url


def send(method, target, headers=None, body=b""):
    """Send as it is (target: a path with its query, or a whole URL); return
    (status, headers, body)."""
    split = urllib.parse.urlsplit(target)
    path = split.path + (f"?{split.query}" if split.query else "")
    conn = http.client.HTTPConnection(_URL.hostname, _URL.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        h = dict(headers or {})
        h.setdefault("Host", _URL.netloc)
        if body or method == "PUT":
            h["Content-Length"] = str(len(body))
        for k, v in h.items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        r = conn.getresponse()
        return r.status, r.msg, r.read()
    finally:
        conn.close()


def send_signed(req, path=None, headers=None):
    h = dict(req.headers.items())
    h.update(headers or {})
    return send(req.method, path or req.url, h, req.body or b"")


def error_code(body):
    root = ET.fromstring(body)
    assert root.tag == "Error", body
    return root.findtext("Code")


def put(key, data):
    status, body, _ = curl(*sha_header(data), url(key), data=data)
    assert status == 200, (status, body)


def get(key):
    status, body, _ = curl(*sha_header(), url(key))
    return status, body


# ---- round trips ------------------------------------------------------------

def test_curl_put_head_get_range_delete():
    key = f"{unique('s3')}/a file (1).bin"
    data = os.urandom(70000)
    status, body, _ = curl(*sha_header(data), url(key), data=data)
    assert status == 200, (status, body)
    # HEAD: the size and S3's ETag (the MD5 of a single-part upload).
    status, headers, body = send_signed(signed("HEAD", key))
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(len(data))
    assert headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert headers["Last-Modified"]
    status, body = get(key)
    assert status == 200 and body == data
    status, body, _ = curl(*sha_header(), "-r", "100-199", url(key))
    assert status == 206 and body == data[100:200]
    status, body, _ = curl(*sha_header(), "-X", "DELETE", url(key))
    assert status == 204, (status, body)
    status, body = get(key)
    assert status == 404 and error_code(body) == "NoSuchKey", body
    # As S3: deleting what is not there is 204 too.
    status, body, _ = curl(*sha_header(), "-X", "DELETE", url(key))
    assert status == 204, (status, body)


def test_curl_put_unsigned_payload():
    key = unique("s3") + "/unsigned"
    data = b"streamed without a hash\n" * 100
    status, body, _ = curl("-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", url(key), data=data)
    assert status == 200, (status, body)
    assert get(key) == (200, data)


def test_list_objects_v2_prefix_pages_and_continuation():
    prefix = unique("s3") + "/"
    keys = [prefix + k for k in ("b", "a", "c/deep")]
    for k in keys:
        put(k, k.encode())
    # curl (libcurl 7.88) signs the query as written: it must already be in
    # canonical order, with each value URI-encoded.
    q = "list-type=2&max-keys=2&prefix=" + urllib.parse.quote(prefix, safe="")
    status, body, _ = curl(*sha_header(), url(query=q))
    assert status == 200, body
    root = ET.fromstring(body)
    assert root.tag == NS + "ListBucketResult"
    assert [e.text for e in root.iter(NS + "Key")] == [prefix + "a", prefix + "b"]
    assert root.findtext(NS + "IsTruncated") == "true"
    assert root.findtext(NS + "KeyCount") == "2"
    c = root.find(NS + "Contents")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", c.findtext(NS + "LastModified"))
    assert c.findtext(NS + "Size") == str(len(prefix + "a"))
    token = root.findtext(NS + "NextContinuationToken")
    status, _, body = send_signed(signed("GET", query={"list-type": "2", "prefix": prefix,
                                                       "continuation-token": token}))
    assert status == 200, body
    root = ET.fromstring(body)
    assert [e.text for e in root.iter(NS + "Key")] == [prefix + "c/deep"]
    assert root.findtext(NS + "IsTruncated") == "false"
    # A delimiter rolls c/deep up into a common prefix.
    status, _, body = send_signed(signed("GET", query={"list-type": "2", "prefix": prefix,
                                                       "delimiter": "/"}))
    root = ET.fromstring(body)
    assert [e.text for e in root.iter(NS + "Key")] == [prefix + "a", prefix + "b"]
    assert [e.findtext(NS + "Prefix") for e in root.iter(NS + "CommonPrefixes")] == [prefix + "c/"]


def test_presigned_get_from_botocore():
    key = unique("s3") + "/report.pdf"
    data = b"%PDF-1.4 presigned\n"
    put(key, data)
    status, _, body = send("GET", presign(key))
    assert (status, body) == (200, data)
    # The response-* overrides a download link sets.
    link = presign(key, query={"response-content-disposition": 'attachment; filename="r.pdf"'})
    status, headers, body = send("GET", link)
    assert status == 200 and headers["Content-Disposition"] == 'attachment; filename="r.pdf"'


def test_virtual_host_style():
    key = unique("s3") + "/vhost"
    host = f"{BUCKET}.localhost"
    vurl = f"http://{host}:{_URL.port}/{key}"
    resolve = ["--resolve", f"{host}:{_URL.port}:127.0.0.1"]
    status, body, _ = curl(*resolve, *sha_header(b"v"), vurl, data=b"v")
    assert status == 200, body
    assert get(key) == (200, b"v")
    status, body, _ = curl(*resolve, *sha_header(), vurl)
    assert (status, body) == (200, b"v")


# ---- refusals: a wrong signature fails -------------------------------------

def test_wrong_secret_is_signature_does_not_match_and_stores_nothing():
    key = unique("s3") + "/x"
    # The secret with its last character changed (a random secret may end
    # in any character, "x" included: then "x" would be the right one).
    wrong = SECRET[:-1] + ("y" if SECRET.endswith("x") else "x")
    status, body, _ = curl(*sha_header(b"evil"), url(key), data=b"evil",
                           user=f"{KEY_ID}:{wrong}")
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch", body
    assert get(key)[0] == 404
    status, body, _ = curl(*sha_header(), url(key), user=f"{KEY_ID}:wrong")
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch", body
    # The answer carries the server's canonical request, as S3's does.
    assert b"<CanonicalRequest>GET\n/" in body


def test_unknown_access_key_id():
    status, body, _ = curl(*sha_header(), url("any"), user=f"AKIANOTOURS0000000000:{SECRET}")
    assert status == 403 and error_code(body) == "InvalidAccessKeyId", body


def test_anonymous_requests_are_refused():
    key = unique("s3") + "/anon"
    put(key, b"private")
    for method, target, body in (("GET", url(key), b""), ("PUT", url(key), b"overwrite"),
                                 ("DELETE", url(key), b""), ("GET", url(query="list-type=2"), b"")):
        status, _, answer = send(method, target, body=body)
        assert status == 403 and error_code(answer) == "AccessDenied", (method, answer)
    assert get(key) == (200, b"private")


def test_tampered_path():
    a, b = unique("s3") + "/a", unique("s3") + "/b"
    put(a, b"A")
    put(b, b"B")
    req = signed("GET", a)
    assert send_signed(req)[0] == 200
    target = url(b)
    status, _, body = send_signed(req, path=target)
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch", body
    # A presigned URL for a, pointed at b.
    link = presign(a).replace(urllib.parse.quote(a, safe="/"), urllib.parse.quote(b, safe="/"))
    status, _, body = send("GET", link)
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch", body


def test_tampered_signed_header():
    key = unique("s3") + "/range"
    put(key, b"0123456789")
    req = signed("GET", key, headers={"Range": "bytes=0-1"})
    status, _, body = send_signed(req)
    assert (status, body) == (206, b"01")
    status, _, body = send_signed(req, headers={"Range": "bytes=0-8"})
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch", body
    # An x-amz-* header added after signing is refused too, as S3 does.
    status, _, body = send_signed(req, headers={"x-amz-meta-extra": "1"})
    assert status == 403 and error_code(body) == "AccessDenied", body


def test_expired_presigned_url_and_skewed_clock():
    key = unique("s3") + "/old"
    put(key, b"old")
    ten_min_ago = datetime.datetime.utcnow() - datetime.timedelta(minutes=10)
    status, _, body = send("GET", presign(key, expires=60, when=ten_min_ago))
    assert status == 403 and error_code(body) == "AccessDenied", body
    assert b"Request has expired" in body
    # The same moment with an hour to live is still good: only the expiry failed.
    status, _, body = send("GET", presign(key, expires=3600, when=ten_min_ago))
    assert (status, body) == (200, b"old")
    # A header-signed request 20 minutes old: S3 allows 15.
    req = signed("GET", key, when=datetime.datetime.utcnow() - datetime.timedelta(minutes=20))
    status, _, body = send_signed(req)
    assert status == 403 and error_code(body) == "RequestTimeTooSkewed", body


def test_sha256_mismatch_keeps_the_previous_object():
    key = unique("s3") + "/doc"
    put(key, b"version 1")
    status, body, _ = curl(*sha_header(b"something else"), url(key), data=b"version 2")
    assert status == 400 and error_code(body) == "XAmzContentSHA256Mismatch", body
    assert get(key) == (200, b"version 1")
    # A header-signed request must declare its payload hash at all.
    req = signed("GET", key)
    del req.headers["X-Amz-Content-SHA256"]
    status, _, body = send_signed(req)
    assert status == 400 and error_code(body) == "InvalidRequest", body


def test_missing_bucket():
    status, body, _ = curl(*sha_header(), f"{ENDPOINT}/no-such-bucket-{os.getpid()}/k")
    assert status == 404 and error_code(body) == "NoSuchBucket", body


# ---- faults -------------------------------------------------------------------

def test_stall_makes_a_client_time_out():
    key = unique("s3") + "/stall"
    put(key, b"s")
    ctl = os.path.join(S3_DIR, ".stall")
    with open(ctl, "w") as f:
        f.write("3\n")
    try:
        start = time.monotonic()
        status, _, rc = curl(*sha_header(), "--max-time", "1", url(key))
        took = time.monotonic() - start
    finally:
        os.unlink(ctl)
    assert rc == 28 and status == 0, (rc, status)  # curl: operation timed out
    assert 0.9 < took < 2.5, took
    assert get(key) == (200, b"s")
