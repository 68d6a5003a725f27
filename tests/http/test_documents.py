"""Documents: metadata CRUD per residence (optionally tied to one of its
tasks), and files: uploaded as the raw body (type allow-list, magic numbers,
size cap, server-chosen names), downloaded through nginx's internal
location, removed by honeydue-worker with their document or residence; and
that nobody else learns any of it exists.

The same tests run against both storage backends: tests/run.sh runs this
module with the stack on STORAGE_BACKEND=local (STORAGE_DIR), then switches
the stack to s3 (the stack's S3 server, objects under HD_S3_DIR) and runs
it again; stored() and stored_bytes() look at whichever holds the files.
Last, honeydue-worker's side: documents.reconcile (orphans removed, missing
files reported) and `storage copy-local` (a directory into the bucket)."""
import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import stat
import subprocess
import tempfile
import time

from lib import assert_error, psql, register_user, request
from test_process import Pool
from test_residences import add_member, make_residence
from test_s3_server import send_signed, signed
from test_tasks import make_task

STORAGE = os.environ["STORAGE_DIR"]
BACKEND = os.environ.get("STORAGE_BACKEND", "local")
BUCKET_DIR = os.path.join(os.environ["HD_S3_DIR"], os.environ["S3_BUCKET"])
PREFIX = "documents/"  # a stored file's key in the bucket
MAX = 10 * 1024 * 1024  # DOCUMENT_MAX_BYTES's default

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 64
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(3000)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(3000)
WEBP = b"RIFF\x00\x10\x00\x00WEBPVP8 " + os.urandom(2000)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + os.urandom(2000)
TEXT = "Furnace filter: 16x25x1, MERV 11 – change quarterly.\n".encode() * 40


def make_document(tok, residence_id, **fields):
    body = {"residence_id": residence_id, "title": "Dishwasher manual"}
    body.update(fields)
    r = request("POST", "/api/documents/", body, token=tok)
    assert r.status == 201, r.text
    return r.json


def upload(tok, doc_id, data, ctype="application/pdf", headers=None, query=""):
    h = {"Content-Type": ctype} if ctype else {}
    h.update(headers or {})
    return request("PUT", f"/api/documents/{doc_id}/file/{query}", raw=data, token=tok, headers=h)


def uploaded(tok, doc_id, data, ctype="application/pdf", **kw):
    r = upload(tok, doc_id, data, ctype, **kw)
    assert r.status == 200, r.text
    return r.json


def object_paths(name):
    """The S3 server's files for stored file NAME: (data, metadata)."""
    h = hashlib.sha256((PREFIX + name).encode()).hexdigest()
    return os.path.join(BUCKET_DIR, "obj", h), os.path.join(BUCKET_DIR, "meta", h + ".json")


def stored():
    """The stored files' names, uploads in progress included: STORAGE_DIR's
    files (.upload-* temporary ones too), or the bucket's documents/ keys
    (and "tmp/..." for a body the S3 server is still receiving)."""
    if BACKEND == "local":
        return set(os.listdir(STORAGE))
    names = {"tmp/" + f for f in os.listdir(os.path.join(BUCKET_DIR, "tmp"))}
    for f in os.listdir(os.path.join(BUCKET_DIR, "meta")):
        try:
            with open(os.path.join(BUCKET_DIR, "meta", f), encoding="utf-8") as m:
                key = json.load(m)["key"]
        except (FileNotFoundError, ValueError):
            continue
        if key.startswith(PREFIX):
            names.add(key[len(PREFIX):])
    return names


def stored_bytes(name):
    with open(os.path.join(STORAGE, name) if BACKEND == "local" else object_paths(name)[0], "rb") as f:
        return f.read()


def stored_name(doc_id):
    return psql(f"SELECT stored_name FROM document_document WHERE id = {doc_id}")


def wait_swept(timeout=10):
    """honeydue-worker's documents.sweep removes released files after the
    write that released them: wait until it has (document_filedeletion is
    empty), and return the stored files then."""
    deadline = time.time() + timeout
    while psql("SELECT count(*) FROM document_filedeletion") != "0":
        assert time.time() < deadline, psql("SELECT string_agg(stored_name, ' ') FROM document_filedeletion")
        time.sleep(0.05)
    return stored()


KEYS = {"id", "residence_id", "task_id", "created_by_id", "document_type", "title", "notes",
        "purchase_date", "expiry_date", "file", "created_at", "updated_at"}


def test_create_and_read_document_with_every_field():
    user, tok, _ = register_user("d")
    rid = make_residence(tok)["id"]
    task = make_task(tok, rid)
    d = make_document(tok, rid, task_id=task["id"], document_type="warranty", title="Boiler warranty",
                      notes="5 years parts", purchase_date="2025-03-01", expiry_date="2030-03-01")
    assert set(d) == KEYS
    assert d["residence_id"] == rid and d["task_id"] == task["id"] and d["created_by_id"] == user["id"]
    assert d["document_type"] == "warranty" and d["title"] == "Boiler warranty" and d["notes"] == "5 years parts"
    assert d["purchase_date"] == "2025-03-01" and d["expiry_date"] == "2030-03-01"
    assert d["file"] is None and d["created_at"].endswith("+00:00")
    got = request("GET", f"/api/documents/{d['id']}/", token=tok)
    assert got.status == 200 and got.json == d
    assert request("GET", "/api/documents/", token=tok).json == {"count": 1, "results": [d]}


def test_defaults_and_types_are_the_static_data_lookup():
    _, tok, _ = register_user("dd")
    rid = make_residence(tok)["id"]
    d = make_document(tok, rid)
    assert d["document_type"] == "other" and d["notes"] == "" and d["task_id"] is None
    assert d["purchase_date"] is None and d["expiry_date"] is None
    for t in request("GET", "/api/static-data/").json["document_types"]:
        assert make_document(tok, rid, document_type=t["id"])["document_type"] == t["id"]


def test_document_validation():
    _, tok, _ = register_user("dv")
    rid = make_residence(tok)["id"]
    cases = [
        ({"title": "x"}, "residence_id", "is required"),
        ({"residence_id": rid}, "title", "is required"),
        ({"residence_id": rid, "title": ""}, "title", "may not be blank"),
        ({"residence_id": rid, "title": "x" * 201}, "title", "is too long"),
        ({"residence_id": rid, "title": "x", "document_type": "deed"}, "document_type",
         "is not one of the allowed values"),
        ({"residence_id": rid, "title": "x", "purchase_date": "2025-02-30"}, "purchase_date",
         "must be a date as YYYY-MM-DD"),
        ({"residence_id": rid, "title": "x", "expiry_date": 20300101}, "expiry_date", "must be a string"),
        ({"residence_id": rid, "title": "x", "task_id": "7"}, "task_id", "must be an integer"),
        ({"residence_id": rid, "title": "x", "purchase_date": "2025-03-01", "expiry_date": "2025-02-28"},
         "expiry_date", "may not be before purchase_date"),
    ]
    for body, field, msg in cases:
        r = request("POST", "/api/documents/", body, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"].get(field) == msg, (body, r.json)
    assert_error(request("POST", "/api/documents/", raw="{", token=tok,
                         headers={"Content-Type": "application/json"}), 400, "malformed_json")
    assert_error(request("POST", "/api/documents/", raw="title=x", token=tok,
                         headers={"Content-Type": "text/plain"}), 415)
    assert request("GET", "/api/documents/", token=tok).json["count"] == 0


def test_task_must_belong_to_the_same_residence():
    _, tok, _ = register_user("dt")
    _, other, _ = register_user("dto")
    a, b = make_residence(tok, name="A")["id"], make_residence(tok, name="B")["id"]
    task_b = make_task(tok, b)
    strangers_task = make_task(other, make_residence(other)["id"])
    for tid in (task_b["id"], strangers_task["id"], strangers_task["id"] + 1000000):
        r = request("POST", "/api/documents/", {"residence_id": a, "title": "x", "task_id": tid}, token=tok)
        assert_error(r, 422, "validation_failed")
        assert r.json["error"]["fields"] == {"task_id": "is not a task of this residence"}
    d = make_document(tok, a)
    r = request("PATCH", f"/api/documents/{d['id']}/", {"task_id": task_b["id"]}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"task_id": "is not a task of this residence"}
    task_a = make_task(tok, a)
    r = request("PATCH", f"/api/documents/{d['id']}/", {"task_id": task_a["id"]}, token=tok)
    assert r.status == 200 and r.json["task_id"] == task_a["id"]
    # Deleting the task keeps the document, untied.
    assert request("DELETE", f"/api/tasks/{task_a['id']}/", token=tok).status == 204
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json["task_id"] is None


def test_patch_changes_only_given_fields():
    _, tok, _ = register_user("dp")
    rid = make_residence(tok)["id"]
    task = make_task(tok, rid)
    d = make_document(tok, rid, task_id=task["id"], notes="keep", purchase_date="2025-01-01")
    r = request("PATCH", f"/api/documents/{d['id']}/",
                {"title": "Renamed", "task_id": None, "document_type": "receipt", "expiry_date": "2026-01-01"},
                token=tok)
    assert r.status == 200, r.text
    assert r.json["title"] == "Renamed" and r.json["task_id"] is None and r.json["document_type"] == "receipt"
    assert r.json["notes"] == "keep" and r.json["purchase_date"] == "2025-01-01"
    assert r.json["expiry_date"] == "2026-01-01" and r.json["updated_at"] > d["updated_at"]
    # The date order holds against what the document already has.
    r = request("PATCH", f"/api/documents/{d['id']}/", {"expiry_date": "2024-12-31"}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"expiry_date": "may not be before purchase_date"}
    r = request("PATCH", f"/api/documents/{d['id']}/", {"residence_id": rid}, token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"residence_id": "cannot be changed"}
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json["expiry_date"] == "2026-01-01"


def test_list_filters():
    _, tok, _ = register_user("dl")
    a, b = make_residence(tok, name="A")["id"], make_residence(tok, name="B")["id"]
    task = make_task(tok, a)
    d1 = make_document(tok, a, document_type="manual")
    d2 = make_document(tok, a, document_type="receipt", task_id=task["id"])
    d3 = make_document(tok, b, document_type="manual")

    def ids(query):
        r = request("GET", f"/api/documents/{query}", token=tok)
        assert r.status == 200, r.text
        assert r.json["count"] == len(r.json["results"])
        return [d["id"] for d in r.json["results"]]

    assert ids("") == [d3["id"], d2["id"], d1["id"]]  # newest first
    assert ids(f"?residence={a}") == [d2["id"], d1["id"]]
    assert ids(f"?task={task['id']}") == [d2["id"]]
    assert ids("?type=manual") == [d3["id"], d1["id"]]
    assert ids(f"?residence={a}&type=manual") == [d1["id"]]
    assert ids(f"?residence={b}&task={task['id']}") == []
    r = request("GET", "/api/documents/?residence=abc&task=0&type=deed", token=tok)
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"residence": "must be an id", "task": "must be an id",
                                         "type": "is not one of the allowed values"}


def test_upload_and_download_through_nginx_byte_for_byte():
    user, tok, _ = register_user("du")
    d = make_document(tok, make_residence(tok)["id"])
    data = PDF + os.urandom(2 * 1024 * 1024)  # bigger than nginx's in-memory body buffer
    before = wait_swept()
    doc = uploaded(tok, d["id"], data, headers={"X-Filename": "boiler manual.pdf"})
    f = doc["file"]
    assert set(f) == {"content_type", "size", "name", "sha256", "uploaded_at"}
    assert f["content_type"] == "application/pdf" and f["size"] == len(data)
    assert f["name"] == "boiler manual.pdf" and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["updated_at"] > d["updated_at"] and doc["title"] == d["title"]
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json == doc
    # One new file, under a server-chosen name, readable by nginx's group only.
    new = stored() - before
    name = stored_name(d["id"])
    assert new == {name} and re.fullmatch(r"[0-9a-f]{32}", name)
    assert stored_bytes(name) == data
    if BACKEND == "local":
        assert stat.S_IMODE(os.stat(os.path.join(STORAGE, name)).st_mode) == 0o640
    r = request("GET", f"/api/documents/{d['id']}/file/", token=tok)
    assert r.status == 200
    assert r.body == data
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-disposition"] == \
        "attachment; filename=\"boiler manual.pdf\"; filename*=UTF-8''boiler%20manual.pdf"
    assert r.headers["cache-control"] == "private, no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"] or "")
    assert r.headers["x-accel-redirect"] is None
    assert name not in str(r.headers)  # the stored name never reaches the client


def test_every_allowed_type_round_trips():
    _, tok, _ = register_user("dtypes")
    rid = make_residence(tok)["id"]
    for ctype, data, ext in (("image/png", PNG, ".png"), ("image/jpeg", JPEG, ".jpg"),
                             ("image/webp", WEBP, ".webp"), ("image/heic", HEIC, ".heic"),
                             ("text/plain; charset=utf-8", TEXT, ".txt"), ("APPLICATION/PDF", PDF, ".pdf")):
        d = make_document(tok, rid)
        doc = uploaded(tok, d["id"], data, ctype)
        canonical = ctype.split(";")[0].lower()
        assert doc["file"]["content_type"] == canonical and doc["file"]["name"] is None
        r = request("GET", f"/api/documents/{d['id']}/file/", token=tok)
        assert r.status == 200 and r.body == data, ctype
        assert r.headers["content-type"] == canonical
        # No name given: one made from the id and the type.
        assert f'filename="document-{d["id"]}{ext}"' in r.headers["content-disposition"]


def test_types_outside_the_allow_list_are_415():
    _, tok, _ = register_user("d415")
    d = make_document(tok, make_residence(tok)["id"])
    before = wait_swept()
    for ctype, data in (("text/html", b"<html><script>alert(1)</script></html>"),
                        ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
                        ("application/octet-stream", PDF), ("application/json", b"{}"), (None, PDF)):
        r = upload(tok, d["id"], data, ctype)
        assert_error(r, 415, "unsupported_media_type")
    assert stored() == before
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json["file"] is None


def test_content_must_match_the_declared_type():
    _, tok, _ = register_user("dmagic")
    d = make_document(tok, make_residence(tok)["id"])
    before = wait_swept()
    big_png = PNG + os.urandom(200000)  # past the first chunk: rejected while streaming
    for ctype, data in (("application/pdf", PNG), ("application/pdf", big_png), ("image/png", JPEG),
                        ("image/jpeg", PDF), ("image/webp", b"RIFF\x00\x10\x00\x00WAVEfmt " + bytes(100)),
                        ("image/heic", b"\x00\x00\x00\x18ftypisom" + bytes(100)),
                        ("text/plain", b"MZ\x90\x00\x03\x00\x00\x00"), ("text/plain", PDF),
                        ("image/png", b"\x89PNG")):
        r = upload(tok, d["id"], data, ctype)
        err = assert_error(r, 415, "unsupported_media_type")
        assert err["message"] == f"the file's content is not {ctype}", err
    assert stored() == before
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json["file"] is None


def test_empty_file_is_422():
    _, tok, _ = register_user("dempty")
    d = make_document(tok, make_residence(tok)["id"])
    before = wait_swept()
    r = upload(tok, d["id"], b"")
    assert_error(r, 422, "validation_failed")
    assert r.json["error"]["fields"] == {"file": "is empty"}
    assert stored() == before


def test_file_of_exactly_the_limit_is_accepted():
    _, tok, _ = register_user("dmax")
    d = make_document(tok, make_residence(tok)["id"])
    data = PDF + os.urandom(MAX - len(PDF))
    doc = uploaded(tok, d["id"], data)
    assert doc["file"]["size"] == MAX
    r = request("GET", f"/api/documents/{d['id']}/file/", token=tok)
    assert r.status == 200 and r.body == data


def test_oversize_is_413_with_nothing_left_on_disk():
    _, tok, _ = register_user("dbig")
    d = make_document(tok, make_residence(tok)["id"])
    old = uploaded(tok, d["id"], TEXT, "text/plain")
    before = wait_swept()
    # Over the app's limit, within nginx's: the app answers, having read nothing.
    r = upload(tok, d["id"], PDF + bytes(MAX + 1 - len(PDF)))
    err = assert_error(r, 413, "payload_too_large")
    assert err["message"] == f"the file is larger than {MAX} bytes"
    assert r.headers["x-request-id"]
    # Over nginx's own limit for this location: nginx answers, in JSON.
    r = upload(tok, d["id"], PDF + bytes(12 * 1024 * 1024))
    assert_error(r, 413, "payload_too_large")
    assert stored() == before
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json == old
    # The rest of /api/ keeps its 1 MiB limit.
    r = request("POST", "/api/documents/", raw=b'{"title":"' + b"x" * (1024 * 1024) + b'"}', token=tok,
                headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


QUOTA = int(os.environ.get("HONEYDUE_RESIDENCE_STORAGE_QUOTA_MB", "1024")) * 1024 * 1024
UPLOADS_PER_HOUR = int(os.environ.get("HONEYDUE_UPLOADS_PER_HOUR", "60"))


def plain(n):
    """N bytes of ASCII text (text/plain)."""
    return (b"Furnace filter 16x25x1, MERV 11, change quarterly.\n" * (n // 50 + 1))[:n]


def fill_residence(tok, residence_id, free):
    """A document in RESIDENCE_ID whose file (a small one, its size raised
    in Postgres) leaves FREE bytes of the residence's quota; its id."""
    d = make_document(tok, residence_id, title="Big scans")
    uploaded(tok, d["id"], TEXT, "text/plain")
    psql(f"UPDATE document_document SET size = {QUOTA - free} WHERE id = {d['id']}")
    return d["id"]


def test_an_upload_over_the_residence_quota_is_413_with_nothing_stored():
    _, tok, _ = register_user("dquota")
    home = make_residence(tok)["id"]
    big = fill_residence(tok, home, 1000)
    d = make_document(tok, home)
    before = stored()
    r = upload(tok, d["id"], PDF)  # 16 KiB > 1000 bytes free
    err = assert_error(r, 413, "quota_exceeded")
    assert err["message"] == (f"this residence's documents may hold {QUOTA} bytes; "
                              f"{QUOTA - 1000} are used and the file has {len(PDF)}")
    assert not stored() - before  # nothing new (files released earlier may go meanwhile)
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json["file"] is None
    # What fits is taken; replacing a file counts the new one instead of the old.
    assert uploaded(tok, d["id"], plain(900), "text/plain")["file"]["size"] == 900
    assert_error(upload(tok, d["id"], plain(1001), "text/plain"), 413, "quota_exceeded")
    assert uploaded(tok, d["id"], plain(1000), "text/plain")["file"]["size"] == 1000
    # Deleting a document frees its share.
    assert request("DELETE", f"/api/documents/{big}/", token=tok).status == 204
    assert uploaded(tok, d["id"], PDF)["file"]["size"] == len(PDF)
    # Another residence of the same user has a quota of its own.
    other = make_document(tok, make_residence(tok)["id"])
    fill_residence(tok, home, 0)
    assert uploaded(tok, other["id"], PDF)["file"]["size"] == len(PDF)


def test_concurrent_uploads_cannot_both_pass_the_quota():
    """Two uploads that each fit but not together, committing at the same
    moment: one is taken, the other refused and its stored file removed."""
    _, tok, _ = register_user("dquota2")
    home = make_residence(tok)["id"]
    fill_residence(tok, home, 1500)
    docs = [make_document(tok, home)["id"] for _ in range(2)]
    before = stored()
    # Hold the residence's row while both uploads store their files, so
    # they reach the quota's check together when it is let go.
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-h", os.environ.get("DB_HOST", "127.0.0.1"), "-p", os.environ["DB_PORT"],
         "-U", os.environ.get("DB_USER", "postgres"), "-d", "honeydue", "-c",
         f"BEGIN; SELECT 1 FROM residence_residence WHERE id = {home} FOR UPDATE; "
         "SELECT pg_sleep(1.5); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 5
    while psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1.5)%' "
               "AND state = 'active' AND pid <> pg_backend_pid()") != "1":
        assert time.time() < deadline
        time.sleep(0.02)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda i: upload(tok, i, plain(1000), "text/plain"), docs))
    assert holder.wait(10) == 0, holder.stderr.read()
    assert sorted(r.status for r in answers) == [200, 413], [r.text for r in answers]
    assert int(psql(f"SELECT count(*) FROM document_document WHERE id IN ({docs[0]}, {docs[1]}) "
                    "AND stored_name IS NOT NULL")) == 1
    taken = {stored_name(i) for i in docs} - {""}
    assert stored() - before == taken  # the refused upload's file is gone


def test_uploads_are_limited_per_user():
    _, tok, _ = register_user("drate")
    d = make_document(tok, make_residence(tok)["id"])
    # Every attempt counts, whatever its outcome.
    for _ in range(UPLOADS_PER_HOUR):
        assert_error(upload(tok, d["id"], b"not a pdf at all"), 415)
    r = upload(tok, d["id"], PDF)
    err = assert_error(r, 429, "throttled")
    assert 3500 <= int(r.headers["retry-after"]) <= 3600, r.headers["retry-after"]
    assert r.headers["retry-after"] in err["message"]
    # Someone else uploads as usual.
    _, tok2, _ = register_user("drate2")
    assert uploaded(tok2, make_document(tok2, make_residence(tok2)["id"])["id"], PDF)


def test_replacing_a_file_removes_the_old_one():
    _, tok, _ = register_user("drepl")
    d = make_document(tok, make_residence(tok)["id"])
    uploaded(tok, d["id"], PDF, headers={"X-Filename": "v1.pdf"})
    first = stored_name(d["id"])
    assert first in stored()
    doc = uploaded(tok, d["id"], PNG, "image/png", headers={"X-Filename": "v2.png"})
    second = stored_name(d["id"])
    assert second != first and second in stored()
    assert first not in wait_swept()
    assert doc["file"]["name"] == "v2.png" and doc["file"]["content_type"] == "image/png"
    assert request("GET", f"/api/documents/{d['id']}/file/", token=tok).body == PNG
    assert psql(f"SELECT count(*) FROM document_filedeletion WHERE stored_name = '{first}'") == "0"


def test_client_file_names_never_become_paths():
    _, tok, _ = register_user("dpath")
    d = make_document(tok, make_residence(tok)["id"])
    parent = os.path.dirname(STORAGE)
    parent_before, before = set(os.listdir(parent)), wait_swept()
    cases = (
        ({"X-Filename": "../../etc/passwd"}, "", "passwd"),
        ({}, "?filename=..%2F..%2F..%2Ftmp%2Fescaped.pdf", "escaped.pdf"),
        ({"X-Filename": "..%2F..%2Fx.pdf"}, "", "x.pdf"),
        ({"X-Filename": "..\\..\\win.ini"}, "", "win.ini"),
        ({"X-Filename": "../"}, "", None),
        ({"X-Filename": "r%C3%A9sum%C3%A9 %22final%22.pdf"}, "", "résumé \"final\".pdf"),
        ({"X-Filename": "a%0D%0AX-Injected: yes.pdf"}, "", "aX-Injected: yes.pdf"),
    )
    for headers, query, shown in cases:
        doc = uploaded(tok, d["id"], PDF, headers=headers, query=query)
        assert doc["file"]["name"] == shown, (headers, query, doc["file"])
        name = stored_name(d["id"])
        assert re.fullmatch(r"[0-9a-f]{32}", name) and stored_bytes(name) == PDF
        r = request("GET", f"/api/documents/{d['id']}/file/", token=tok)
        assert r.status == 200 and r.body == PDF
        assert r.headers["x-injected"] is None
        cd = r.headers["content-disposition"]
        assert cd.startswith("attachment; filename=\"") and "/" not in cd and "\\" not in cd, cd
        assert "\r" not in cd and "\n" not in cd
    assert set(os.listdir(parent)) == parent_before
    assert not os.path.exists("/tmp/escaped.pdf")
    assert len(wait_swept() - before) == 1  # each upload replaced the one before
    r = request("GET", f"/api/documents/{d['id']}/file/", token=tok)
    assert r.headers["content-disposition"] == \
        "attachment; filename=\"aX-Injected_ yes.pdf\"; filename*=UTF-8''aX-Injected%3A%20yes.pdf"


def test_download_of_a_document_without_a_file_is_404():
    _, tok, _ = register_user("dnof")
    d = make_document(tok, make_residence(tok)["id"])
    err = assert_error(request("GET", f"/api/documents/{d['id']}/file/", token=tok), 404, "not_found")
    assert err["message"] == "this document has no file"


def test_storage_is_not_reachable_directly():
    _, tok, _ = register_user("dint")
    d = make_document(tok, make_residence(tok)["id"])
    uploaded(tok, d["id"], PDF)
    name = stored_name(d["id"])
    s3 = os.environ["S3_ENDPOINT"].replace("://", "/")
    for path in (f"/_documents/{name}", "/_documents/", f"/_documents/../storage/{name}",
                 f"/%5Fdocuments/{name}", f"/_s3/{s3}/{os.environ['S3_BUCKET']}/{PREFIX}{name}",
                 f"/%5Fs3/{s3}/{os.environ['S3_BUCKET']}/{PREFIX}{name}"):
        r = request("GET", path, token=tok)
        assert r.status == 404, (path, r.status)
        assert r.body != PDF
    # A client's own X-Accel-Redirect header means nothing.
    for accel in (f"/_documents/{name}", f"/_s3/{s3}/{os.environ['S3_BUCKET']}/{PREFIX}{name}"):
        r = request("GET", "/api/health/", headers={"X-Accel-Redirect": accel})
        assert r.status == 200 and r.body != PDF


def test_deleting_a_document_removes_its_file():
    _, tok, _ = register_user("ddel")
    d = make_document(tok, make_residence(tok)["id"])
    uploaded(tok, d["id"], PDF)
    name = stored_name(d["id"])
    assert name in stored()
    r = request("DELETE", f"/api/documents/{d['id']}/", token=tok)
    assert r.status == 204 and r.body == b""
    assert name not in wait_swept()
    assert_error(request("GET", f"/api/documents/{d['id']}/", token=tok), 404, "not_found")
    assert_error(request("GET", f"/api/documents/{d['id']}/file/", token=tok), 404, "not_found")
    assert_error(request("DELETE", f"/api/documents/{d['id']}/", token=tok), 404, "not_found")


def test_deleting_a_residence_removes_its_documents_files():
    _, tok, _ = register_user("dres")
    rid = make_residence(tok)["id"]
    keep_rid = make_residence(tok, name="Other")["id"]
    names = []
    for data, ctype in ((PDF, "application/pdf"), (PNG, "image/png")):
        d = make_document(tok, rid)
        uploaded(tok, d["id"], data, ctype)
        names.append(stored_name(d["id"]))
    kept = make_document(tok, keep_rid)
    uploaded(tok, kept["id"], PDF)
    kept_name = stored_name(kept["id"])
    assert set(names) <= stored()
    assert request("DELETE", f"/api/residences/{rid}/", token=tok).status == 204
    left = wait_swept()
    assert not set(names) & left
    assert kept_name in left
    assert request("GET", f"/api/documents/{kept['id']}/file/", token=tok).body == PDF


def test_every_member_uploads_and_downloads():
    _, owner_tok, _ = register_user("dmo")
    member, member_tok, _ = register_user("dmm")
    rid = make_residence(owner_tok)["id"]
    add_member(rid, member["id"])
    d = make_document(member_tok, rid, title="By member")
    assert d["created_by_id"] == member["id"]
    uploaded(member_tok, d["id"], JPEG, "image/jpeg")
    assert request("GET", f"/api/documents/{d['id']}/file/", token=owner_tok).body == JPEG
    r = request("PATCH", f"/api/documents/{d['id']}/", {"notes": "owner edit"}, token=owner_tok)
    assert r.status == 200 and r.json["notes"] == "owner edit"
    assert request("POST", f"/api/residences/{rid}/leave/", token=member_tok).status == 204
    assert_error(request("GET", f"/api/documents/{d['id']}/file/", token=member_tok), 404, "not_found")


def test_strangers_get_404_for_every_document_endpoint():
    _, tok, _ = register_user("down")
    _, other, _ = register_user("dstr")
    rid = make_residence(tok)["id"]
    d = make_document(tok, rid, title="Private")
    doc = uploaded(tok, d["id"], PDF)
    missing = d["id"] + 1000000
    before = wait_swept()
    for did in (d["id"], missing):
        assert_error(request("GET", f"/api/documents/{did}/", token=other), 404, "not_found")
        assert_error(request("PATCH", f"/api/documents/{did}/", {"title": "pwned"}, token=other), 404, "not_found")
        assert_error(request("DELETE", f"/api/documents/{did}/", token=other), 404, "not_found")
        assert_error(upload(other, did, PNG, "image/png"), 404, "not_found")
        assert_error(request("GET", f"/api/documents/{did}/file/", token=other), 404, "not_found")
    a = request("GET", f"/api/documents/{d['id']}/file/", token=other)
    b = request("GET", f"/api/documents/{missing}/file/", token=other)
    assert a.json == b.json and a.body != PDF
    assert stored() == before  # the stranger's uploads wrote nothing
    r = request("POST", "/api/documents/", {"residence_id": rid, "title": "intruder"}, token=other)
    assert_error(r, 404, "not_found")
    assert request("GET", "/api/documents/", token=other).json == {"count": 0, "results": []}
    assert request("GET", f"/api/documents/?residence={rid}", token=other).json == {"count": 0, "results": []}
    assert request("GET", f"/api/documents/{d['id']}/", token=tok).json == doc
    assert request("GET", f"/api/documents/{d['id']}/file/", token=tok).body == PDF


def test_document_endpoints_need_a_token():
    for method, path in (("GET", "/api/documents/"), ("POST", "/api/documents/"),
                         ("GET", "/api/documents/1/"), ("PATCH", "/api/documents/1/"),
                         ("DELETE", "/api/documents/1/"), ("GET", "/api/documents/1/file/")):
        assert_error(request(method, path, {} if method in ("POST", "PATCH") else None), 401,
                     "not_authenticated")
    before = wait_swept()
    for tok in (None, "0" * 40):
        assert_error(upload(tok, 1, PDF), 401, "not_authenticated")
    assert stored() == before


def test_worker_start_creates_storage_and_removes_stale_uploads():
    pool_dir = os.path.join(os.path.dirname(STORAGE), f"storage-test-{os.getpid()}")
    storage = os.path.join(pool_dir, "files")
    os.makedirs(pool_dir)
    pool = Pool(workers=1, STORAGE_BACKEND="local", STORAGE_DIR=storage)
    try:
        assert pool.stop() == 0
        assert os.path.isdir(storage) and stat.S_IMODE(os.stat(storage).st_mode) == 0o700
        for name in (".upload-stale", ".upload-young", "0123456789abcdef0123456789abcdef"):
            with open(os.path.join(storage, name), "wb") as f:
                f.write(b"x")
        hours_ago = time.time() - 7200
        os.utime(os.path.join(storage, ".upload-stale"), (hours_ago, hours_ago))
        pool = Pool(workers=1, STORAGE_BACKEND="local", STORAGE_DIR=storage)
        assert pool.stop() == 0
        assert set(os.listdir(storage)) == {".upload-young", "0123456789abcdef0123456789abcdef"}
    finally:
        pool.stop()
        for name in os.listdir(storage) if os.path.isdir(storage) else ():
            os.unlink(os.path.join(storage, name))
        if os.path.isdir(storage):
            os.rmdir(storage)
        os.rmdir(pool_dir)


def test_deleting_an_account_removes_the_files_of_the_residences_it_took_along():
    # A sole owner's residences go with the account (see Accounts); so do
    # their documents' files.
    _, tok, password = register_user("dacct")
    rid = make_residence(tok)["id"]
    doc = make_document(tok, rid)
    uploaded(tok, doc["id"], PDF)
    name = stored_name(doc["id"])
    assert name in stored()
    r = request("DELETE", "/api/auth/me/", {"password": password}, token=tok)
    assert r.status == 204, r.text
    assert name not in wait_swept()
    assert psql(f"SELECT count(*) FROM document_document WHERE id = {doc['id']}") == "0"


# ---- honeydue-worker: documents.reconcile and storage copy-local -------------

WORKER = os.path.join(os.environ["HD_BIN"], "honeydue-worker")
# The test stack's (tests/run.sh exports a short one); a day by default.
GRACE = int(os.environ.get("HONEYDUE_DOCUMENT_ORPHAN_GRACE_SECONDS", "86400"))


def worker(*args, env=None, check=True):
    p = subprocess.run([WORKER, *args], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    assert not check or p.returncode == 0, f"honeydue-worker {args}: {p.returncode}\n{p.stdout}{p.stderr}"
    return p


def put_object(name, data):
    """Put DATA in the bucket as stored file NAME, signed as any S3 client signs."""
    status, _, body = send_signed(signed("PUT", PREFIX + name, body=data))
    assert status == 200, (status, body)


def remove_object(name):
    for path in object_paths(name):
        if os.path.exists(path):
            os.unlink(path)


def mtime(name):
    if BACKEND == "local":
        return os.stat(os.path.join(STORAGE, name)).st_mtime
    with open(object_paths(name)[1], encoding="utf-8") as f:
        return json.load(f)["mtime"]


def set_age(name, seconds):
    """Make stored file NAME look stored SECONDS ago: its mtime (local), or
    the time the S3 server recorded for the object (what ListObjectsV2
    answers as LastModified)."""
    when = time.time() - seconds
    if BACKEND == "local":
        os.utime(os.path.join(STORAGE, name), (when, when))
        return
    meta_path = object_paths(name)[1]
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    meta["mtime"] = when
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f)


def plant(data, age):
    """A stored file that no document names, AGE seconds old; its name."""
    name = secrets.token_hex(16)
    if BACKEND == "local":
        with open(os.path.join(STORAGE, name), "wb") as f:
            f.write(data)
    else:
        put_object(name, data)
    set_age(name, age)
    return name


def lose_file(name):
    """Stored file NAME disappears behind the API's back."""
    if BACKEND == "local":
        os.unlink(os.path.join(STORAGE, name))
    else:
        remove_object(name)


def job_count(name):
    return json.loads(worker("jobs", "stats").stdout).get(name, 0)


def run_reconcile():
    """Enqueue documents.reconcile and wait until it ran; the worker's log
    lines (parsed) written meanwhile."""
    log = os.path.join(os.environ["HD_STATE"], "log", "worker.log")
    offset = os.path.getsize(log)
    done, failed = job_count("processed:documents.reconcile"), job_count("failed:documents.reconcile")
    assert worker("jobs", "enqueue", "documents.reconcile").stdout.strip() == "queued"
    deadline = time.time() + 30
    while job_count("processed:documents.reconcile") == done:
        assert job_count("failed:documents.reconcile") == failed, "documents.reconcile failed"
        assert time.time() < deadline, "documents.reconcile did not run"
        time.sleep(0.1)
    with open(log, encoding="utf-8") as f:
        f.seek(offset)
        return [json.loads(line) for line in f.read().splitlines() if line.startswith("{")]


def metrics():
    r = request("GET", "/metrics")
    assert r.status == 200, r.text
    out = {}
    for line in r.text.splitlines():
        if line.startswith("honeydue_documents_"):
            name, value = line.split()
            out[name] = float(value)
    assert "# TYPE honeydue_documents_missing gauge" in r.text
    assert "# TYPE honeydue_documents_orphans_removed_total counter" in r.text
    assert "# TYPE honeydue_documents_reconciled_timestamp_seconds gauge" in r.text
    return out


def rows_with_files():
    """{stored name: document id} of every row with a file uploaded by now."""
    out = psql("SELECT stored_name, id FROM document_document WHERE stored_name IS NOT NULL "
               "AND uploaded_at < now()")
    return {n: int(i) for n, i in (line.split("|") for line in out.splitlines() if line)}


def test_reconcile_removes_old_orphans_keeps_young_ones_and_reports_missing_files():
    _, tok, _ = register_user("drec")
    rid = make_residence(tok)["id"]
    docs = {}
    for role, data, ctype in (("kept", PDF, "application/pdf"), ("lost", PNG, "image/png"),
                              ("late", JPEG, "image/jpeg")):
        d = make_document(tok, rid, title=role)
        uploaded(tok, d["id"], data, ctype)
        docs[role] = (d["id"], stored_name(d["id"]))
    wait_swept()
    kept, lost, late = docs["kept"][1], docs["lost"][1], docs["late"][1]
    set_age(kept, GRACE + 3600)  # old, but a row names it: it stays
    lose_file(lost)
    lose_file(late)
    # An upload that commits while the run lists the storage: its file may
    # not be in the listing, so its row is not checked.
    psql(f"UPDATE document_document SET uploaded_at = now() + interval '1 hour' WHERE id = {docs['late'][0]}")
    old = plant(b"an orphan from long ago", GRACE + 600)
    young = plant(b"an upload whose row is about to commit", 0)
    try:
        # What the job should find, worked out here from both sides.
        before = {n for n in stored() if re.fullmatch(r"[0-9a-f]{32}", n)}
        rows = rows_with_files()
        pending = set(psql("SELECT stored_name FROM document_filedeletion").split())
        orphans = {n for n in before - set(rows) - pending if mtime(n) < time.time() - GRACE}
        missing = sorted(set(rows) - before)
        assert old in orphans and young not in orphans and kept not in orphans
        assert lost in missing and late not in missing and kept not in missing
        m0 = metrics()
        started = time.time()

        lines = run_reconcile()

        after = stored()
        assert old not in after
        assert {n for n in after if not n.startswith("tmp/")} == before - orphans
        assert young in after and kept in after and set(rows) - set(missing) <= after
        assert request("GET", f"/api/documents/{docs['kept'][0]}/file/", token=tok).body == PDF
        # One line per missing file (the first 100 by name), then the totals.
        named = [(x["document_id"], x["stored_name"]) for x in lines
                 if x.get("event") == "documents" and x.get("stored_name")]
        assert named == [(rows[n], n) for n in missing[:100]], named
        summary = [x for x in lines if x.get("msg") == "reconciled the storage with the documents"]
        assert len(summary) == 1, lines
        assert summary[0]["missing"] == len(missing) and summary[0]["orphans_removed"] == len(orphans)
        assert summary[0]["files"] == len(before) and summary[0]["backend"] == BACKEND
        assert summary[0]["level"] == "warn"  # something is missing
        if len(missing) > 100:
            assert summary[0]["missing_logged"] == 100
        removed_lines = [x for x in lines if x.get("msg", "").startswith(f"removed {old}:")]
        assert len(removed_lines) == 1, lines
        m1 = metrics()
        assert m1["honeydue_documents_missing"] == len(missing)
        assert m1["honeydue_documents_orphans_removed_total"] == \
            m0["honeydue_documents_orphans_removed_total"] + len(orphans)
        assert started - 1 <= m1["honeydue_documents_reconciled_timestamp_seconds"] <= time.time() + 1

        # Found again next time, until someone acts; nothing more is removed.
        lines = run_reconcile()
        summary = [x for x in lines if x.get("msg") == "reconciled the storage with the documents"]
        assert summary[0]["missing"] == len(missing) and summary[0]["orphans_removed"] == 0
        assert young in stored()
        assert metrics()["honeydue_documents_orphans_removed_total"] == \
            m1["honeydue_documents_orphans_removed_total"]
    finally:
        for d in docs.values():
            request("DELETE", f"/api/documents/{d[0]}/", token=tok)
        if BACKEND == "local":
            for name in (old, young):
                if os.path.exists(os.path.join(STORAGE, name)):
                    os.unlink(os.path.join(STORAGE, name))
        else:
            for name in (old, young):
                remove_object(name)
    wait_swept()


def test_reconcile_pages_through_the_storage_without_gaps_or_double_counts():
    # More files than one page of the listing (1000): the rows of each
    # page's range of names are checked once, those between two pages and
    # past the last one included.
    _, tok, _ = register_user("drecp")
    rid = make_residence(tok)["id"]
    planted = [plant(b"o", 0) for _ in range(1005)]
    old = set(planted[::2])
    for name in old:
        set_age(name, GRACE + 600)
    docs = []
    try:
        listed = sorted(n for n in stored() if re.fullmatch(r"[0-9a-f]{32}", n))
        assert len(listed) > 1000
        young = set(listed) - old
        # Rows whose file is missing, named to sit where a page's range
        # begins and ends: before the first file, right after the first
        # page's last one, right before it, after the very last file.
        hexname = lambda v: format(v, "032x")  # noqa: E731
        edge = int(listed[999], 16)
        wanted = {hexname(0), hexname(edge + 1), hexname(edge - 1), "f" * 32} - set(listed)
        for name in wanted:
            d = make_document(tok, rid)
            uploaded(tok, d["id"], PDF)
            psql(f"UPDATE document_document SET stored_name = '{name}' WHERE id = {d['id']}")
            docs.append(d["id"])
        worker("jobs", "enqueue", "documents.sweep")  # the files the rows named before
        wait_swept()
        rows = rows_with_files()
        pending = set(psql("SELECT stored_name FROM document_filedeletion").split())
        orphans = {n for n in set(listed) - set(rows) - pending if mtime(n) < time.time() - GRACE}
        missing = sorted(set(rows) - set(listed))
        assert old <= orphans and wanted <= set(missing)
        m0 = metrics()

        lines = run_reconcile()

        summary = [x for x in lines if x.get("msg") == "reconciled the storage with the documents"]
        assert len(summary) == 1, lines
        assert summary[0]["files"] == len(listed)
        assert summary[0]["missing"] == len(missing) and summary[0]["orphans_removed"] == len(orphans)
        named = [(x["document_id"], x["stored_name"]) for x in lines
                 if x.get("event") == "documents" and x.get("stored_name")]
        assert named == [(rows[n], n) for n in missing[:100]]
        removed = [x for x in lines if x.get("msg", "").startswith("removed ")]
        assert len(removed) == min(len(orphans), 100)  # then only counted
        left = stored()
        assert not orphans & left and young - orphans <= left
        m1 = metrics()
        assert m1["honeydue_documents_missing"] == len(missing)
        assert m1["honeydue_documents_orphans_removed_total"] == \
            m0["honeydue_documents_orphans_removed_total"] + len(orphans)
    finally:
        for d_id in docs:
            request("DELETE", f"/api/documents/{d_id}/", token=tok)
        for name in planted:
            if BACKEND == "local":
                if os.path.exists(os.path.join(STORAGE, name)):
                    os.unlink(os.path.join(STORAGE, name))
            else:
                remove_object(name)
    wait_swept()


def copy_local(src, **env):
    """honeydue-worker storage copy-local SRC against the stack's bucket:
    (exit status, output lines)."""
    p = worker("storage", "copy-local", src, env=dict({"STORAGE_BACKEND": "s3"}, **env), check=False)
    assert "Sanitizer" not in p.stderr, p.stderr
    return p.returncode, p.stdout.splitlines()


def test_storage_copy_local_puts_a_directory_s_stored_files_in_the_bucket_once():
    _, tok, _ = register_user("dcopy")
    rid = make_residence(tok)["id"]
    files = []
    for data, ctype in ((PDF + os.urandom(300000), "application/pdf"), (PNG, "image/png")):
        d = make_document(tok, rid)
        uploaded(tok, d["id"], data, ctype)
        files.append((stored_name(d["id"]), data, ctype))
    (a, a_data, a_type), (b, b_data, b_type) = files
    orphan = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(dir=os.environ["HD_STATE"]) as src:
        for name, data in ((a, a_data), (b, b_data), (".upload-0123456789abcdef", b"half an upload"),
                           ("notes.txt", b"not a stored file"), (orphan, b"no document names me")):
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        subdir = secrets.token_hex(16)
        os.mkdir(os.path.join(src, subdir))
        # As if the files had been stored locally: the bucket does not have them.
        for name, _, _ in files:
            remove_object(name)
        try:
            rc, out = copy_local(src)
            assert rc == 0, out
            assert out[-1] == "copied 2, already there 0, skipped 4, failed 0", out
            assert sorted(out[:-1]) == sorted([
                f"copied {a} ({len(a_data)} bytes)", f"copied {b} ({len(b_data)} bytes)",
                "skipped .upload-0123456789abcdef: a temporary upload",
                "skipped notes.txt: not a stored file's name",
                f"skipped {orphan}: no document names it",
                f"skipped {subdir}: not a regular file"]), out
            for name, data, ctype in files:
                with open(object_paths(name)[0], "rb") as f:
                    assert f.read() == data
                with open(object_paths(name)[1], encoding="utf-8") as f:
                    assert json.load(f)["headers"]["content-type"] == ctype
            assert not os.path.exists(object_paths(orphan)[1])

            # Again: nothing to copy.
            rc, out = copy_local(src)
            assert rc == 0 and out[-1] == "copied 0, already there 2, skipped 4, failed 0", out
            assert f"already there {a} ({len(a_data)} bytes)" in out

            # Interrupted part way: one object never arrived, another arrived
            # cut short (a different size): both are put again.
            remove_object(a)
            put_object(b, b_data[:100])
            rc, out = copy_local(src)
            assert rc == 0 and out[-1] == "copied 2, already there 0, skipped 4, failed 0", out
            for name, data, _ in files:
                with open(object_paths(name)[0], "rb") as f:
                    assert f.read() == data
            for name, data, ctype in files:
                d_id = int(psql(f"SELECT id FROM document_document WHERE stored_name = '{name}'"))
                if BACKEND == "s3":  # the API serves the copies
                    r = request("GET", f"/api/documents/{d_id}/file/", token=tok)
                    assert r.status == 200 and r.body == data

            # A bucket that refuses: every file fails, and the exit status says so.
            remove_object(a)
            rc, out = copy_local(src, S3_SECRET_ACCESS_KEY="x" * 40)
            assert rc == 1 and out[-1] == "copied 0, already there 0, skipped 4, failed 2", out
            assert f"failed {a}: the bucket refused it" in out

            # Not the s3 settings, or not a directory: a usage error, nothing done.
            p = worker("storage", "copy-local", src, env={"STORAGE_BACKEND": "local"}, check=False)
            assert p.returncode == 2 and "STORAGE_BACKEND=s3" in p.stderr
            rc, out = copy_local(os.path.join(src, "no-such-dir"))
            assert rc == 2 and out == []
            assert worker("storage", "copy", env={"STORAGE_BACKEND": "s3"}, check=False).returncode == 2
        finally:
            if BACKEND == "local":  # the bucket is not this pass's storage: leave it as it was
                for name, _, _ in files:
                    remove_object(name)
            else:
                rc, out = copy_local(src)  # the API's objects back
                assert rc == 0, out
