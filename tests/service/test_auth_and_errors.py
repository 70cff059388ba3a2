"""API-key scopes (401/403) and the one JSON error shape, including FastAPI's own errors and a 500."""

from __future__ import annotations

import pytest
from service_helpers import READ, READ_KEY, WRITE, WRITE_KEY

VEC = {"identity": "a", "vectors": [[1, 0, 0, 0]]}


def _shape(response, status: int, type_: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"type", "message", "status", "request_id"}
    assert err["status"] == status and err["type"] == type_ and err["message"]
    assert response.headers["x-request-id"] == err["request_id"]
    return err


@pytest.fixture
def client(vector_gallery, make_client):
    return make_client(vector_gallery)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/enroll", VEC),
        ("post", "/v1/identify", {"vectors": [[1, 0, 0, 0]]}),
        ("post", "/v1/verify", {"a": [1, 0, 0, 0], "b": [1, 0, 0, 0]}),
        ("get", "/v1/identities", None),
        ("get", "/v1/gallery", None),
        ("delete", "/v1/identities/a", None),
        ("delete", "/v1/items/1", None),
        ("get", "/v1/identities/a/thumbnail", None),
    ],
)
def test_no_key_is_401_everywhere(client, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    r = getattr(client, method)(path, **kwargs) if body is None else client.request(method.upper(), path, **kwargs)
    err = _shape(r, 401, "unauthorized")
    assert "X-API-Key" in err["message"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_wrong_key_is_401(client):
    err = _shape(client.get("/v1/identities", headers={"X-API-Key": "not-a-key-at-all"}), 401, "unauthorized")
    assert "invalid API key" in err["message"]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/enroll"), ("DELETE", "/v1/identities/a"), ("DELETE", "/v1/items/1")]
)
def test_read_key_on_write_route_is_403(client, method, path):
    r = client.request(method, path, json=VEC if method == "POST" else None, headers=READ)
    assert "write scope" in _shape(r, 403, "forbidden")["message"]


def test_bearer_header_and_write_key_can_read(client):
    assert client.post("/v1/enroll", json=VEC, headers={"Authorization": f"Bearer {WRITE_KEY}"}).status_code == 200
    assert client.get("/v1/identities", headers={"Authorization": f"Bearer {READ_KEY}"}).status_code == 200
    assert client.get("/v1/identities", headers=WRITE).json()["total"] == 1


def test_no_auth_mode_admits_everyone(vector_gallery, make_client):
    open_client = make_client(vector_gallery, read_keys=[], write_keys=[], no_auth=True)
    assert open_client.post("/v1/enroll", json=VEC).status_code == 200


def test_framework_errors_use_the_shape(client):
    assert "/docs" in _shape(client.get("/v1/nothing-here"), 404, "not_found")["message"]
    assert "PUT" in _shape(client.put("/v1/health"), 405, "method_not_allowed")["message"]
    err = _shape(client.delete("/v1/items/not-a-number", headers=WRITE), 422, "validation")
    assert "item_id" in err["message"]


def test_request_id_is_echoed(client):
    r = client.get("/v1/identities", headers={**READ, "X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"


class _Exploding:
    """A gallery whose listing fails with an internal error that must not leak."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def identities(self):
        raise RuntimeError("secret internal detail /srv/db password=hunter2")


def test_unexpected_error_is_500_without_internals(vector_gallery, make_client, caplog):
    c = make_client(_Exploding(vector_gallery), raise_server_exceptions=False)
    r = c.get("/v1/identities", headers=READ)
    err = _shape(r, 500, "internal")
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert err["request_id"] in err["message"]
    assert any("unhandled error" in rec.message for rec in caplog.records)
