#!/usr/bin/python3
"""push_server.py - the local stack's push services: one TLS server on
loopback that speaks HTTP/2 only and plays Apple's APNs provider API, FCM's
HTTP v1 API and Google's OAuth 2.0 token endpoint, checking what they check
(Debian's python3-h2 for HTTP/2, python3-jwt and python3-cryptography for
the signatures), so that a push client that authenticates or formats wrongly
fails here as it would against Apple and Google.

    push_server.py --port P --dir D --cert CERT --key KEY
                   --apns-key-id KID --apns-team-id TEAM --apns-public-key PEM
                   --apns-topic BUNDLE_ID --fcm-credentials SERVICE_ACCOUNT.json
                   [--fcm-token-ttl 3599] [--host 127.0.0.1] [--pid-file F]

HTTP/2 only: TLS 1.2 or later, ALPN offering h2 alone. A client that does
not negotiate h2 (an HTTP/1.1 client, or no ALPN) gets an HTTP/2 SETTINGS
and GOAWAY (PROTOCOL_ERROR) once it has sent something, then the connection
is closed: it never gets an HTTP/1.1 answer, as from APNs. Streams are
served concurrently on a connection.

APNs: POST /3/device/<device token> (api.push.apple.com and
api.sandbox.push.apple.com; this server answers as the sandbox, adding
apns-unique-id). Checked in this order, each refusal a JSON body
{"reason": R} with an apns-id header:
  path not under /3/device/: 404 BadPath; method not POST: 405
  MethodNotAllowed; authorization, apns-id, apns-topic, apns-push-type,
  apns-priority, apns-expiration or apns-collapse-id repeated: 400
  DuplicateHeaders;
  the provider token ("authorization: bearer <JWT>"): absent, 403
  MissingProviderToken; not a compact JWS (three unpadded base64url parts),
  alg not ES256, kid not --apns-key-id, a signature that --apns-public-key
  does not verify (the raw 64-byte r||s of JWS; a DER signature fails),
  iss not --apns-team-id, iat not a number, or iat more than 60 s in the
  future: 403 InvalidProviderToken; iat more than an hour old: 403
  ExpiredProviderToken;
  apns-id not a UUID (8-4-4-4-12 hex): 400 BadMessageId; apns-topic absent:
  400 MissingTopic, not --apns-topic: 400 TopicDisallowed; apns-push-type
  absent or other than alert and background (the types honeyDue sends): 400
  InvalidPushType (Apple may only delay or drop a push without it; here it
  is required); apns-priority present and not 10, 5 or 1: 400 BadPriority;
  apns-expiration present and not a non-negative integer: 400
  BadExpirationDate; apns-collapse-id over 64 bytes: 400 BadCollapseId;
  device token empty: 400 MissingDeviceToken, not hex of even length 64 to
  200: 400 BadDeviceToken; body over 4096 bytes: 413 PayloadTooLarge; body
  empty, not a UTF-8 JSON object, or without an "aps" object: 400
  PayloadEmpty (Apple names no reason for malformed JSON; the log line says
  what was wrong).
  Then the token's script (below), then DIR/unregistered/<token>: 410
  Unregistered with "timestamp" (ms, the file's mtime). Otherwise 200, an
  empty body, apns-id (the request's, or a new UUID) and apns-unique-id.
  What Apple accepts but a client should not do is kept in the record's
  "warnings": a background push without aps.content-available 1, or with
  alert, sound or badge, or at priority 10; an alert push without
  aps.alert.

FCM token endpoint: POST /token (what the service account's token_uri
points at), application/x-www-form-urlencoded (or JSON) with
grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and assertion=<JWT>.
Refusals are Google's {"error": E, "error_description": D}: another
grant_type: 400 unsupported_grant_type; no assertion: 400 invalid_request;
not a compact JWS, alg not RS256, a kid other than the account's
private_key_id (no kid is allowed: Google then tries the account's keys), a
signature the account's key does not verify: 400 invalid_grant "Invalid JWT
Signature."; iss not the account's client_email: 400 invalid_grant "Invalid
grant: account not found"; iat or exp not numbers, exp not after iat, exp -
iat over 3600, iat more than 60 s ahead or exp passed: 400 invalid_grant
"Invalid JWT: Token must be a short-lived token (60 minutes) and in a
reasonable timeframe. Check your iat and exp values in the JWT claim."; aud
not the token_uri: 400 invalid_grant "Invalid JWT: Failed audience check.
The right audience is <token_uri>"; sub other than iss: 401
unauthorized_client; scope absent, empty, or holding a scope not under
https://www.googleapis.com/auth/: 400 invalid_scope "Invalid OAuth scope or
ID token audience provided.". Success: 200 {"access_token": "ya29...",
"expires_in": TTL, "token_type": "Bearer"}, TTL from --fcm-token-ttl
(default 3599). Tokens live in memory: a restart forgets them all (a send
with one is then 401, as after a revocation).

FCM send: POST /v1/projects/<project>/messages:send. Refusals are Google's
{"error": {"code", "message", "status", "details"}}: no "authorization:
Bearer <token>": 401 UNAUTHENTICATED (ErrorInfo CREDENTIALS_MISSING); a
token not issued here, expired or revoked: 401 UNAUTHENTICATED (with
www-authenticate: Bearer ... error="invalid_token"); a token whose scopes
hold neither .../auth/firebase.messaging nor .../auth/cloud-platform: 403
PERMISSION_DENIED "Request had insufficient authentication scopes."; another
project than the account's project_id: 403 PERMISSION_DENIED "Permission
'cloudmessaging.messages.create' denied on resource ... (or it may not
exist)."; a content-type other than application/json, a body that is not
JSON, an unknown field name ("Unknown name ... Cannot find field.") or a
value of the wrong type for the proto field ("Invalid value at
'message.data[0].value' (TYPE_STRING), 1"; enums, booleans, integers and
durations such as android.ttl "3.5s" likewise): 400 INVALID_ARGUMENT with a
google.rpc.BadRequest detail only, as Google's JSON parser answers (no
FcmError detail); more than one of token, topic and condition: 400 (oneof);
none: 400 "Recipient of the message is not set."; a token that is not 32 to
4096 of A-Z a-z 0-9 _ : -: 400 INVALID_ARGUMENT "The registration token is
not a valid FCM registration token" (FcmError errorCode INVALID_ARGUMENT and
a BadRequest fieldViolation on message.token); notification and data (the
message's and android's) over 4096 bytes of JSON: 400 "Android message is
too big". Then the token's script (below), then DIR/unregistered/<token>:
404 NOT_FOUND "Requested entity was not found." (FcmError errorCode
UNREGISTERED). validate_only true: 200 {"name":
"projects/<p>/messages/fake_message_id"}, nothing recorded. Otherwise 200
{"name": "projects/<p>/messages/0:<digits>%<hex>"}.

Records: every accepted push is one file DIR/sent/<UTC time>-<n>-<apns|fcm>
.json (written to a hidden temporary name, then renamed), holding provider,
id (apns-id, or FCM's name), token (the device's), time, headers (the
request's, without authorization and pseudo-headers), payload (the body as
parsed JSON), warnings; for APNs topic, push_type, priority, expiration,
collapse_id and provider_token {kid, iss, iat, sha256} (the first 16 hex
digits of the JWT's SHA-256, to tell a reused token from a new one); for FCM
project and access_token_sha256. Each request is one JSON line on stderr.

Fault control, switchable while it runs, through files under DIR (written
whole, temp then rename, by whoever sets them):
  DIR/unregistered/<token>  (any content): that device token is
      unregistered: APNs 410 Unregistered ("timestamp" = the file's mtime in
      ms), FCM 404 UNREGISTERED.
  DIR/script/<token>  a JSON list of responses for that token's next
      requests, one consumed per request that passed authentication and
      validation (a refused request consumes nothing); the file is removed
      when emptied, and the token is served normally after. An entry is an
      object with any of: "status" (HTTP status), "reason" (APNs reason, or
      FCM errorCode; the status follows from it when "status" is absent;
      defaults: 400 BadDeviceToken / INVALID_ARGUMENT, 403
      InvalidProviderToken / SENDER_ID_MISMATCH, 410 Unregistered, 404
      UNREGISTERED, 429 TooManyRequests / QUOTA_EXCEEDED, 500
      InternalServerError / INTERNAL, 503 ServiceUnavailable / UNAVAILABLE),
      "message" (FCM's message text), "retry_after" (seconds: a Retry-After
      header), "delay" (seconds to hold the request first; a client that
      resets the stream meanwhile gets nothing and nothing is recorded),
      "goaway" (true: after this answer, GOAWAY with the answer's JSON as
      debug data, and the connection is closed). An entry without "status"
      and "reason" is served normally (after its delay). Examples:
      [{"status": 429, "retry_after": 2}], [{"status": 503}, {"delay": 5}],
      [{"reason": "Shutdown", "goaway": true}]. A malformed script answers
      500 and logs why.
  DIR/revoke-fcm  every FCM access token issued before its mtime is revoked
      (send: 401); tokens issued after are good. Touch it to force renewal.
  DIR/expire-apns  every APNs provider token whose iat is in a second before
      its mtime, or that this server first saw before its mtime, answers 403
      ExpiredProviderToken; a token made after is good. (File times come from
      a coarse clock: leave a few milliseconds around a touch.)
  DIR/fcm-token-ttl  a number: the expires_in of tokens issued while it
      exists (instead of --fcm-token-ttl), so expiry can be tested in seconds.
  DIR/apns-token-updates  a number of seconds (empty: 1200, Apple's 20
      minutes): while it exists, a provider token other than the last one
      accepted, presented less than that long after the last one was first
      accepted, answers 429 TooManyProviderTokenUpdates (a client must reuse
      its token, not sign one per push).
A stopped server is `tests/stack.sh push-stop`.

--pid-file is written once the port is listening and removed at exit.
SIGTERM or SIGINT stops the server (GOAWAY to every connection, exit 0).
"""
import argparse
import asyncio
import datetime
import hashlib
import json
import os
import re
import secrets
import signal
import ssl
import sys
import time
import traceback
import urllib.parse
import uuid

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CLOCK_SKEW = 60  # seconds an iat may be ahead of this clock
APNS_TOKEN_MAX_AGE = 3600
APNS_MAX_PAYLOAD = 4096
APNS_MAX_COLLAPSE_ID = 64
APNS_PUSH_TYPES = ("alert", "background")
APNS_PRIORITIES = ("10", "5", "1")
APNS_SINGLE = ("authorization", "apns-id", "apns-topic", "apns-push-type", "apns-priority",
               "apns-expiration", "apns-collapse-id")
APNS_TOKEN_UPDATES_DEFAULT = 1200
FCM_MAX_PAYLOAD = 4096
FCM_SCOPES = ("https://www.googleapis.com/auth/firebase.messaging",
              "https://www.googleapis.com/auth/cloud-platform")
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_BODY = 1 << 20  # read and dropped beyond this; the answer is 413
JWS_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
APNS_DEVICE_RE = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
FCM_DEVICE_RE = re.compile(r"[A-Za-z0-9_:-]{32,4096}")
DURATION_RE = re.compile(r"-?\d+(\.\d{1,9})?s")
TIME_MSG = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim.")

APNS_STATUS = {
    "BadCollapseId": 400, "BadDeviceToken": 400, "BadExpirationDate": 400, "BadMessageId": 400,
    "BadPriority": 400, "BadTopic": 400, "DeviceTokenNotForTopic": 400, "DuplicateHeaders": 400,
    "IdleTimeout": 400, "InvalidPushType": 400, "MissingDeviceToken": 400, "MissingTopic": 400,
    "PayloadEmpty": 400, "TopicDisallowed": 400, "BadCertificate": 403,
    "BadCertificateEnvironment": 403, "ExpiredProviderToken": 403, "Forbidden": 403,
    "InvalidProviderToken": 403, "MissingProviderToken": 403, "BadPath": 404,
    "MethodNotAllowed": 405, "ExpiredToken": 410, "Unregistered": 410, "PayloadTooLarge": 413,
    "TooManyProviderTokenUpdates": 429, "TooManyRequests": 429, "InternalServerError": 500,
    "ServiceUnavailable": 503, "Shutdown": 503}
APNS_DEFAULT = {400: "BadDeviceToken", 403: "InvalidProviderToken", 404: "BadPath",
                405: "MethodNotAllowed", 410: "Unregistered", 413: "PayloadTooLarge",
                429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
# FCM errorCode -> (HTTP status, Google's status, default message)
FCM_CODES = {
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED",
                       "Resource has been exhausted (e.g. check quota)."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
}
FCM_DEFAULT = {400: "INVALID_ARGUMENT", 401: "THIRD_PARTY_AUTH_ERROR", 403: "SENDER_ID_MISMATCH",
               404: "UNREGISTERED", 429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE"}
SCRIPT_KEYS = {"status", "reason", "message", "retry_after", "delay", "goaway"}
UNAUTH_MSG = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
              "login cookie or other valid authentication credential. See "
              "https://developers.google.com/identity/sign-in/web/devconsole-project.")
MISSING_MSG = ("Request is missing required authentication credential. Expected OAuth 2 access "
               "token, login cookie or other valid authentication credential. See "
               "https://developers.google.com/identity/sign-in/web/devconsole-project.")


def log(event, **fields):
    now = datetime.datetime.now(datetime.timezone.utc)
    line = {"ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "level": "error" if event == "error" else "info", "pid": os.getpid(), "event": event}
    line.update(fields)
    print(json.dumps(line), file=sys.stderr, flush=True)


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def iso_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def short_hash(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def strict_json(data):
    """The JSON value of bytes (UTF-8), refusing NaN and Infinity; ValueError
    otherwise."""
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(data.decode("utf-8"), parse_constant=no_constants)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Response:
    """One answer: status, body bytes, extra headers; note is what the log
    line says about it (a reason or error code); goaway closes the connection
    after it, with the body as GOAWAY's debug data."""

    def __init__(self, status, body=b"", headers=None, note=None, goaway=False):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        self.note = note
        self.goaway = goaway


class Request:
    def __init__(self, conn_id, stream_id, headers):
        self.conn_id = conn_id
        self.stream_id = stream_id
        self.pseudo = {}
        self.fields = []
        for name, value in headers:
            name = name.decode("latin-1")
            value = value.decode("utf-8", "replace")
            if name.startswith(":"):
                self.pseudo[name] = value
            else:
                self.fields.append((name, value))
        self.method = self.pseudo.get(":method", "")
        target = self.pseudo.get(":path", "")
        self.path, _, self.query = target.partition("?")
        self.body = bytearray()
        self.too_large = False
        self.closed = False  # reset by the client, or the connection went
        self.device = None   # for the log line

    def header(self, name):
        for n, v in self.fields:
            if n == name:
                return v
        return None

    def count(self, name):
        return sum(1 for n, _ in self.fields if n == name)

    def recorded_headers(self):
        out = {}
        for n, v in self.fields:
            if n != "authorization":
                out[n] = f"{out[n]}, {v}" if n in out else v
        return out


# ---- APNs ---------------------------------------------------------------------

def apns_error(reason, apns_id, timestamp=None, retry_after=None, goaway=False):
    body = {"reason": reason}
    if timestamp is not None:
        body["timestamp"] = timestamp
    headers = [("apns-id", apns_id), ("content-type", "application/json")]
    if retry_after is not None:
        headers.append(("retry-after", str(int(retry_after))))
    return Response(APNS_STATUS[reason], json.dumps(body).encode(), headers, reason, goaway)


def apns_warnings(push_type, priority, payload):
    aps = payload.get("aps", {})
    out = []
    if push_type == "background":
        if aps.get("content-available") != 1:
            out.append("background push without aps.content-available 1")
        if any(k in aps for k in ("alert", "sound", "badge")):
            out.append("background push with aps.alert, sound or badge")
        if priority == "10":
            out.append("background push at priority 10 (Apple requires 5)")
    elif push_type == "alert" and "alert" not in aps:
        out.append("alert push without aps.alert")
    return out


# ---- FCM's message, as its proto3 JSON parser checks it ---------------------

class Obj:
    def __init__(self, type_name, fields):
        self.type_name = type_name
        self.fields = fields


class Enum:
    def __init__(self, type_name, *names):
        self.type_name = type_name
        self.names = names


STR, BOOL, INT, DURATION, MAP, STRLIST, ANY = ("TYPE_STRING", "TYPE_BOOL", "TYPE_INT32",
                                               "duration", "map", "strlist", "any")
FCM_OPTIONS = Obj("type.googleapis.com/google.firebase.fcm.v1.FcmOptions", {"analytics_label": STR})
NOTIFICATION = Obj("type.googleapis.com/google.firebase.fcm.v1.Notification",
                   {"title": STR, "body": STR, "image": STR})
ANDROID_NOTIFICATION = Obj("type.googleapis.com/google.firebase.fcm.v1.AndroidNotification", {
    "title": STR, "body": STR, "icon": STR, "color": STR, "sound": STR, "tag": STR,
    "click_action": STR, "body_loc_key": STR, "body_loc_args": STRLIST, "title_loc_key": STR,
    "title_loc_args": STRLIST, "channel_id": STR, "ticker": STR, "sticky": BOOL,
    "event_time": STR, "local_only": BOOL,
    "notification_priority": Enum("type.googleapis.com/google.firebase.fcm.v1.AndroidNotification.NotificationPriority",
                                  "PRIORITY_UNSPECIFIED", "PRIORITY_MIN", "PRIORITY_LOW",
                                  "PRIORITY_DEFAULT", "PRIORITY_HIGH", "PRIORITY_MAX"),
    "default_sound": BOOL, "default_vibrate_timings": BOOL, "default_light_settings": BOOL,
    "vibrate_timings": ANY, "visibility": Enum("type.googleapis.com/google.firebase.fcm.v1.AndroidNotification.Visibility",
                                               "VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"),
    "notification_count": INT, "light_settings": ANY, "image": STR,
    "bypass_proxy_notification": BOOL,
    "proxy": Enum("type.googleapis.com/google.firebase.fcm.v1.AndroidNotification.Proxy",
                  "PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED")})
ANDROID = Obj("type.googleapis.com/google.firebase.fcm.v1.AndroidConfig", {
    "collapse_key": STR,
    "priority": Enum("type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority",
                     "NORMAL", "HIGH"),
    "ttl": DURATION, "restricted_package_name": STR, "data": MAP,
    "notification": ANDROID_NOTIFICATION, "fcm_options": FCM_OPTIONS, "direct_boot_ok": BOOL,
    "bandwidth_constrained_ok": BOOL, "restricted_satellite_ok": BOOL})
MESSAGE = Obj("type.googleapis.com/google.firebase.fcm.v1.Message", {
    "name": STR, "data": MAP, "notification": NOTIFICATION, "android": ANDROID, "webpush": ANY,
    "apns": ANY, "fcm_options": FCM_OPTIONS, "token": STR, "topic": STR, "condition": STR})
SEND_REQUEST = Obj("type.googleapis.com/google.firebase.fcm.v1.SendMessageRequest",
                   {"validate_only": BOOL, "message": MESSAGE})


class BadJson(Exception):
    """A parse-level refusal: Google's front end names the field."""

    def __init__(self, field, description):
        super().__init__(description)
        self.field = field
        self.description = description


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def shown(value):
    return json.dumps(value)


def parse_proto(value, schema, path):
    """value checked against schema as proto3 JSON is parsed (both the
    field's name and its lowerCamelCase JSON name are accepted; null is the
    default); returns it with snake_case keys. Raises BadJson."""
    if value is None or schema is ANY:
        return value
    where = f" at '{path}'" if path else ""
    if isinstance(schema, Obj):
        if not isinstance(value, dict):
            raise BadJson(path, f"Invalid value{where} ({schema.type_name}), {shown(value)}")
        names = {}
        for f in schema.fields:
            names[f] = f
            names[camel(f)] = f
        out = {}
        for key, v in value.items():
            f = names.get(key)
            if f is None:
                raise BadJson(path, f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                              "Cannot find field.")
            sub = f"{path}.{f}" if path else f
            out[f] = parse_proto(v, schema.fields[f], sub)
        return out
    if isinstance(schema, Enum):
        if isinstance(value, str) and value.upper() in schema.names:
            return value.upper()
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(schema.names):
            return schema.names[value]
        raise BadJson(path, f"Invalid value at '{path}' ({schema.type_name}), {shown(value)}")
    if schema == MAP:
        if not isinstance(value, dict):
            raise BadJson(path, f"Invalid value at '{path}' (Map), {shown(value)}")
        for i, (k, v) in enumerate(value.items()):
            if not isinstance(v, str):
                raise BadJson(f"{path}[{i}].value",
                              f"Invalid value at '{path}[{i}].value' (TYPE_STRING), {shown(v)}")
        return value
    if schema == STRLIST:
        if not isinstance(value, list):
            raise BadJson(path, f"Invalid value at '{path}' (TYPE_STRING), {shown(value)}")
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise BadJson(f"{path}[{i}]",
                              f"Invalid value at '{path}[{i}]' (TYPE_STRING), {shown(v)}")
        return value
    ok = {STR: isinstance(value, str),
          BOOL: isinstance(value, bool),
          INT: (isinstance(value, int) and not isinstance(value, bool))
          or (isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None),
          DURATION: isinstance(value, str) and DURATION_RE.fullmatch(value) is not None}[schema]
    if not ok:
        kind = "type.googleapis.com/google.protobuf.Duration" if schema == DURATION else schema
        raise BadJson(path, f"Invalid value at '{path}' ({kind}), {shown(value)}")
    return value


def google_error(code, status, message, details=None, headers=None, goaway=False, note=None):
    err = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    h = [("content-type", "application/json; charset=UTF-8")] + list(headers or [])
    return Response(code, json.dumps({"error": err}, indent=2).encode() + b"\n", h,
                    note or status, goaway)


def fcm_error(error_code, message=None, field=None, retry_after=None, status=None, goaway=False):
    """An FCM refusal with its FcmError detail (and a BadRequest one when a
    field is named)."""
    http, gstatus, default = FCM_CODES.get(error_code, FCM_CODES["INTERNAL"])
    if status is not None and status != http:
        http = status
        gstatus = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                   404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                   503: "UNAVAILABLE"}.get(status, "UNKNOWN")
    message = message or default
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code}]
    if field is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": message}]})
    headers = [("retry-after", str(int(retry_after)))] if retry_after is not None else []
    return google_error(http, gstatus, message, details, headers, goaway,
                        note=f"{gstatus}/{error_code}")


def bad_request(field, description):
    """A parse-level 400: a BadRequest detail and no FcmError."""
    violation = {"description": description}
    if field:
        violation = {"field": field, "description": description}
    return google_error(400, "INVALID_ARGUMENT", description,
                        [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                          "fieldViolations": [violation]}])


def oauth_error(status, error, description):
    body = json.dumps({"error": error, "error_description": description}, indent=2).encode()
    return Response(status, body + b"\n", [("content-type", "application/json; charset=utf-8"),
                                           ("cache-control", "no-cache, no-store, max-age=0, "
                                            "must-revalidate")],
                    f"{error}: {description}")


# ---- the services -------------------------------------------------------------

class PushServer:
    def __init__(self, args, apns_key, account, fcm_key):
        self.dir = args.dir
        self.apns_key_id = args.apns_key_id
        self.apns_team_id = args.apns_team_id
        self.apns_topic = args.apns_topic
        self.apns_key = apns_key
        self.account = account
        self.fcm_key = fcm_key
        self.fcm_token_ttl = args.fcm_token_ttl
        self.access_tokens = {}    # token -> {issued, expires, scopes}
        self.first_seen = {}       # APNs provider token -> when first accepted
        self.last_provider = None  # (token, when first accepted): apns-token-updates
        self.sent = 0

    # -- files under DIR

    def _path(self, *parts):
        return os.path.join(self.dir, *parts)

    def control_mtime(self, name):
        try:
            return os.stat(self._path(name)).st_mtime
        except FileNotFoundError:
            return None

    def control_number(self, name, default):
        """The number in DIR/name, default when it is empty or not a number,
        None when it is absent."""
        try:
            with open(self._path(name), encoding="ascii", errors="replace") as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        try:
            return float(text)
        except ValueError:
            return default

    def unregistered_since(self, token):
        try:
            return int(os.stat(self._path("unregistered", token)).st_mtime * 1000)
        except FileNotFoundError:
            return None

    def next_scripted(self, token):
        """The next scripted response for token (consumed), None when there
        is none, or {"invalid": why} when the script is malformed."""
        path = self._path("script", token)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            entries = strict_json(data)
            if not isinstance(entries, list):
                raise ValueError("not a JSON list")
            for e in entries:
                if not isinstance(e, dict) or set(e) - SCRIPT_KEYS:
                    raise ValueError(f"entry {e!r}: an object with keys among {sorted(SCRIPT_KEYS)}")
                if "status" in e and not (isinstance(e["status"], int) and 200 <= e["status"] <= 599):
                    raise ValueError(f"entry {e!r}: status must be an HTTP status")
                for k in ("retry_after", "delay"):
                    if k in e and not (is_number(e[k]) and e[k] >= 0):
                        raise ValueError(f"entry {e!r}: {k} must be a number of seconds")
        except ValueError as e:
            log("error", msg=f"script {path}: {e}")
            return {"invalid": str(e)}
        if not entries:
            os.unlink(path)
            return None
        entry = entries.pop(0)
        if entries:
            write_atomic(path, json.dumps(entries).encode())
        else:
            os.unlink(path)
        log("scripted", token=token, entry=entry, left=len(entries))
        return entry

    def record(self, provider, rec):
        self.sent += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        name = f"{now.strftime('%Y%m%dT%H%M%S')}.{now.microsecond:06d}Z-{self.sent}-{provider}.json"
        d = self._path("sent")
        os.makedirs(d, exist_ok=True)
        write_atomic(os.path.join(d, name), json.dumps(rec, indent=2).encode() + b"\n")
        return name

    # -- dispatch

    async def handle(self, req):
        if req.path == "/token":
            return self.token_endpoint(req)
        if req.path.startswith("/v1/"):
            return await self.fcm_send(req)
        return await self.apns(req)

    async def hold(self, req, entry):
        """Wait out a scripted delay; False if the client went meanwhile."""
        if entry and entry.get("delay"):
            await asyncio.sleep(entry["delay"])
        return not req.closed

    # -- APNs

    def check_provider_token(self, token):
        """None when token is a good provider token, else the APNs reason."""
        if not JWS_RE.fullmatch(token):
            return "InvalidProviderToken", "not a compact JWS"
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            return "InvalidProviderToken", f"header: {e}"
        if header.get("alg") != "ES256":
            return "InvalidProviderToken", f"alg {header.get('alg')!r}, not ES256"
        if header.get("kid") != self.apns_key_id:
            return "InvalidProviderToken", f"kid {header.get('kid')!r} is not the key's"
        try:
            claims = jwt.decode(token, self.apns_key, algorithms=["ES256"],
                                options={"verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False, "verify_aud": False,
                                         "verify_iss": False})
        except jwt.PyJWTError as e:
            return "InvalidProviderToken", f"signature: {e}"
        if claims.get("iss") != self.apns_team_id:
            return "InvalidProviderToken", f"iss {claims.get('iss')!r} is not the team id"
        iat = claims.get("iat")
        if not is_number(iat):
            return "InvalidProviderToken", "iat is not a number"
        now = time.time()
        if iat > now + CLOCK_SKEW:
            return "InvalidProviderToken", "iat is in the future"
        if now - iat > APNS_TOKEN_MAX_AGE:
            return "ExpiredProviderToken", "iat is more than an hour old"
        expired_at = self.control_mtime("expire-apns")
        seen = self.first_seen.get(token)
        if expired_at is not None and (iat < int(expired_at) or (seen is not None and seen < expired_at)):
            return "ExpiredProviderToken", "expired by expire-apns"
        return None, claims

    def provider_token_updates(self, token, now):
        """True when a new token comes too soon after the last (the
        apns-token-updates control); remembers the accepted token."""
        if self.last_provider and self.last_provider[0] != token:
            every = self.control_number("apns-token-updates", APNS_TOKEN_UPDATES_DEFAULT)
            if every is not None and now - self.last_provider[1] < every:
                return True
        if not self.last_provider or self.last_provider[0] != token:
            self.last_provider = (token, now)
        return False

    async def apns(self, req):
        given_id = req.header("apns-id")
        apns_id = given_id if given_id and UUID_RE.fullmatch(given_id) else str(uuid.uuid4())
        if not req.path.startswith("/3/device/"):
            return apns_error("BadPath", apns_id)
        device = urllib.parse.unquote(req.path[len("/3/device/"):])
        req.device = device
        if req.method != "POST":
            return apns_error("MethodNotAllowed", apns_id)
        if any(req.count(h) > 1 for h in APNS_SINGLE):
            return apns_error("DuplicateHeaders", apns_id)
        auth = req.header("authorization") or ""
        scheme, _, token = auth.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return apns_error("MissingProviderToken", apns_id)
        reason, claims = self.check_provider_token(token)
        if reason:
            resp = apns_error(reason, apns_id)
            resp.note = f"{reason} ({claims})"
            return resp
        now = time.time()
        if self.provider_token_updates(token, now):
            return apns_error("TooManyProviderTokenUpdates", apns_id)
        self.first_seen.setdefault(token, now)
        if len(self.first_seen) > 10000:
            self.first_seen = {t: w for t, w in self.first_seen.items() if now - w < 2 * 3600}
        if given_id is not None and not UUID_RE.fullmatch(given_id):
            return apns_error("BadMessageId", apns_id)
        topic = req.header("apns-topic")
        if topic is None:
            return apns_error("MissingTopic", apns_id)
        if topic != self.apns_topic:
            return apns_error("TopicDisallowed", apns_id)
        push_type = req.header("apns-push-type")
        if push_type not in APNS_PUSH_TYPES:
            return apns_error("InvalidPushType", apns_id)
        priority = req.header("apns-priority")
        if priority is not None and priority not in APNS_PRIORITIES:
            return apns_error("BadPriority", apns_id)
        expiration = req.header("apns-expiration")
        if expiration is not None and not re.fullmatch(r"\d{1,19}", expiration):
            return apns_error("BadExpirationDate", apns_id)
        collapse = req.header("apns-collapse-id")
        if collapse is not None and len(collapse.encode()) > APNS_MAX_COLLAPSE_ID:
            return apns_error("BadCollapseId", apns_id)
        if not device:
            return apns_error("MissingDeviceToken", apns_id)
        if not APNS_DEVICE_RE.fullmatch(device):
            return apns_error("BadDeviceToken", apns_id)
        if req.too_large or len(req.body) > APNS_MAX_PAYLOAD:
            return apns_error("PayloadTooLarge", apns_id)
        why = None
        payload = None
        if not req.body:
            why = "empty body"
        else:
            try:
                payload = strict_json(bytes(req.body))
            except ValueError as e:
                why = f"not JSON: {e}"
        if why is None and not isinstance(payload, dict):
            why = "not a JSON object"
        if why is None and not isinstance(payload.get("aps"), dict):
            why = "no aps dictionary"
        if why:
            resp = apns_error("PayloadEmpty", apns_id)
            resp.note = f"PayloadEmpty ({why})"
            return resp

        entry = self.next_scripted(device)
        if entry and "invalid" in entry:
            return apns_error("InternalServerError", apns_id)
        if not await self.hold(req, entry):
            return None
        if entry and ("status" in entry or "reason" in entry):
            reason = entry.get("reason") or APNS_DEFAULT.get(entry["status"], "InternalServerError")
            status = entry.get("status") or APNS_STATUS.get(reason, 500)
            body = {"reason": reason}
            if status == 410:
                body["timestamp"] = int(time.time() * 1000)
            headers = [("apns-id", apns_id), ("content-type", "application/json")]
            if entry.get("retry_after") is not None:
                headers.append(("retry-after", str(int(entry["retry_after"]))))
            return Response(status, json.dumps(body).encode(), headers,
                            f"scripted {status} {reason}", entry.get("goaway", False))
        since = self.unregistered_since(device)
        if since is not None:
            return apns_error("Unregistered", apns_id, timestamp=since)

        rec = {"provider": "apns", "id": apns_id, "token": device, "time": iso_now(),
               "topic": topic, "push_type": push_type,
               "priority": int(priority) if priority else None,
               "expiration": int(expiration) if expiration else None,
               "collapse_id": collapse, "headers": req.recorded_headers(), "payload": payload,
               "provider_token": {"kid": self.apns_key_id, "iss": claims["iss"],
                                  "iat": claims["iat"], "sha256": short_hash(token)},
               "warnings": apns_warnings(push_type, priority, payload)}
        name = self.record("apns", rec)
        headers = [("apns-id", apns_id), ("apns-unique-id", str(uuid.uuid4()))]
        if entry and entry.get("goaway"):
            return Response(200, b"", headers, f"accepted {name}", goaway=True)
        return Response(200, b"", headers, f"accepted {name}")

    # -- Google's token endpoint

    def token_endpoint(self, req):
        if req.method != "POST":
            return oauth_error(405, "invalid_request", "Method not allowed; use POST")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                form = strict_json(bytes(req.body))
                if not isinstance(form, dict):
                    raise ValueError("not an object")
            else:
                form = dict(urllib.parse.parse_qsl(bytes(req.body).decode("utf-8"),
                                                   keep_blank_values=True))
        except ValueError:
            return oauth_error(400, "invalid_request", "Could not parse the request body")
        grant = form.get("grant_type", "")
        if grant != JWT_BEARER:
            return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        assertion = form.get("assertion")
        if not assertion:
            return oauth_error(400, "invalid_request", "Missing required parameter: assertion")
        acct = self.account
        bad_sig = oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if not isinstance(assertion, str) or not JWS_RE.fullmatch(assertion):
            return bad_sig
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return bad_sig
        if unverified.get("iss") != acct["client_email"]:
            return oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256":
            return bad_sig
        if "kid" in header and header["kid"] != acct["private_key_id"]:
            return bad_sig
        try:
            claims = jwt.decode(assertion, self.fcm_key, algorithms=["RS256"],
                                options={"verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False, "verify_aud": False,
                                         "verify_iss": False})
        except jwt.PyJWTError:
            return bad_sig
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if (not is_number(iat) or not is_number(exp) or exp <= iat or exp - iat > 3600
                or iat > now + CLOCK_SKEW or exp < now):
            return oauth_error(400, "invalid_grant", TIME_MSG)
        if claims.get("aud") != acct["token_uri"]:
            return oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check. The "
                               f"right audience is {acct['token_uri']}")
        if "sub" in claims and claims["sub"] != claims["iss"]:
            return oauth_error(401, "unauthorized_client", "Client is unauthorized to retrieve "
                               "access tokens using this method, or client not authorized for "
                               "any of the scopes requested.")
        scope = claims.get("scope")
        scopes = scope.split() if isinstance(scope, str) else []
        if not scopes or any(not s.startswith(SCOPE_PREFIX) for s in scopes):
            return oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience "
                               "provided.")
        ttl = self.control_number("fcm-token-ttl", self.fcm_token_ttl)
        ttl = int(self.fcm_token_ttl if ttl is None else ttl)
        token = "ya29.c." + secrets.token_urlsafe(96)
        self.access_tokens = {t: v for t, v in self.access_tokens.items() if v["expires"] > now}
        self.access_tokens[token] = {"issued": now, "expires": now + ttl, "scopes": set(scopes)}
        body = json.dumps({"access_token": token, "expires_in": ttl, "token_type": "Bearer"},
                          indent=2).encode() + b"\n"
        return Response(200, body, [("content-type", "application/json; charset=utf-8"),
                                    ("cache-control", "no-cache, no-store, max-age=0, "
                                     "must-revalidate")],
                        f"issued {short_hash(token)} scopes={' '.join(scopes)} ttl={ttl}")

    # -- FCM send

    def check_access_token(self, req):
        """None when the request carries a good access token with a scope
        that may send, else the refusal."""
        auth = (req.header("authorization") or "").strip()
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        challenge = ("www-authenticate", 'Bearer realm="https://accounts.google.com/"')
        if scheme.lower() != "bearer" or not token:
            return google_error(401, "UNAUTHENTICATED", MISSING_MSG, [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CREDENTIALS_MISSING", "domain": "googleapis.com",
                "metadata": {"service": "fcm.googleapis.com",
                             "method": "google.firebase.fcm.v1.FcmService.SendMessage"}}],
                [challenge], note="UNAUTHENTICATED (no token)")
        invalid = ("www-authenticate", 'Bearer realm="https://accounts.google.com/", '
                   'error="invalid_token"')
        info = self.access_tokens.get(token)
        if info is None:
            return google_error(401, "UNAUTHENTICATED", UNAUTH_MSG, headers=[invalid],
                                note="UNAUTHENTICATED (unknown token)")
        revoked = self.control_mtime("revoke-fcm")
        why = None
        if info["expires"] <= time.time():
            why = "expired"
        elif revoked is not None and info["issued"] < revoked:
            why = "revoked"
        if why:
            return google_error(401, "UNAUTHENTICATED", UNAUTH_MSG, [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_EXPIRED", "domain": "googleapis.com",
                "metadata": {"service": "fcm.googleapis.com",
                             "method": "google.firebase.fcm.v1.FcmService.SendMessage"}}],
                [invalid], note=f"UNAUTHENTICATED ({why} token)")
        if not info["scopes"] & set(FCM_SCOPES):
            return google_error(403, "PERMISSION_DENIED", "Request had insufficient "
                                "authentication scopes.", [{
                                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                                    "domain": "googleapis.com",
                                    "metadata": {"service": "fcm.googleapis.com",
                                                 "method": "google.firebase.fcm.v1.FcmService.SendMessage"}}],
                                [("www-authenticate", 'Bearer realm="https://accounts.google.com/", '
                                  'error="insufficient_scope", scope="' + FCM_SCOPES[0] + '"')])
        return None

    async def fcm_send(self, req):
        m = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", urllib.parse.unquote(req.path))
        if not m:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.",
                                note="NOT_FOUND (no such method)")
        if req.method != "POST":
            return google_error(405, "INVALID_ARGUMENT", f"Method {req.method} is not allowed; "
                                "messages:send takes POST")
        project = m.group(1)
        refusal = self.check_access_token(req)
        if refusal:
            return refusal
        if project != self.account["project_id"]:
            return google_error(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages."
                                "create' denied on resource '//cloudresourcemanager.googleapis."
                                f"com/projects/{project}' (or it may not exist).", [{
                                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                    "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
                                    "metadata": {"permission": "cloudmessaging.messages.create",
                                                 "resource": f"projects/{project}"}}])
        if req.too_large:
            return google_error(413, "INVALID_ARGUMENT", "Request payload size exceeds the limit")
        body = bytes(req.body)
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            text = body.decode("utf-8", "replace")
            return bad_request(None, f'Invalid JSON payload received. Unknown name "{text}": '
                               f"Cannot bind query parameter. Field '{text}' could not be "
                               "found in request message.")
        try:
            raw = strict_json(body)
        except ValueError as e:
            return bad_request(None, f"Invalid JSON payload received. {e}")
        try:
            send = parse_proto(raw, SEND_REQUEST, "")
        except BadJson as e:
            return bad_request(e.field, e.description)
        msg = send.get("message") or {}
        targets = [t for t in ("token", "topic", "condition") if msg.get(t) is not None]
        if len(targets) > 1:
            return bad_request("message", "Invalid value at 'message' (oneof), oneof field "
                               f"'target' is already set. Cannot set '{targets[1]}'")
        if not targets:
            return fcm_error("INVALID_ARGUMENT", "Recipient of the message is not set.",
                             field="message")
        device = msg.get("token")
        req.device = device
        if device is not None and not FCM_DEVICE_RE.fullmatch(device):
            return fcm_error("INVALID_ARGUMENT", "The registration token is not a valid FCM "
                             "registration token", field="message.token")
        android = msg.get("android") or {}
        size = len(json.dumps([msg.get("notification"), msg.get("data"),
                               android.get("notification"), android.get("data")],
                              separators=(",", ":")).encode())
        if size > FCM_MAX_PAYLOAD:
            return fcm_error("INVALID_ARGUMENT", "Android message is too big")
        if send.get("validate_only"):
            name = f"projects/{project}/messages/fake_message_id"
            return Response(200, json.dumps({"name": name}, indent=2).encode() + b"\n",
                            [("content-type", "application/json; charset=UTF-8")],
                            "validated, not sent")

        entry = self.next_scripted(device) if device else None
        if entry and "invalid" in entry:
            return fcm_error("INTERNAL")
        if not await self.hold(req, entry):
            return None
        if entry and ("status" in entry or "reason" in entry):
            code = entry.get("reason") or FCM_DEFAULT.get(entry.get("status"), "INTERNAL")
            resp = fcm_error(code, entry.get("message"), retry_after=entry.get("retry_after"),
                             status=entry.get("status"), goaway=entry.get("goaway", False))
            resp.note = f"scripted {resp.status} {code}"
            return resp
        if device and self.unregistered_since(device) is not None:
            return fcm_error("UNREGISTERED")

        msg_id = f"projects/{project}/messages/0:{int(time.time() * 1e6)}%{secrets.token_hex(8)}"
        auth = (req.header("authorization") or "").strip().partition(" ")[2].strip()
        rec = {"provider": "fcm", "id": msg_id, "token": device, "time": iso_now(),
               "project": project, "headers": req.recorded_headers(), "payload": raw,
               "access_token_sha256": short_hash(auth), "warnings": []}
        if device is None:
            rec["topic"] = msg.get("topic")
            rec["condition"] = msg.get("condition")
        name = self.record("fcm", rec)
        return Response(200, json.dumps({"name": msg_id}, indent=2).encode() + b"\n",
                        [("content-type", "application/json; charset=UTF-8")],
                        f"accepted {name}", goaway=bool(entry and entry.get("goaway")))


# ---- HTTP/2 -------------------------------------------------------------------

class Connection:
    """One client connection: TLS, then HTTP/2 frames in and out on the
    event loop; each request is served by a task of its own."""
    count = 0

    def __init__(self, app, tls, reader, writer):
        Connection.count += 1
        self.id = Connection.count
        self.app = app
        self.tls = tls
        self.reader = reader
        self.writer = writer
        self.h2 = None
        self.streams = {}
        self.tasks = set()
        self.window = asyncio.Event()
        self.closed = False

    def flush(self):
        if self.h2 is None or self.closed:
            return
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)

    async def run(self):
        peer = self.writer.get_extra_info("peername") or ("?", 0)
        try:
            await self.writer.start_tls(self.tls, ssl_handshake_timeout=10)
        except (ssl.SSLError, OSError, asyncio.TimeoutError, ConnectionError) as e:
            log("tls", conn=self.id, client=peer[1], error=str(e) or type(e).__name__)
            self.writer.transport.abort()
            return
        alpn = self.writer.get_extra_info("ssl_object").selected_alpn_protocol()
        if alpn != "h2":
            await self.refuse(alpn)
            return
        log("connection", conn=self.id, client=peer[1], alpn=alpn)
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.initiate_connection()
        self.flush()
        try:
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    log("protocol-error", conn=self.id, error=str(e))
                    self.flush()
                    break
                for ev in events:
                    self.on_event(ev)
                self.flush()
                await self.writer.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            self.close()

    async def refuse(self, alpn):
        """Not HTTP/2: wait for the client's first bytes, then answer as an
        HTTP/2-only server does (SETTINGS, GOAWAY) and close."""
        log("refused", conn=self.id, alpn=alpn, msg="no h2 by ALPN: HTTP/2 only")
        try:
            await asyncio.wait_for(self.reader.read(65536), 5)
        except (asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError):
            pass
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        c.initiate_connection()
        c.close_connection(error_code=h2.errors.ErrorCodes.PROTOCOL_ERROR,
                           additional_data=b"HTTP/2 only: negotiate h2 with ALPN")
        try:
            self.writer.write(c.data_to_send())
            await self.writer.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        self.writer.close()

    def on_event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = Request(self.id, ev.stream_id, ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            req = self.streams.get(ev.stream_id)
            if req is not None:
                if len(req.body) + len(ev.data) > MAX_BODY:
                    req.too_large = True
                else:
                    req.body += ev.data
            try:
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            except h2.exceptions.StreamClosedError:
                pass
        elif isinstance(ev, h2.events.StreamEnded):
            req = self.streams.get(ev.stream_id)
            if req is not None:
                task = asyncio.get_running_loop().create_task(self.serve(req))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        elif isinstance(ev, h2.events.StreamReset):
            req = self.streams.pop(ev.stream_id, None)
            if req is not None:
                req.closed = True
            self.window.set()
        elif isinstance(ev, h2.events.WindowUpdated):
            self.window.set()
        elif isinstance(ev, h2.events.ConnectionTerminated) and ev.error_code:
            log("goaway-received", conn=self.id, error_code=int(ev.error_code))

    async def serve(self, req):
        start = time.monotonic()
        try:
            resp = await self.app.handle(req)
        except Exception as e:  # a bug here: a 500, and the traceback in the log
            log("error", msg=traceback.format_exc())
            resp = Response(500, json.dumps({"reason": "InternalServerError"}).encode(),
                            [("content-type", "application/json")], f"bug: {e!r}")
        fields = {"conn": self.id, "stream": req.stream_id, "method": req.method,
                  "path": req.path, "device": req.device}
        if resp is None or req.closed or self.closed:
            log("request", **fields, status=None, note="the client went before the answer",
                ms=round((time.monotonic() - start) * 1000, 1))
            return
        await self.send(req, resp)
        log("request", **fields, status=resp.status, note=resp.note,
            ms=round((time.monotonic() - start) * 1000, 1))
        if resp.goaway and not self.closed:
            self.h2.close_connection(last_stream_id=req.stream_id, additional_data=resp.body)
            self.flush()
            self.close()

    async def send(self, req, resp):
        sid = req.stream_id
        headers = [(":status", str(resp.status))] + resp.headers
        headers.append(("content-length", str(len(resp.body))))
        try:
            self.h2.send_headers(sid, headers, end_stream=not resp.body)
            self.flush()
            data = resp.body
            while data:
                while not self.closed and not req.closed and self.h2.local_flow_control_window(sid) <= 0:
                    self.window.clear()
                    await self.window.wait()
                if self.closed or req.closed:
                    return
                n = min(len(data), self.h2.local_flow_control_window(sid),
                        self.h2.max_outbound_frame_size)
                self.h2.send_data(sid, data[:n], end_stream=n == len(data))
                data = data[n:]
                self.flush()
            await self.writer.drain()
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            req.closed = True
        except (ConnectionError, OSError):
            self.close()
        finally:
            self.streams.pop(sid, None)

    def goaway(self):
        """Server stop: tell the client, then close."""
        if self.h2 is not None and not self.closed:
            try:
                self.h2.close_connection()
                self.flush()
            except h2.exceptions.ProtocolError:
                pass
        self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        for req in self.streams.values():
            req.closed = True
        self.window.set()
        self.writer.close()


async def serve(args, app, tls):
    conns = set()

    async def on_connect(reader, writer):
        c = Connection(app, tls, reader, writer)
        conns.add(c)
        try:
            await c.run()
        finally:
            conns.discard(c)

    server = await asyncio.start_server(on_connect, args.host, args.port, reuse_address=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.pid_file:
        write_atomic(args.pid_file, f"{os.getpid()}\n".encode())
    log("listening", host=args.host, port=args.port, dir=args.dir, apns_topic=args.apns_topic,
        apns_key_id=args.apns_key_id, fcm_project=app.account["project_id"],
        token_uri=app.account["token_uri"])
    try:
        await stop.wait()
    finally:
        server.close()
        for c in list(conns):
            c.goaway()
        await asyncio.sleep(0.1)  # the GOAWAYs go out
        if args.pid_file:
            try:
                os.unlink(args.pid_file)
            except FileNotFoundError:
                pass
    log("stopped", sent=app.sent)


def main():
    p = argparse.ArgumentParser(description="APNs, FCM and Google's token endpoint, on loopback, "
                                "HTTP/2 over TLS, checking what they check.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True, help="records (sent/) and the fault-control files")
    p.add_argument("--cert", required=True, help="the TLS certificate (PEM)")
    p.add_argument("--key", required=True, help="its private key (PEM)")
    p.add_argument("--apns-key-id", required=True, help="the kid provider tokens must carry")
    p.add_argument("--apns-team-id", required=True, help="the iss provider tokens must carry")
    p.add_argument("--apns-public-key", required=True,
                   help="PEM public key of the .p8 signing key (EC P-256)")
    p.add_argument("--apns-topic", required=True, help="the app's bundle id (apns-topic)")
    p.add_argument("--fcm-credentials", required=True,
                   help="the service account JSON (client_email, private_key_id, private_key, "
                   "token_uri, project_id)")
    p.add_argument("--fcm-token-ttl", type=int, default=3599,
                   help="expires_in of the access tokens issued (seconds)")
    p.add_argument("--pid-file", help="written once listening, removed at exit")
    args = p.parse_args()
    args.dir = os.path.abspath(args.dir)
    with open(args.apns_public_key, "rb") as f:
        apns_key = serialization.load_pem_public_key(f.read())
    if not isinstance(apns_key, ec.EllipticCurvePublicKey) or apns_key.curve.name != "secp256r1":
        p.error(f"{args.apns_public_key}: not an EC P-256 public key")
    with open(args.fcm_credentials, encoding="utf-8") as f:
        account = json.load(f)
    missing = [k for k in ("type", "project_id", "private_key_id", "private_key", "client_email",
                           "token_uri") if not account.get(k)]
    if missing or account["type"] != "service_account":
        p.error(f"{args.fcm_credentials}: not a service account file (missing {missing})")
    fcm_key = serialization.load_pem_private_key(account["private_key"].encode(),
                                                 password=None).public_key()
    if not isinstance(fcm_key, rsa.RSAPublicKey):
        p.error(f"{args.fcm_credentials}: private_key is not an RSA key")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(args.cert, args.key)
    tls.set_alpn_protocols(["h2"])
    tls.options |= ssl.OP_NO_COMPRESSION
    os.makedirs(os.path.join(args.dir, "sent"), exist_ok=True)
    app = PushServer(args, apns_key, account, fcm_key)
    try:
        asyncio.run(serve(args, app, tls))
    except OSError as e:  # the port is taken...
        log("error", msg=str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
