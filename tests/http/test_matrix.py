"""The cross-user matrix, driven by openapi.yaml so that a new endpoint
cannot be left out: for every operation that needs a token, no token is a
401; for every operation on one object (a path with {id}), a user who is
not a member of its residence gets the 404 of an unknown object (403 for a
non-staff user on the admin API), and the object is left as it was."""
import os

import yaml

from lib import REPO, psql, register_user, request
from test_contractors import make_contractor
from test_documents import PDF, make_document, uploaded
from test_residences import make_residence
from test_tasks import make_task

SPEC = yaml.safe_load(open(os.path.join(REPO, "openapi.yaml")))
METHODS = ("get", "post", "put", "patch", "delete")

# A body that passes validation, so that only the lookup can refuse.
BODIES = {
    ("PATCH", "/api/residences/{id}/"): {"name": "Taken over"},
    ("PATCH", "/api/tasks/{id}/"): {"title": "Taken over"},
    ("PATCH", "/api/contractors/{id}/"): {"name": "Taken over"},
    ("PATCH", "/api/documents/{id}/"): {"title": "Taken over"},
    ("PATCH", "/api/admin/users/{id}/"): {"is_active": False},
}


def operations():
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def owner_world():
    """A user with one of everything; returns (token, ids by placeholder)."""
    owner, tok, _ = register_user("mx")
    rid = make_residence(tok, name="Mine")["id"]
    task = make_task(tok, rid, title="Mine", frequency="weekly", due_date="2027-01-01")
    completion = request("POST", f"/api/tasks/{task['id']}/complete/", token=tok).json["completion"]
    contractor = make_contractor(tok, rid, name="Mine")
    doc = make_document(tok, rid, title="Mine")
    uploaded(tok, doc["id"], PDF)
    nid = psql(f"INSERT INTO notification_notification (user_id, kind, title) "
               f"VALUES ({owner['id']}, 'system', 'Mine') RETURNING id").split("\n")[0]
    ids = {
        "/api/residences/": rid, "/api/tasks/": task["id"], "/api/contractors/": contractor["id"],
        "/api/documents/": doc["id"], "/api/notifications/": int(nid),
        "/api/admin/users/": owner["id"], "/api/admin/residences/": rid,
    }
    return tok, owner, ids, completion["id"]


def concrete(path, ids, uid, cid):
    prefix = next((p for p in ids if path.startswith(p + "{id}")), None)
    assert prefix is not None or "{id}" not in path, f"test_matrix has no object for {path}"
    out = path.replace("{id}", str(ids[prefix])) if prefix else path
    return out.replace("{uid}", str(uid)).replace("{cid}", str(cid))


def call(method, template, url, token):
    if method == "PUT":
        return request(method, url, raw=PDF, token=token, headers={"Content-Type": "application/pdf"})
    return request(method, url, BODIES.get((method, template)), token=token)


def test_every_operation_that_needs_a_token_is_401_without_one():
    tok, owner, ids, cid = owner_world()
    checked = 0
    for method, path, op in operations():
        if not op.get("security"):
            continue
        url = concrete(path, ids, owner["id"], cid)
        r = call(method, path, url, None)
        assert r.status == 401, (method, path, r.status, r.text)
        assert r.json["error"]["code"] == "not_authenticated", (method, path, r.text)
        checked += 1
    assert checked >= 50
    # Nothing was touched: the owner still sees everything.
    assert request("GET", f"/api/tasks/{ids['/api/tasks/']}/", token=tok).json["title"] == "Mine"


def test_every_object_endpoint_is_404_for_a_stranger_and_changes_nothing():
    tok, owner, ids, cid = owner_world()
    _, stranger, _ = register_user("mxs")
    templated = [(m, p) for m, p, _ in operations() if "{id}" in p]
    for method, path in templated:
        url = concrete(path, ids, owner["id"], cid)
        r = call(method, path, url, stranger)
        want = 403 if path.startswith("/api/admin/") else 404
        assert r.status == want, (method, path, r.status, r.text)
    assert len(templated) >= 30
    # Every object is still there, unchanged, for its owner.
    for prefix, title_key, want in [("/api/residences/", "name", "Mine"), ("/api/tasks/", "title", "Mine"),
                                    ("/api/contractors/", "name", "Mine"), ("/api/documents/", "title", "Mine")]:
        r = request("GET", f"{prefix}{ids[prefix]}/", token=tok)
        assert r.status == 200 and r.json[title_key] == want, (prefix, r.text)
    assert request("GET", f"/api/tasks/{ids['/api/tasks/']}/completions/", token=tok).json["count"] == 1
    feed = request("GET", "/api/notifications/", token=tok).json
    assert feed["count"] == 1 and feed["results"][0]["read_at"] is None
    assert request("GET", f"/api/documents/{ids['/api/documents/']}/file/", token=tok).status == 200
    assert request("GET", "/api/auth/me/", token=tok).status == 200  # not deactivated
