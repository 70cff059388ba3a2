"""Every /v1 route in-process, on a 4-d vector gallery (JSON bodies)."""

from __future__ import annotations

import pytest
from service_helpers import READ, WRITE


@pytest.fixture
def client(vector_gallery, make_client):
    c = make_client(vector_gallery)
    assert (
        c.post(
            "/v1/enroll", json={"identity": "alice", "vectors": [[1, 0, 0, 0], [1, 0.1, 0, 0]]}, headers=WRITE
        ).status_code
        == 200
    )
    assert c.post("/v1/enroll", json={"identity": "bob", "vectors": [[0, 1, 0, 0]]}, headers=WRITE).status_code == 200
    return c


def test_health_needs_no_key_and_reports_size(client):
    body = client.get("/v1/health").json()
    assert body["status"] == "ok"
    assert body["model_kind"] == "vector"
    assert body["gallery_items"] == 3


def test_enroll_returns_new_ids_and_size(client, vector_gallery):
    r = client.post(
        "/v1/enroll", json={"identity": "carol", "vectors": [[0, 0, 1, 0]], "metadata": {"src": "t"}}, headers=WRITE
    )
    assert r.status_code == 200
    body = r.json()
    assert body["identity"] == "carol" and len(body["item_ids"]) == 1 and body["gallery_size"] == 4
    assert vector_gallery.identities() == {"alice": 2, "bob": 1, "carol": 1}
    assert vector_gallery.items("carol")[0].metadata == {"src": "t"}


def test_identify_known_and_unknown_with_k(client):
    r = client.post("/v1/identify", json={"vectors": [[0.9, 0.05, 0, 0], [0, 0, 0, 1]], "k": 2}, headers=READ)
    assert r.status_code == 200
    known, unknown = r.json()["results"]
    assert known["decision"] == "known" and known["identity"] == "alice"
    assert [m["identity"] for m in known["matches"]] == ["alice", "bob"]
    assert known["score"] == pytest.approx(known["matches"][0]["score"]) and known["threshold"] == pytest.approx(0.9)
    assert unknown["decision"] == "unknown" and unknown["identity"] is None
    assert len(unknown["matches"]) == 2
    r1 = client.post("/v1/identify", json={"vectors": [[1, 0, 0, 0]], "k": 1}, headers=READ)
    assert len(r1.json()["results"][0]["matches"]) == 1


def test_identify_k_above_limit_is_422(client):
    r = client.post("/v1/identify", json={"vectors": [[1, 0, 0, 0]], "k": 51}, headers=READ)
    assert r.status_code == 422 and "at most 50" in r.json()["error"]["message"]


def test_verify_same_and_different(client):
    same = client.post("/v1/verify", json={"a": [1, 0, 0, 0], "b": [1, 0.05, 0, 0]}, headers=READ).json()
    diff = client.post("/v1/verify", json={"a": [1, 0, 0, 0], "b": [0, 1, 0, 0]}, headers=READ).json()
    assert same["same"] is True and same["score"] > 0.99 and same["threshold"] == pytest.approx(0.9)
    assert diff["same"] is False and diff["score"] == pytest.approx(0.0, abs=1e-6)


def test_list_identities_and_gallery_info(client):
    body = client.get("/v1/identities", headers=READ).json()
    assert body["total"] == 2
    assert [(i["identity"], i["items"]) for i in body["identities"]] == [("alice", 2), ("bob", 1)]
    info = client.get("/v1/gallery", headers=READ).json()
    assert info["size"] == 3 and info["identities"] == 2 and info["embedding_size"] == 4
    assert info["model"]["kind"] == "vector" and info["threshold"] == pytest.approx(0.9)


def test_remove_identity_then_404(client, vector_gallery):
    r = client.delete("/v1/identities/alice", headers=WRITE)
    assert r.status_code == 200 and len(r.json()["removed_item_ids"]) == 2 and r.json()["gallery_size"] == 1
    assert vector_gallery.identities() == {"bob": 1}
    again = client.delete("/v1/identities/alice", headers=WRITE)
    assert again.status_code == 404 and again.json()["error"]["type"] == "not_found"


def test_remove_item_then_404(client, vector_gallery):
    item = vector_gallery.items("bob")[0].id
    r = client.delete(f"/v1/items/{item}", headers=WRITE)
    assert r.status_code == 200 and r.json() == {"removed_item_ids": [item], "gallery_size": 2}
    missing = client.delete(f"/v1/items/{item}", headers=WRITE)
    assert missing.status_code == 404 and str(item) in missing.json()["error"]["message"]


def test_thumbnail_of_vector_identity_is_404(client):
    r = client.get("/v1/identities/alice/thumbnail", headers=READ)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_metrics_count_requests_and_batches(client):
    client.post("/v1/identify", json={"vectors": [[1, 0, 0, 0]]}, headers=READ)
    text = client.get("/metrics").text
    assert 'lookalike_http_requests_total{method="POST",route="/v1/identify",status="200"} 1.0' in text
    assert 'lookalike_http_requests_total{method="POST",route="/v1/enroll",status="200"} 2.0' in text
    assert "lookalike_batch_queries_count 1.0" in text
    assert 'lookalike_identify_decisions_total{decision="known"} 1.0' in text


def test_openapi_docs_and_page(client):
    schema = client.get("/openapi.json").json()
    for path in (
        "/v1/enroll",
        "/v1/identify",
        "/v1/verify",
        "/v1/identities",
        "/v1/identities/{identity}",
        "/v1/items/{item_id}",
        "/v1/gallery",
        "/v1/health",
    ):
        assert path in schema["paths"], path
    assert "multipart/form-data" in schema["paths"]["/v1/identify"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "lookalike" in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_text_route_on_vector_gallery_explains_what_to_send(client):
    r = client.post("/v1/identify", json={"texts": ["hello"]}, headers=READ)
    assert r.status_code == 422
    assert "embeds vector items" in r.json()["error"]["message"] and '"vectors"' in r.json()["error"]["message"]


def test_nan_in_json_is_422_not_500(client):
    for path, body in (
        ("/v1/verify", '{"a": [NaN, 0, 0, 0], "b": [1, 0, 0, 0]}'),
        ("/v1/identify", '{"vectors": [[Infinity, 0, 0, 0]]}'),
    ):
        r = client.post(path, content=body, headers={**READ, "content-type": "application/json"})
        assert r.status_code == 422 and "finite numbers" in r.json()["error"]["message"]


def test_size_gauges_follow_writes_from_counts_without_listing_identities(client, vector_gallery, monkeypatch):
    def no_listing() -> None:
        raise AssertionError("a write must not list every identity to refresh the gauges")

    monkeypatch.setattr(vector_gallery.store, "identities", no_listing)
    assert client.post("/v1/enroll", json={"identity": "carol", "vectors": [[0, 0, 1, 0]]}, headers=WRITE).status_code
    assert client.delete("/v1/identities/bob", headers=WRITE).status_code == 200
    text = client.get("/metrics").text
    assert "lookalike_gallery_identities 2.0" in text and "lookalike_gallery_items 3.0" in text
