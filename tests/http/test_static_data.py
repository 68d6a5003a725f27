"""GET /api/static-data/: every lookup in one long-cached response."""
from lib import request


def test_lookups_are_complete_and_cacheable():
    r = request("GET", "/api/static-data/")
    assert r.status == 200
    j = r.json
    assert set(j) == {"categories", "priorities", "frequencies", "residence_types",
                      "document_types", "contractor_specialties"}
    assert [p["id"] for p in j["priorities"]] == ["low", "medium", "high", "urgent"]
    assert [f["id"] for f in j["frequencies"]] == ["once", "daily", "weekly", "biweekly", "monthly",
                                                  "quarterly", "semiannually", "annually", "custom"]
    assert [t["id"] for t in j["residence_types"]] == ["house", "apartment", "condo", "townhouse",
                                                      "cabin", "other"]
    assert {d["id"] for d in j["document_types"]} == {"warranty", "manual", "receipt", "insurance", "other"}
    assert all(c["id"] and c["name"] for c in j["categories"] + j["contractor_specialties"])
    assert r.headers["cache-control"] == "public, max-age=86400"
    etag = r.headers["etag"]
    assert etag.startswith('"') and len(etag) == 18
    again = request("GET", "/api/static-data/", headers={"If-None-Match": etag})
    assert again.status == 304 and again.text == ""
    assert request("GET", "/api/static-data/", headers={"If-None-Match": '"x"'}).status == 200


def test_every_value_a_task_accepts_is_listed():
    j = request("GET", "/api/static-data/").json
    from lib import register_user
    from test_residences import make_residence
    from test_tasks import make_task
    _, tok, _ = register_user("sd")
    rid = make_residence(tok)["id"]
    for p in j["priorities"]:
        assert make_task(tok, rid, priority=p["id"])["priority"] == p["id"]
    for f in j["frequencies"]:
        extra = {"custom_interval_days": 5} if f["id"] == "custom" else {}
        assert make_task(tok, rid, frequency=f["id"], **extra)["frequency"] == f["id"]


def test_api_responses_are_not_cached_by_default():
    assert request("GET", "/api/health/").headers["cache-control"] == "no-store"
