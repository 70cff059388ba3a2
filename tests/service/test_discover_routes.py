"""Discovery routes in-process on a 4-d vector gallery: keep unknowns, propose, accept / merge / reject, purge."""

from __future__ import annotations

import pytest
from service_helpers import READ, WRITE


@pytest.fixture
def client(vector_gallery, make_client):
    c = make_client(vector_gallery)
    r = c.post("/v1/enroll", json={"identity": "alice", "vectors": [[1, 0, 0, 0]]}, headers=WRITE)
    assert r.status_code == 200
    return c


def _identify(client, vectors):
    r = client.post("/v1/identify", json={"vectors": vectors, "k": 1}, headers=READ)
    assert r.status_code == 200
    return [x["decision"] for x in r.json()["results"]]


STRANGERS = [[0, 0, 1, 0], [0, 0.05, 1, 0], [0, 0, 0, 1], [0, 0, 0.05, 1], [0.02, 0, 0, 1]]


def test_routes_need_the_write_scope(client):
    assert client.get("/v1/discover/pool", headers=READ).status_code == 403
    assert client.post("/v1/discover", json={}, headers=READ).status_code == 403


def test_unknowns_are_kept_only_when_enabled(client):
    assert client.get("/v1/discover/pool", headers=WRITE).json()["enabled"] is False
    _identify(client, STRANGERS)
    assert client.get("/v1/discover/pool", headers=WRITE).json()["count"] == 0
    r = client.put("/v1/discover/pool", json={"enabled": True, "max_items": 100}, headers=WRITE)
    assert r.json() == {"enabled": True, "max_items": 100, "max_age_days": 30.0, "count": 0}
    assert _identify(client, [[1, 0, 0, 0], *STRANGERS]) == ["known"] + ["unknown"] * 5
    assert client.get("/v1/discover/pool", headers=WRITE).json()["count"] == 5  # the known probe is not kept
    r = client.put("/v1/discover/pool", json={"max_items": 10**9}, headers=WRITE)
    assert r.status_code == 422 and "max_items" in r.text
    assert client.get("/v1/discover/pool", headers=WRITE).json()["max_items"] == 100


def test_propose_accept_then_identify_as_the_new_identity(client, vector_gallery):
    client.put("/v1/discover/pool", json={"enabled": True}, headers=WRITE)
    _identify(client, STRANGERS)
    body = client.post("/v1/discover", json={"min_size": 2}, headers=WRITE).json()
    assert [p["size"] for p in body["proposals"]] == [3, 2] and body["pool_size"] == 5
    big, small = body["proposals"]
    assert big["nearest_identity"] == "alice" and big["thumbnails"] == [None] * 3  # vectors have no picture
    assert client.get("/v1/discover/proposals", headers=WRITE).json()["proposals"][0]["id"] == big["id"]
    r = client.post(f"/v1/discover/proposals/{big['id']}/accept", json={"identity": "alice"}, headers=WRITE)
    assert r.status_code == 409 and "merge" in r.json()["error"]["message"]
    r = client.post(f"/v1/discover/proposals/{big['id']}/accept", json={"identity": "dora"}, headers=WRITE)
    assert r.status_code == 200 and r.json()["action"] == "accepted" and len(r.json()["item_ids"]) == 3
    assert _identify(client, [[0, 0, 0, 1]]) == ["known"]
    assert vector_gallery.identities()["dora"] == 3
    r = client.post(f"/v1/discover/proposals/{small['id']}/merge", json={"identity": "nobody"}, headers=WRITE)
    assert r.status_code == 404
    r = client.post(f"/v1/discover/proposals/{small['id']}/reject", headers=WRITE)
    assert r.json()["action"] == "rejected"
    assert client.get("/v1/discover/pool", headers=WRITE).json()["count"] == 0
    r = client.post(f"/v1/discover/proposals/{small['id']}/reject", headers=WRITE)
    assert r.status_code == 404 and "already rejected" in r.json()["error"]["message"]
    with vector_gallery.unknown_pool() as pool:
        assert [e.action for e in pool.audit()] == ["accepted", "rejected"]
        assert pool.audit()[0].details["actor"] == "service"


def test_purge_empties_the_pool(client):
    client.put("/v1/discover/pool", json={"enabled": True, "max_age_days": None}, headers=WRITE)
    _identify(client, STRANGERS)
    client.post("/v1/discover", json={}, headers=WRITE)
    assert client.post("/v1/discover/purge", headers=WRITE).json() == {"purged": 5}
    assert client.get("/v1/discover/proposals", headers=WRITE).json() == {"proposals": [], "pool_size": 0}
    assert client.get("/v1/discover/pool", headers=WRITE).json()["max_age_days"] is None


def test_grouping_parameters_are_validated_at_the_boundary(client):
    client.put("/v1/discover/pool", json={"enabled": True}, headers=WRITE)
    _identify(client, STRANGERS)
    r = client.post("/v1/discover", json={"mix": -1}, headers=WRITE)
    assert r.status_code == 422 and "mix" in r.text
    with_mix = client.post("/v1/discover", json={"mix": 2, "min_size": 1}, headers=WRITE)
    assert with_mix.status_code == 200 and with_mix.json()["pool_size"] == 5
    assert sum(p["size"] for p in with_mix.json()["proposals"]) == 5  # min_size 1: every unknown in a proposal


def test_odd_ids_in_urls_are_clear_4xx_never_a_500(client):
    client.put("/v1/discover/pool", json={"enabled": True}, headers=WRITE)
    for bad in ("99999999999999999999999", "0", "-1", "abc"):  # the first overflowed SQLite's integer: a 500
        r = client.get(f"/v1/discover/unknowns/{bad}/thumbnail", headers=WRITE)
        assert r.status_code == 422 and "unknown_id" in r.text, (bad, r.status_code)
    assert client.get("/v1/discover/unknowns/7/thumbnail", headers=WRITE).status_code == 404
    for pid in ("x" * 5000, "' OR 1=1 --"):
        r = client.post(f"/v1/discover/proposals/{pid}/reject", headers=WRITE)
        assert r.status_code == 404 and "not open for review" in r.json()["error"]["message"]


def test_discovery_uses_the_grouping_stored_with_the_calibration(client, vector_gallery):
    from lookalike.models.grouping import GroupingParams

    client.put("/v1/discover/pool", json={"enabled": True}, headers=WRITE)
    _identify(client, STRANGERS)
    assert [p["size"] for p in client.post("/v1/discover", json={}, headers=WRITE).json()["proposals"]] == [3]
    t = vector_gallery.threshold
    vector_gallery.calibrate_scores([1.0, 0.99], [t - 1e-3], target_far=0.5, grouping=GroupingParams(min_size=2))
    assert vector_gallery.threshold == pytest.approx(t, abs=1e-3)
    assert [p["size"] for p in client.post("/v1/discover", json={}, headers=WRITE).json()["proposals"]] == [3, 2]
    # a given setting still wins over the stored ones
    body = client.post("/v1/discover", json={"min_size": 3}, headers=WRITE).json()
    assert [p["size"] for p in body["proposals"]] == [3]
