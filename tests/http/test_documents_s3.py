"""Documents in the s3 backend when the bucket misbehaves: wrong
credentials, a bucket that does not exist, the service stopped, the service
stalling past S3_TIMEOUT_SECONDS, an object gone missing. Each answer is a
JSON 502 or 503 within the timeout (never a hung worker, never a 500), and
the document's row and its previous file stay as they were; what could not
be removed then is removed by honeydue-worker once the bucket is back.

Runs only with the stack on STORAGE_BACKEND=s3 (tests/run.sh's second
documents pass, with S3_TIMEOUT_SECONDS=3); the happy paths are
test_documents.py's, which runs against both backends."""
import json
import os
import subprocess
import time

from lib import assert_error, psql, register_user, request, stack
from test_documents import (PDF, PNG, make_document, object_paths, stored, stored_bytes, stored_name,
                            upload, uploaded, wait_swept)
from test_process import Pool
from test_residences import make_residence

REQUIRES_ENV = {"STORAGE_BACKEND": "s3"}
TIMEOUT = int(os.environ.get("S3_TIMEOUT_SECONDS", "30"))
STALL = os.path.join(os.environ["HD_S3_DIR"], ".stall")


def document_with_file():
    _, tok, _ = register_user("ds3")
    d = make_document(tok, make_residence(tok)["id"])
    doc = uploaded(tok, d["id"], PDF, headers={"X-Filename": "v1.pdf"})
    return tok, doc


def unchanged(tok, doc):
    """The row is as it was and its file downloads whole."""
    assert request("GET", f"/api/documents/{doc['id']}/", token=tok).json == doc
    r = request("GET", f"/api/documents/{doc['id']}/file/", token=tok)
    assert r.status == 200 and r.body == PDF, r.status


def fcgi_upload(sock, tok, doc_id, data, ctype="image/png"):
    """PUT a file straight to a private pool's socket (no nginx): (status, JSON)."""
    env = {"REQUEST_METHOD": "PUT", "DOCUMENT_URI": f"/api/documents/{doc_id}/file/", "QUERY_STRING": "",
           "CONTENT_TYPE": ctype, "CONTENT_LENGTH": str(len(data)), "REQUEST_ID": "s3test",
           "HTTP_AUTHORIZATION": f"Token {tok}", "PATH": os.environ["PATH"]}
    p = subprocess.run(["cgi-fcgi", "-bind", "-connect", sock], input=data, env=env,
                       capture_output=True, timeout=60)
    head, _, body = p.stdout.replace(b"\r\n", b"\n").partition(b"\n\n")
    status = int(head.split()[1]) if head.startswith(b"Status:") else 0
    return status, json.loads(body) if body.strip() else None


def test_wrong_credentials_and_a_missing_bucket_are_502_and_store_nothing():
    tok, doc = document_with_file()
    before = wait_swept()
    for setting, value in (("S3_SECRET_ACCESS_KEY", "x" * 40), ("S3_ACCESS_KEY_ID", "AKIDNOTKNOWNHERE0000"),
                           ("S3_BUCKET", "no-such-bucket"), ("S3_REGION", "eu-elsewhere-9")):
        pool = Pool(workers=1, STORAGE_BACKEND="s3", **{setting: value})
        try:
            status, body = fcgi_upload(pool.sock, tok, doc["id"], PNG)
            assert status == 502, (setting, status, body)
            assert body["error"] == {"code": "storage_refused",
                                     "message": "the file storage refused the request"}, body
            assert "refused" in pool.text() and "x" * 40 not in pool.text()  # no secret in the log
        finally:
            assert pool.stop() == 0
    assert stored() == before
    unchanged(tok, doc)


def test_a_stopped_bucket_service_is_503_and_removals_wait_for_it():
    tok, doc = document_with_file()
    _, tok2, _ = register_user("ds3del")
    gone = make_document(tok2, make_residence(tok2)["id"])
    uploaded(tok2, gone["id"], PDF)
    gone_name = stored_name(gone["id"])
    wait_swept()
    stack("s3-stop")
    try:
        r = upload(tok, doc["id"], PNG, "image/png")
        assert_error(r, 503, "storage_unavailable")
        r = request("GET", f"/api/documents/{doc['id']}/file/", token=tok)
        assert_error(r, 503, "storage_unavailable")
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-request-id"]
        # Deleting works; the object's removal waits in document_filedeletion.
        assert request("DELETE", f"/api/documents/{gone['id']}/", token=tok2).status == 204
        time.sleep(1)  # the sweep job has run and failed at least once
        assert psql(f"SELECT count(*) FROM document_filedeletion WHERE stored_name = '{gone_name}'") == "1"
    finally:
        stack("s3-start")
    assert gone_name not in wait_swept(timeout=30)  # retried with back-off until the bucket is back
    unchanged(tok, doc)


def test_a_stalling_bucket_times_out_to_503_and_its_late_object_is_removed():
    tok, doc = document_with_file()
    before = wait_swept()
    with open(STALL, "w") as f:
        f.write(str(TIMEOUT + 3))
    try:
        t0 = time.monotonic()
        r = upload(tok, doc["id"], PNG, "image/png")
        took = time.monotonic() - t0
        assert_error(r, 503, "storage_unavailable")
        assert took < TIMEOUT + 10, took  # bounded by the timeout, not by the stall
        orphan = psql("SELECT string_agg(stored_name, ' ') FROM document_filedeletion")
        r = request("GET", f"/api/documents/{doc['id']}/file/", token=tok)
        assert_error(r, 503, "storage_unavailable")
        # The pool still answers while the bucket hangs.
        assert request("GET", "/api/health/").status == 200
    finally:
        os.unlink(STALL)
    # The stalled put may land after the client gave up (S3 behaves so):
    # the name recorded for it is swept once the bucket answers again.
    assert orphan, "the timed-out upload's name was not recorded for removal"
    left = wait_swept(timeout=60)
    assert orphan not in left and left == before, (orphan, left - before)
    unchanged(tok, doc)


def test_a_missing_object_is_a_json_502_not_the_bucket_s_xml():
    tok, doc = document_with_file()
    name = stored_name(doc["id"])
    for path in object_paths(name):
        os.unlink(path)
    r = request("GET", f"/api/documents/{doc['id']}/file/", token=tok)
    err = assert_error(r, 502, "storage_refused")
    assert err["message"] == "the file storage refused the request"
    assert b"<Error>" not in r.body and name not in r.text
    # Replacing it works and the download is whole again.
    uploaded(tok, doc["id"], PNG, "image/png")
    new = stored_name(doc["id"])
    assert stored_bytes(new) == PNG
    assert request("GET", f"/api/documents/{doc['id']}/file/", token=tok).body == PNG


def test_a_download_is_streamed_by_nginx_with_ranges_from_a_short_lived_url():
    tok, doc = document_with_file()
    r = request("GET", f"/api/documents/{doc['id']}/file/", token=tok, headers={"Range": "bytes=5-14"})
    assert r.status == 206 and r.body == PDF[5:15]
    assert r.headers["content-range"] == f"bytes 5-14/{len(PDF)}"
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith('attachment; filename="v1.pdf"')
    assert r.headers["cache-control"] == "private, no-store"
    for h in ("x-amz-request-id", "x-amz-id-2", "x-accel-redirect", "location"):
        assert r.headers[h] is None, h
    assert "X-Amz-Signature" not in str(r.headers)
    # HEAD is answered from the same GET-signed URL.
    r = request("HEAD", f"/api/documents/{doc['id']}/file/", token=tok)
    assert r.status == 200 and r.headers["content-length"] == str(len(PDF))
