"""Compressed JSON through nginx: gzip and br for clients that ask, identity
for the rest, an ETag and a 304 per representation, cached lists compressed
once (the bytes stored in Redis are the bytes sent), small bodies and
documents' files as they are."""
import hashlib
import re

from lib import redis_cli, register_user, request
from test_documents import TEXT, make_document, uploaded
from test_residences import make_residence
from test_tasks import make_task

BIG = 30  # tasks: a list of ~13 KB, well over the 1 KB threshold


def user_with_tasks(prefix, n=BIG):
    user, tok, _ = register_user(prefix)
    rid = make_residence(tok)["id"]
    for i in range(n):
        make_task(tok, rid, title=f"Replace the HVAC filter {i}", description="16x25x1, MERV 11",
                  due_date="2026-12-01", priority="medium")
    return user, tok


def get(tok, encoding=None, path="/api/tasks/", **headers):
    if encoding is not None:
        headers["Accept-Encoding"] = encoding
    return request("GET", path, token=tok, headers=headers)


def digest_of(etag):
    m = re.fullmatch(r'(?:W/)?"([0-9a-f]{16})(?:-gz|-br)?"', etag or "")
    assert m, etag
    return m.group(1)


def stored(uid):
    """The list entry tasks:user:<uid>: its field names, and each field's
    SHA-1 (binary fields do not survive redis-cli's output)."""
    key = f"tasks:user:{uid}"
    fields = set(redis_cli("HKEYS", key))
    sha = {f: redis_cli("EVAL", "return redis.sha1hex(redis.call('HGET', KEYS[1], ARGV[1]))",
                        1, key, f)[0] for f in fields}
    return fields, sha


def sha1(b):
    return hashlib.sha1(b).hexdigest()


def test_gzip_and_br_decode_to_exactly_the_identity_body():
    _, tok = user_with_tasks("z1")
    plain = get(tok)
    assert plain.status == 200 and plain.headers["content-encoding"] is None
    assert plain.headers["vary"] == "Accept-Encoding" and len(plain.body) > 8000
    assert plain.json["count"] == BIG
    for coding, suffix in (("gzip", "-gz"), ("br", "-br")):
        r = get(tok, coding)
        assert r.status == 200 and r.headers["content-encoding"] == coding, r.headers
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.body == plain.body  # decoded (lib.decode): byte for byte
        assert len(r.wire) < len(plain.body) / 5
        assert r.headers["content-length"] == str(len(r.wire))
        assert r.headers["etag"] == plain.headers["etag"][:-1] + suffix + '"'
    # Both, as browsers and OkHttp send: the smaller one, br, from the cache.
    assert get(tok, "gzip, deflate, br").headers["content-encoding"] == "br"


def test_clients_without_accept_encoding_get_identity():
    _, tok = user_with_tasks("z2")
    for enc in (None, "", "identity", "deflate, zstd", "gzip;q=0, br;q=0"):
        r = get(tok, enc)
        assert r.status == 200 and r.headers["content-encoding"] is None, (enc, r.headers)
        assert r.wire == r.body and r.json["count"] == BIG


def test_q_values_refusals_and_star():
    _, tok = user_with_tasks("z3")
    cases = {"gzip;q=0, br": "br", "br;q=0, gzip": "gzip", "br;q=0.5, gzip;q=0.8": "gzip",
             "gzip;q=0.5": "gzip", "*": "br", "*;q=0.5, br;q=0": "gzip", "X-GZIP": "gzip",
             "gzip;q=0.5, identity": None, "*;q=0": None, "gzip;q=2": None}
    for header, want in cases.items():
        r = get(tok, header)
        assert r.status == 200 and r.headers["content-encoding"] == want, (header, r.headers)
        assert r.json["count"] == BIG


def test_a_304_for_each_representation():
    _, tok = user_with_tasks("z4")
    tags = {}
    for enc in (None, "gzip", "br"):
        tags[enc] = get(tok, enc).headers["etag"]
    assert len(set(tags.values())) == 3 and len({digest_of(t) for t in tags.values()}) == 1
    for enc, tag in tags.items():
        r = get(tok, enc, **{"If-None-Match": tag})
        assert r.status == 304 and r.wire == b"", (enc, r)
        assert r.headers["etag"] == tag and r.headers["vary"] == "Accept-Encoding"
        assert r.headers["content-encoding"] is None
    # A client sends back what it got, whatever it asks for now; a proxy may
    # have weakened the tag; a list of tags; "*".
    for enc, inm in ((None, tags["gzip"]), ("gzip", tags[None]), ("br", "W/" + tags["br"]),
                     ("gzip", f'"0000000000000000", {tags["gzip"]}'), ("gzip", "*")):
        r = get(tok, enc, **{"If-None-Match": inm})
        assert r.status == 304, (enc, inm, r)
    # Tags of another body do not match.
    r = get(tok, "gzip", **{"If-None-Match": '"0000000000000000-gz", "0000000000000000"'})
    assert r.status == 200 and r.headers["content-encoding"] == "gzip"


def test_head_answers_the_representation_without_its_body():
    _, tok = user_with_tasks("z5")
    g = get(tok, "gzip")
    h = request("HEAD", "/api/tasks/", token=tok, headers={"Accept-Encoding": "gzip"})
    assert h.status == 200 and h.wire == b"" and h.headers["content-encoding"] == "gzip"
    assert h.headers["content-length"] == str(len(g.wire)) and h.headers["etag"] == g.headers["etag"]


def test_a_cache_hit_sends_the_stored_compressed_bytes():
    user, tok = user_with_tasks("z6")
    miss = get(tok, "gzip")
    assert miss.headers["x-cache"] == "miss"
    fields, sha = stored(user["id"])
    # Every representation, compressed once when the cache was filled.
    assert {"body", "gz", "br", "etag", "filled", "gen"} <= fields, fields
    assert redis_cli("HGET", f"tasks:user:{user['id']}", "etag") == [digest_of(miss.headers["etag"])]
    hits = [get(tok, "gzip") for _ in range(2)]
    for h in hits:
        assert h.headers["x-cache"] == "hit" and h.headers["content-encoding"] == "gzip"
        assert h.wire == miss.wire and sha1(h.wire) == sha["gz"]
    br = get(tok, "br")
    assert br.headers["x-cache"] == "hit" and sha1(br.wire) == sha["br"]
    plain = get(tok)
    assert plain.headers["x-cache"] == "hit" and sha1(plain.wire) == sha["body"]
    assert br.body == plain.body == miss.body


def test_a_write_drops_every_representation():
    user, tok = user_with_tasks("z7")
    before = get(tok, "br")
    assert get(tok, "br").headers["x-cache"] == "hit"
    make_task(tok, make_residence(tok)["id"], title="one more")
    fields, _ = stored(user["id"])
    assert fields == {"gen"}, fields  # body, gz, br, etag and filled all gone
    for enc in ("br", "gzip", None):
        r = get(tok, enc, **{"If-None-Match": before.headers["etag"]})
        assert r.status == 200 and r.json["count"] == BIG + 1, (enc, r)
        assert digest_of(r.headers["etag"]) != digest_of(before.headers["etag"])


def test_a_representation_of_an_older_fill_is_never_served():
    # An entry whose "filled" is not its generation (say a release that
    # dropped only the body on a write) is a miss, whatever it still holds.
    user, tok = user_with_tasks("z8", n=BIG)
    get(tok, "gzip")
    redis_cli("HINCRBY", f"tasks:user:{user['id']}", "gen", 1)
    r = get(tok, "gzip")
    assert r.headers["x-cache"] == "miss" and r.json["count"] == BIG
    assert get(tok, "gzip").headers["x-cache"] == "hit"


def test_uncached_json_is_compressed_on_the_fly():
    _, tok = user_with_tasks("z9")
    plain = get(tok, **{"Cache-Control": "no-cache"})
    for enc in ("gzip", "br"):
        r = get(tok, enc, **{"Cache-Control": "no-cache"})
        assert r.headers["x-cache"] == "bypass" and r.headers["content-encoding"] == enc
        assert r.body == plain.body
        assert r.headers["etag"] == plain.headers["etag"][:-1] + "-" + enc[:2] + '"'
    # A filtered list (never cached), and the lookups (an ETag of their own).
    r = get(tok, "gzip", path="/api/tasks/?priority=medium")
    assert r.headers["content-encoding"] == "gzip" and r.json["count"] == BIG
    s = request("GET", "/api/static-data/", headers={"Accept-Encoding": "gzip"})
    plain = request("GET", "/api/static-data/")
    assert len(plain.body) > 1024 and s.headers["content-encoding"] == "gzip"
    assert s.body == plain.body and s.headers["etag"] == plain.headers["etag"][:-1] + '-gz"'
    assert request("GET", "/api/static-data/", headers={
        "Accept-Encoding": "gzip", "If-None-Match": s.headers["etag"]}).status == 304


def test_small_bodies_and_errors_stay_identity():
    user, tok, _ = register_user("z10")
    small = [get(tok, "gzip, br"),  # an empty list
             request("GET", "/api/tasks/999999999/", token=tok, headers={"Accept-Encoding": "gzip"}),
             request("POST", "/api/tasks/", {"title": ""}, token=tok,
                     headers={"Accept-Encoding": "gzip"}),
             request("GET", "/api/tasks/", headers={"Accept-Encoding": "gzip"})]
    assert [r.status for r in small] == [200, 404, 422, 401]
    for r in small:
        assert len(r.body) < 1024 and r.headers["content-encoding"] is None, r
        assert r.headers["vary"] == "Accept-Encoding"
    # ... unless the client refuses identity.
    r = get(tok, "gzip, identity;q=0")
    assert r.headers["content-encoding"] == "gzip" and r.json == {"count": 0, "results": []}


def test_documents_files_are_never_compressed():
    # nginx sends the file (X-Accel-Redirect); neither it nor the app
    # compresses it, and the app's JSON is not compressed twice on the way.
    _, tok, _ = register_user("z11")
    d = make_document(tok, make_residence(tok)["id"])
    uploaded(tok, d["id"], TEXT, "text/plain")
    r = request("GET", f"/api/documents/{d['id']}/file/", token=tok,
                headers={"Accept-Encoding": "gzip, br"})
    assert r.status == 200 and r.headers["content-encoding"] is None and r.wire == TEXT
    assert len(TEXT) > 1024
    page = request("GET", "/admin/", headers={"Accept-Encoding": "gzip"})  # nginx's own
    assert page.status == 200 and page.headers["content-encoding"] is None
    assert len(page.wire) > 1024


def test_a_fill_at_maxmemory_is_refused_and_a_write_still_invalidates():
    # noeviction at its limit: three representations are not squeezed in
    # (the fill's first write is refused), and a write's invalidation still
    # drops them all (its first write is a deletion).
    user, tok = user_with_tasks("z12")
    key = f"tasks:user:{user['id']}"
    get(tok, "gzip")
    assert {"body", "gz", "br"} <= set(redis_cli("HKEYS", key))
    try:
        redis_cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis_cli("CONFIG", "SET", "maxmemory", "1")
        make_task(tok, make_residence(tok)["id"], title="at the limit")
        assert set(redis_cli("HKEYS", key)) == {"gen"}
        for _ in range(2):
            r = get(tok, "gzip")
            assert r.headers["x-cache"] == "miss" and r.json["count"] == BIG + 1
        assert set(redis_cli("HKEYS", key)) == {"gen"}
    finally:
        redis_cli("CONFIG", "SET", "maxmemory", "64mb")
        redis_cli("CONFIG", "SET", "maxmemory-policy", "volatile-lru")
    get(tok, "gzip")
    assert get(tok, "gzip").headers["x-cache"] == "hit"
