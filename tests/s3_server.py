#!/usr/bin/python3
"""s3_server.py - the local stack's S3-compatible object store: a real HTTP
server on loopback (standard library) that keeps objects as files and checks
every request's AWS Signature V4 with AWS's own signer (Debian's
python3-botocore), so that a client that signs wrongly fails as it would
against S3.

    s3_server.py --port P --dir D --access-key-id ID --secret-file F
                 [--region R] [--bucket B]... [--host 127.0.0.1]
                 [--vhost-domain localhost] [--pid-file F]

Operations: ListBuckets (GET /), CreateBucket (PUT /b), HeadBucket,
DeleteBucket, ListObjectsV2 (GET /b?list-type=2: prefix, delimiter,
max-keys, continuation-token, start-after, encoding-type=url), PutObject
(Content-Length required, as S3: 411 MissingContentLength otherwise;
x-amz-content-sha256 a hex sha256, which is checked against the body, or
UNSIGNED-PAYLOAD; Content-MD5 checked when given; Content-Type and
x-amz-meta-* kept), GetObject (Range: one range; the response-* query
overrides), HeadObject, DeleteObject (204, also when the key is absent).
Path style (http://127.0.0.1:P/bucket/key) and virtual-host style
(http://bucket.localhost:P/key; --vhost-domain names the domain).

Storage: D/<bucket>/obj/<sha256 of key> holds the bytes, D/<bucket>/meta/
<same>.json the key, size, ETag, time and headers. An upload is written to
D/<bucket>/tmp/ and renamed into place (data, then metadata, under one lock
that readers take too) only once the whole body arrived and its hash
matched: a half-written or rejected object is never visible.

Authentication, as S3 answers it (XML <Error><Code>..</Code><Message>..):
every request is signed, with an Authorization header (AWS4-HMAC-SHA256) or
as a presigned URL (X-Amz-Algorithm, -Credential, -Date, -Expires,
-SignedHeaders, -Signature). The canonical request is rebuilt from what
arrived (only the headers named in SignedHeaders, host always among them;
the path decoded and URI-encoded again; the query decoded, encoded and
sorted; the payload hash as the client declared it: the
x-amz-content-sha256 header, which header-signed requests must carry, or
UNSIGNED-PAYLOAD for a presigned URL) and signed by botocore's
S3SigV4Auth/S3SigV4QueryAuth with the server's credentials. No signature:
403 AccessDenied. Unknown key id: 403 InvalidAccessKeyId. Wrong signature:
403 SignatureDoesNotMatch (the body carries the server's CanonicalRequest
and StringToSign, as S3's does, to compare with the client's). X-Amz-Date
more than 15 minutes off: 403 RequestTimeTooSkewed. Presigned URL past
X-Amz-Expires: 403 AccessDenied "Request has expired". An x-amz-* header
that is not signed: 403 AccessDenied. Missing x-amz-content-sha256: 400
InvalidRequest. Body not matching it: 400 XAmzContentSHA256Mismatch. Other
region in the credential scope: 400 AuthorizationHeaderMalformed.

Fault control, switchable while it runs: while the file D/.stall exists,
each request that arrives (on a new or a kept-alive connection) is held for
the number of seconds it contains (30 when it is empty or not a number)
once its headers are read, before its body is read or anything answered,
then served normally. "Down" is stopping the process (tests/stack.sh s3-stop); wrong
credentials are the client's doing.

One JSON line per request on stderr. --pid-file is written once the port is
listening and removed at exit. SIGTERM or SIGINT stops the server (exit 0).
"""
import argparse
import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SIGV4_TIMESTAMP, UNSIGNED_PAYLOAD
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_SKEW = 15 * 60  # seconds, as S3
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
AUTH_RE = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),"
                     r"\s*Signature=([0-9a-f]{64})\s*$")
CHUNK = 64 * 1024
RESPONSE_OVERRIDES = {"response-content-type": "Content-Type",
                      "response-content-language": "Content-Language",
                      "response-expires": "Expires",
                      "response-cache-control": "Cache-Control",
                      "response-content-disposition": "Content-Disposition",
                      "response-content-encoding": "Content-Encoding"}
KEPT_HEADERS = ("content-type", "content-disposition", "content-encoding",
                "content-language", "cache-control", "expires")
PRESIGN_PARAMS = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                  "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"}


def log(event, **fields):
    now = datetime.datetime.now(datetime.timezone.utc)
    line = {"ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "level": "info", "pid": os.getpid(), "event": event}
    line.update(fields)
    print(json.dumps(line), file=sys.stderr, flush=True)


class S3Error(Exception):
    STATUS = {"AccessDenied": 403, "SignatureDoesNotMatch": 403, "InvalidAccessKeyId": 403,
              "RequestTimeTooSkewed": 403, "NoSuchBucket": 404, "NoSuchKey": 404,
              "XAmzContentSHA256Mismatch": 400, "InvalidRequest": 400, "InvalidArgument": 400,
              "AuthorizationHeaderMalformed": 400, "AuthorizationQueryParametersError": 400,
              "BadDigest": 400, "InvalidDigest": 400, "IncompleteBody": 400,
              "InvalidBucketName": 400, "MissingContentLength": 411, "InvalidRange": 416,
              "BucketNotEmpty": 409, "MethodNotAllowed": 405, "NotImplemented": 501,
              "EntityTooLarge": 400, "InternalError": 500}

    def __init__(self, code, message, **extra):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = self.STATUS[code]
        self.extra = extra


# ---- signature checking ------------------------------------------------------

class _AsArrived:
    """Mixin for botocore's S3 signers: sign exactly the headers the client
    listed in SignedHeaders (botocore's default is every header but a few),
    and take the payload hash the client declared."""

    def __init__(self, credentials, region, signed, payload_hash, **kw):
        super().__init__(credentials, "s3", region, **kw)
        self._signed = signed
        self._payload_hash = payload_hash

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                header_map[name] = value
        return header_map

    def payload(self, request):
        return self._payload_hash


class HeaderSigner(_AsArrived, S3SigV4Auth):
    pass


class QuerySigner(_AsArrived, S3SigV4QueryAuth):
    pass


def canonical_path(raw_path):
    """The path as S3 canonicalizes it: decoded once, each byte outside the
    unreserved set (and /) percent-encoded, never normalized."""
    return urllib.parse.quote(urllib.parse.unquote(raw_path), safe="/~")


def parse_amz_date(text):
    try:
        t = datetime.datetime.strptime(text, SIGV4_TIMESTAMP)
    except (TypeError, ValueError):
        return None
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


class Verifier:
    def __init__(self, access_key_id, secret, region):
        self.access_key_id = access_key_id
        self.credentials = Credentials(access_key_id, secret)
        self.region = region

    def _scope(self, credential, header_auth):
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise S3Error("AuthorizationHeaderMalformed" if header_auth
                          else "AuthorizationQueryParametersError",
                          f"the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"")
        key_id, _date, region, service, _ = parts
        if key_id != self.access_key_id:
            raise S3Error("InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not exist in our records.",
                          AWSAccessKeyId=key_id)
        if region != self.region:
            raise S3Error("AuthorizationHeaderMalformed",
                          f"the region '{region}' is wrong; expecting '{self.region}'",
                          Region=self.region)
        if service != "s3":
            raise S3Error("AuthorizationHeaderMalformed",
                          f"the service '{service}' is wrong; expecting 's3'")

    def check(self, method, raw_path, query_pairs, headers):
        """Check one request; return the payload hash the client declared
        (UNSIGNED-PAYLOAD or 64 hex digits). Raises S3Error."""
        auth = headers.get("Authorization")
        qnames = {k for k, _ in query_pairs}
        if auth is not None:
            if "X-Amz-Algorithm" in qnames:
                raise S3Error("InvalidArgument", "Only one auth mechanism allowed; only the "
                              "X-Amz-Algorithm query parameter, Signature query string "
                              "parameter or the Authorization header should be specified")
            m = AUTH_RE.match(auth.strip())
            if not m:
                if auth.startswith("AWS4-HMAC-SHA256"):
                    raise S3Error("AuthorizationHeaderMalformed",
                                  "The authorization header is malformed.")
                raise S3Error("InvalidRequest", "The authorization mechanism you have provided "
                              "is not supported. Please use AWS4-HMAC-SHA256.")
            credential, signed, given = m.groups()
            self._scope(credential, True)
            amz_date = headers.get("X-Amz-Date")
            if amz_date is None and headers.get("Date"):
                try:
                    amz_date = email.utils.parsedate_to_datetime(headers["Date"]).astimezone(
                        datetime.timezone.utc).strftime(SIGV4_TIMESTAMP)
                except (TypeError, ValueError):
                    amz_date = None
            when = parse_amz_date(amz_date)
            if when is None:
                raise S3Error("AccessDenied", "AWS authentication requires a valid Date or "
                              "x-amz-date header")
            if abs(time.time() - when) > MAX_SKEW:
                raise S3Error("RequestTimeTooSkewed", "The difference between the request time "
                              "and the current time is too large.", RequestTime=amz_date,
                              ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              MaxAllowedSkewMilliseconds=str(MAX_SKEW * 1000))
            payload = headers.get("x-amz-content-sha256")
            if payload is None:
                raise S3Error("InvalidRequest", "Missing required header for this request: "
                              "x-amz-content-sha256")
            if payload != UNSIGNED_PAYLOAD and not re.fullmatch(r"[0-9a-f]{64}", payload):
                if payload.startswith("STREAMING-"):
                    # aws-chunked bodies: S3 takes them, this server refuses them
                    # as S3 refuses a feature it lacks (501), so a client that
                    # sent one would fail loudly here rather than pass untested.
                    raise S3Error("NotImplemented", "A header you provided implies "
                                  f"functionality that is not implemented: x-amz-content-sha256 {payload}")
                raise S3Error("InvalidArgument", "x-amz-content-sha256 must be "
                              "UNSIGNED-PAYLOAD or a SHA-256 in hex")
            params = query_pairs
            signer_cls, kw = HeaderSigner, {}
        elif "X-Amz-Algorithm" in qnames:
            q = dict(query_pairs)
            missing = [n for n in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                   "X-Amz-SignedHeaders", "X-Amz-Signature") if n not in q]
            if q["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" or missing:
                raise S3Error("AuthorizationQueryParametersError", "Query-string authentication "
                              "version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                              "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                              "X-Amz-Expires parameters.")
            credential, signed, given = (q["X-Amz-Credential"], q["X-Amz-SignedHeaders"],
                                         q["X-Amz-Signature"])
            self._scope(credential, False)
            amz_date = q["X-Amz-Date"]
            when = parse_amz_date(amz_date)
            try:
                expires = int(q["X-Amz-Expires"])
            except ValueError:
                expires = -1
            if when is None or not 1 <= expires <= MAX_PRESIGN_EXPIRES:
                raise S3Error("AuthorizationQueryParametersError",
                              "X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z' and X-Amz-Expires "
                              f"from 1 to {MAX_PRESIGN_EXPIRES} seconds")
            now = time.time()
            if now > when + expires:
                raise S3Error("AccessDenied", "Request has expired", X_Amz_Expires=str(expires),
                              Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                    time.gmtime(when + expires)),
                              ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
            if when - now > MAX_SKEW:
                raise S3Error("AccessDenied", "Request is not valid yet")
            # The canonical query of a presigned URL is every parameter but
            # the signature: botocore's query signer adds the X-Amz-* ones
            # itself, from the values below.
            params = [(k, v) for k, v in query_pairs if k not in PRESIGN_PARAMS]
            payload = headers.get("x-amz-content-sha256", UNSIGNED_PAYLOAD)
            signer_cls, kw = QuerySigner, {"expires": expires}
        else:
            raise S3Error("AccessDenied", "Access Denied")

        names = signed.split(";")
        if "host" not in names or names != sorted(set(names)) or any(n != n.lower() for n in names):
            raise S3Error("AuthorizationHeaderMalformed" if auth else
                          "AuthorizationQueryParametersError",
                          "SignedHeaders must be lower case, sorted, and include host")
        for name in names:
            if headers.get(name) is None:
                raise S3Error("AccessDenied", f"The header {name} is listed in SignedHeaders "
                              "but not present in the request")
        unsigned = sorted({n.lower() for n in headers.keys()
                           if n.lower().startswith("x-amz-") and n.lower() not in names})
        if unsigned:
            raise S3Error("AccessDenied", "There were headers present in the request which "
                          "were not signed", HeadersNotSigned=", ".join(unsigned))

        req = AWSRequest(method=method, url=f"http://{headers['Host']}{canonical_path(raw_path)}")
        req.headers = HTTPHeaders()
        for n in names:
            for v in headers.get_all(n):
                req.headers[n] = v
        req.params = params
        req.context["timestamp"] = amz_date
        signer = signer_cls(self.credentials, self.region, names, payload, **kw)
        if signer_cls is QuerySigner:
            # Builds the X-Amz-* query parameters, as when presigning.
            signer._modify_request_before_signing(req)
            req.params = urllib.parse.parse_qsl(urllib.parse.urlsplit(req.url).query,
                                                keep_blank_values=True)
            req.url = urllib.parse.urlunsplit(urllib.parse.urlsplit(req.url)._replace(query=""))
        canonical = signer.canonical_request(req)
        string_to_sign = signer.string_to_sign(req, canonical)
        expected = signer.signature(string_to_sign, req)
        if not hmac.compare_digest(expected, given):
            raise S3Error("SignatureDoesNotMatch", "The request signature we calculated does "
                          "not match the signature you provided. Check your key and signing "
                          "method.", AWSAccessKeyId=self.access_key_id,
                          StringToSign=string_to_sign, SignatureProvided=given,
                          CanonicalRequest=canonical)
        return payload


# ---- storage -----------------------------------------------------------------

class Store:
    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()

    def bucket_dir(self, bucket):
        return os.path.join(self.root, bucket)

    def has_bucket(self, bucket):
        return bool(BUCKET_RE.fullmatch(bucket)) and os.path.isdir(self.bucket_dir(bucket))

    def create_bucket(self, bucket):
        if not BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise S3Error("InvalidBucketName", "The specified bucket is not valid.",
                          BucketName=bucket)
        for sub in ("obj", "meta", "tmp"):
            os.makedirs(os.path.join(self.bucket_dir(bucket), sub), exist_ok=True)

    def delete_bucket(self, bucket):
        with self.lock:
            if os.listdir(os.path.join(self.bucket_dir(bucket), "meta")):
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty",
                              BucketName=bucket)
            shutil.rmtree(self.bucket_dir(bucket))

    def buckets(self):
        out = []
        for name in sorted(os.listdir(self.root)):
            if self.has_bucket(name):
                out.append((name, os.stat(self.bucket_dir(name)).st_mtime))
        return out

    def _paths(self, bucket, key):
        h = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        d = self.bucket_dir(bucket)
        return os.path.join(d, "obj", h), os.path.join(d, "meta", h + ".json")

    def temp(self, bucket):
        path = os.path.join(self.bucket_dir(bucket), "tmp", secrets.token_hex(8))
        return path, open(path, "xb")

    def commit(self, bucket, key, tmp_data, meta):
        data_path, meta_path = self._paths(bucket, key)
        tmp_meta = tmp_data + ".json"
        with open(tmp_meta, "w", encoding="utf-8") as f:
            json.dump(meta, f)
        with self.lock:
            os.replace(tmp_data, data_path)
            os.replace(tmp_meta, meta_path)

    def open(self, bucket, key):
        """(meta, file) or None."""
        data_path, meta_path = self._paths(bucket, key)
        with self.lock:
            try:
                with open(meta_path, encoding="utf-8") as f:
                    meta = json.load(f)
                return meta, open(data_path, "rb")
            except FileNotFoundError:
                return None

    def delete(self, bucket, key):
        data_path, meta_path = self._paths(bucket, key)
        with self.lock:
            for p in (meta_path, data_path):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def list(self, bucket):
        """Every object's metadata, sorted by key (UTF-8 byte order, as S3)."""
        d = os.path.join(self.bucket_dir(bucket), "meta")
        out = []
        with self.lock:
            for name in os.listdir(d):
                try:
                    with open(os.path.join(d, name), encoding="utf-8") as f:
                        out.append(json.load(f))
                except (FileNotFoundError, ValueError):
                    continue
        out.sort(key=lambda m: m["key"].encode("utf-8", "surrogateescape"))
        return out


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}Z"


def xml_doc(root, body):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{XMLNS}">{body}'
            f"</{root}>").encode()


def el(name, value):
    return f"<{name}>{escape(str(value))}</{name}>"


# ---- HTTP --------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "s3_server"
    timeout = 30  # an idle or trickling connection is dropped after this

    # The server object carries: store, verifier, vhost_domain, root.

    def log_message(self, fmt, *args):  # one JSON line per request instead
        pass

    def handle_expect_100(self):
        # 100 Continue is sent only once the request is authenticated
        # (_continue), as S3 does: a rejected upload never sends its body.
        return True

    def parse_request(self):
        # Held once a request has arrived (its request line and headers),
        # not while a kept-alive connection waits for one: so the stall
        # takes exactly the requests made while .stall exists.
        ok = super().parse_request()
        if ok:
            self._stall()
        return ok

    def _stall(self):
        ctl = os.path.join(self.server.root, ".stall")
        try:
            with open(ctl, encoding="ascii", errors="replace") as f:
                text = f.read().strip()
        except FileNotFoundError:
            return
        try:
            seconds = float(text)
        except ValueError:
            seconds = 30.0
        log("stall", seconds=seconds, client=self.client_address[1])
        time.sleep(seconds)

    def do_GET(self):
        self._dispatch()

    do_PUT = do_HEAD = do_DELETE = do_POST = do_GET

    # -- plumbing

    def _dispatch(self):
        start = time.monotonic()
        self._status = None
        self._code = None
        self._continued = False
        self._body_read = False
        self.request_id = secrets.token_hex(8).upper()
        split = urllib.parse.urlsplit(self.path)
        self.raw_path = split.path or "/"
        self.query = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        try:
            self.bucket, self.key = self._address()
            self.declared = self.server.verifier.check(self.command, self.raw_path, self.query,
                                                       self.headers)
            self._route()
        except S3Error as e:
            self._error(e)
        except (ConnectionError, TimeoutError) as e:
            self.close_connection = True
            self._code = f"connection: {e}"
        except Exception as e:  # a bug here: S3's 500, and the traceback in the log
            log("error", msg=traceback.format_exc())
            self.close_connection = True
            self._error(S3Error("InternalError", f"We encountered an internal error: {e!r}"))
        finally:
            q = [k for k, _ in self.query if k != "X-Amz-Signature"]
            log("request", method=self.command, path=self.raw_path, query=q,
                status=self._status, code=self._code,
                ms=round((time.monotonic() - start) * 1000, 1))

    def _address(self):
        """(bucket or None, key or None) from the Host header and the path."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        path = urllib.parse.unquote(self.raw_path)
        suffix = "." + self.server.vhost_domain
        if host.endswith(suffix) and host != self.server.vhost_domain:
            bucket = host[: -len(suffix)]
            key = path[1:]
        else:
            bucket, _, key = path[1:].partition("/")
        return (bucket or None), (key or None)

    def _continue(self):
        if not self._continued and self.headers.get("Expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        self._continued = True

    def _send(self, status, body=b"", headers=None, head_only=None):
        self._status = status
        self.send_response(status)
        self.send_header("x-amz-request-id", self.request_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        if not self._body_read and self._has_body():
            self.close_connection = True  # an unread body would be parsed as a request
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _has_body(self):
        return (int(self.headers.get("Content-Length") or 0) > 0
                or "Transfer-Encoding" in self.headers)

    def _error(self, e):
        self._code = e.code
        resource = self.raw_path
        extra = "".join(el(k.replace("X_Amz_", "X-Amz-"), v) for k, v in e.extra.items())
        body = xml_doc("Error", el("Code", e.code) + el("Message", e.message) + extra
                       + el("Resource", resource) + el("RequestId", self.request_id))
        # The namespace is not on S3's <Error>.
        body = body.replace(f' xmlns="{XMLNS}"'.encode(), b"", 1)
        try:
            self._send(e.status, body, {"Content-Type": "application/xml"})
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _read_small_body(self, limit=1 << 20):
        """The whole body of a request other than PutObject, checked against
        the declared payload hash."""
        if "Transfer-Encoding" in self.headers:  # S3's own answer (501) to a chunked body
            raise S3Error("NotImplemented", "A header you provided implies functionality "
                          "that is not implemented: Transfer-Encoding")
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        self._continue()
        data = self.rfile.read(n) if n else b""
        self._body_read = True
        if len(data) != n:
            raise S3Error("IncompleteBody", "You did not provide the number of bytes specified "
                          "by the Content-Length HTTP header")
        self._check_hash(hashlib.sha256(data).hexdigest())
        return data

    def _check_hash(self, computed):
        if self.declared != UNSIGNED_PAYLOAD and computed != self.declared:
            raise S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                          "header does not match what was computed.",
                          ClientComputedContentSHA256=self.declared,
                          S3ComputedContentSHA256=computed)

    # -- operations

    def _route(self):
        store, bucket, key, m = self.server.store, self.bucket, self.key, self.command
        if bucket is None:
            if m == "GET":
                self._read_small_body()
                return self._list_buckets()
            raise S3Error("MethodNotAllowed", "The specified method is not allowed against "
                          "this resource.")
        if key is None and m == "PUT":
            self._read_small_body()
            if not store.has_bucket(bucket):
                store.create_bucket(bucket)
            return self._send(200, headers={"Location": "/" + bucket})
        if not store.has_bucket(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist",
                          BucketName=bucket)
        if key is None:
            self._read_small_body()
            if m == "HEAD":
                return self._send(200, headers={"x-amz-bucket-region": self.server.verifier.region})
            if m == "GET":
                return self._list_objects()
            if m == "DELETE":
                store.delete_bucket(bucket)
                return self._send(204)
            raise S3Error("MethodNotAllowed", "The specified method is not allowed against "
                          "this resource.")
        if m == "PUT":
            return self._put_object()
        self._read_small_body()
        if m in ("GET", "HEAD"):
            return self._get_object()
        if m == "DELETE":
            store.delete(bucket, key)
            return self._send(204)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against "
                      "this resource.")

    def _list_buckets(self):
        items = "".join(f"<Bucket>{el('Name', n)}{el('CreationDate', iso(t))}</Bucket>"
                        for n, t in self.server.store.buckets())
        body = xml_doc("ListAllMyBucketsResult",
                       f"<Owner>{el('ID', 'honeydue-test')}{el('DisplayName', 'honeydue-test')}"
                       f"</Owner><Buckets>{items}</Buckets>")
        self._send(200, body, {"Content-Type": "application/xml"})

    def _list_objects(self):
        q = dict(self.query)
        if q.get("list-type") != "2":
            raise S3Error("NotImplemented", "Only ListObjectsV2 (list-type=2) is implemented "
                          "by this server")
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        url_enc = q.get("encoding-type") == "url"
        if "encoding-type" in q and not url_enc:
            raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")
        try:
            max_keys = int(q.get("max-keys", "1000"))
            if max_keys < 0:
                raise ValueError
        except ValueError:
            raise S3Error("InvalidArgument", "Provided max-keys not an integer or within "
                          "integer range") from None
        max_keys = min(max_keys, 1000)
        after = q.get("start-after", "")
        token = q.get("continuation-token")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
                if not after.startswith("k:"):
                    raise ValueError
                after = after[2:]
            except ValueError:
                raise S3Error("InvalidArgument", "The continuation token provided is "
                              "incorrect") from None
        enc = (lambda s: urllib.parse.quote(s, safe="/")) if url_enc else (lambda s: s)
        contents, prefixes, resume, truncated = [], [], None, False
        for meta in self.server.store.list(self.bucket):
            k = meta["key"]
            if not k.startswith(prefix) or (after and k.encode() <= after.encode()):
                continue
            cp = None
            if delimiter:
                i = k.find(delimiter, len(prefix))
                if i >= 0:
                    cp = k[: i + len(delimiter)]
                    if prefixes and prefixes[-1] == cp:
                        continue  # rolled up into the common prefix just listed
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if cp is not None:
                prefixes.append(cp)
                # The next page starts after every key under that prefix.
                resume = cp + "\U0010ffff"
            else:
                contents.append(meta)
                resume = k
        body = [el("Name", self.bucket), el("Prefix", enc(prefix))]
        if delimiter:
            body.append(el("Delimiter", enc(delimiter)))
        body += [el("MaxKeys", max_keys), el("KeyCount", len(contents) + len(prefixes))]
        if url_enc:
            body.append(el("EncodingType", "url"))
        if "start-after" in q:
            body.append(el("StartAfter", enc(q["start-after"])))
        if token is not None:
            body.append(el("ContinuationToken", token))
        body.append(el("IsTruncated", "true" if truncated else "false"))
        if truncated:
            body.append(el("NextContinuationToken",
                           base64.urlsafe_b64encode(("k:" + resume).encode()).decode()))
        for meta in contents:
            body.append("<Contents>" + el("Key", enc(meta["key"]))
                        + el("LastModified", iso(meta["mtime"])) + el("ETag", meta["etag"])
                        + el("Size", meta["size"]) + el("StorageClass", "STANDARD")
                        + "</Contents>")
        for cp in prefixes:
            body.append(f"<CommonPrefixes>{el('Prefix', enc(cp))}</CommonPrefixes>")
        self._send(200, xml_doc("ListBucketResult", "".join(body)),
                   {"Content-Type": "application/xml"})

    def _put_object(self):
        if "Transfer-Encoding" in self.headers or self.headers.get("Content-Length") is None:
            raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP "
                          "header.")
        try:
            n = int(self.headers["Content-Length"])
            if n < 0:
                raise ValueError
        except ValueError:
            raise S3Error("InvalidArgument", "Content-Length is not a number") from None
        want_md5 = self.headers.get("Content-MD5")
        if want_md5 is not None:
            try:
                want_md5 = base64.b64decode(want_md5, validate=True).hex()
                if len(want_md5) != 32:
                    raise ValueError
            except ValueError:
                raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.") \
                    from None
        store = self.server.store
        self._continue()
        tmp, f = store.temp(self.bucket)
        try:
            sha, md5, left = hashlib.sha256(), hashlib.md5(), n
            with f:
                while left:
                    chunk = self.rfile.read(min(CHUNK, left))
                    if not chunk:
                        break
                    f.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    left -= len(chunk)
            self._body_read = True
            if left:
                self.close_connection = True
                raise S3Error("IncompleteBody", "You did not provide the number of bytes "
                              "specified by the Content-Length HTTP header")
            self._check_hash(sha.hexdigest())
            if want_md5 is not None and want_md5 != md5.hexdigest():
                raise S3Error("BadDigest", "The Content-MD5 you specified did not match what "
                              "we received.")
            etag = f'"{md5.hexdigest()}"'
            headers = {h: self.headers[h] for h in KEPT_HEADERS if self.headers.get(h)}
            headers.setdefault("content-type", "binary/octet-stream")
            for name, value in self.headers.items():
                if name.lower().startswith("x-amz-meta-"):
                    headers[name.lower()] = value
            store.commit(self.bucket, self.key, tmp,
                         {"key": self.key, "size": n, "etag": etag, "mtime": time.time(),
                          "headers": headers})
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._send(200, headers={"ETag": etag})

    def _get_object(self):
        found = self.server.store.open(self.bucket, self.key)
        if found is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", Key=self.key)
        meta, f = found
        with f:
            size = meta["size"]
            headers = {"ETag": meta["etag"], "Accept-Ranges": "bytes",
                       "Last-Modified": email.utils.formatdate(meta["mtime"], usegmt=True)}
            for k, v in meta["headers"].items():
                headers[k.title() if not k.startswith("x-amz-meta-") else k] = v
            for param, header in RESPONSE_OVERRIDES.items():
                for k, v in self.query:
                    if k == param:
                        headers[header] = v
            start, end, status = 0, size - 1, 200
            rng = self.headers.get("Range")
            if rng is not None:
                r = self._range(rng, size)
                if r is not None:
                    start, end = r
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            length = max(0, end - start + 1)
            headers["Content-Length"] = str(length)
            self._send(status, headers=headers)
            if self.command == "HEAD":
                return
            f.seek(start)
            while length:
                chunk = f.read(min(CHUNK, length))
                if not chunk:
                    break
                self.wfile.write(chunk)
                length -= len(chunk)

    def _range(self, text, size):
        """(first, last) of a single byte range, None to ignore the header (as
        S3 ignores what it cannot parse), S3Error 416 when unsatisfiable."""
        m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", text)
        if not m or m.group(1) == m.group(2) == "":
            return None
        first, last = m.groups()
        if first == "":
            n = int(last)
            if n == 0:
                raise S3Error("InvalidRange", "The requested range is not satisfiable",
                              RangeRequested=text, ActualObjectSize=str(size))
            return max(0, size - n), size - 1
        first = int(first)
        last = size - 1 if last == "" else min(int(last), size - 1)
        if first >= size or last < first:
            raise S3Error("InvalidRange", "The requested range is not satisfiable",
                          RangeRequested=text, ActualObjectSize=str(size))
        return first, last


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description="An S3-compatible server that checks SigV4 signatures.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True, help="where buckets and objects are kept")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--access-key-id", required=True)
    p.add_argument("--secret-file", required=True,
                   help="a file holding the secret access key (not on the command line)")
    p.add_argument("--bucket", action="append", default=[], help="create it at start")
    p.add_argument("--vhost-domain", default="localhost",
                   help="Host BUCKET.<this> addresses BUCKET (virtual-host style)")
    p.add_argument("--pid-file", help="written once listening, removed at exit")
    args = p.parse_args()
    args.dir = os.path.abspath(args.dir)
    with open(args.secret_file, encoding="ascii") as f:
        secret = f.read().strip()
    if not secret:
        p.error(f"{args.secret_file} is empty")
    os.makedirs(args.dir, exist_ok=True)
    store = Store(args.dir)
    for b in args.bucket:
        store.create_bucket(b)
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as e:
        log("error", msg=str(e))
        return 1
    server.store = store
    server.root = args.dir
    server.verifier = Verifier(args.access_key_id, secret, args.region)
    server.vhost_domain = args.vhost_domain.lower()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.pid_file:
        tmp = args.pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, args.pid_file)
    log("listening", host=args.host, port=args.port, dir=args.dir, region=args.region,
        buckets=args.bucket)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if args.pid_file:
            try:
                os.unlink(args.pid_file)
            except FileNotFoundError:
                pass
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
