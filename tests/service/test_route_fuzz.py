"""Every JSON route answers odd values (wrong types, NaN / inf / huge numbers, wrong sizes, NUL bytes, long
strings) with a 2xx or a 4xx: never a 5xx, never an exception out of the app."""

from __future__ import annotations

import itertools
import json

import pytest
from service_helpers import READ, WRITE

ODD = [
    None, True, 0, -1, 10**30, 1e308, float("nan"), float("-inf"), "x", "", "\x00", "é" * 3000, [], [[]], [None],
    {}, {"a": 1}, [[1, 0, 0, float("inf")]], [[1, 0, 0]], [[1, 0, 0, 0, 0]], [["a", 0, 0, 0]],
    [[1e308, 1e308, 0, 0]], [[0, 0, 0, 0]], [[1, 0, 0, 0]] * 3,
]  # fmt: skip
FIELDS = {
    "/v1/enroll": ["identity", "vectors", "metadata", "texts"],
    "/v1/identify": ["vectors", "k", "texts", "threshold"],
    "/v1/verify": ["a", "b", "vectors", "threshold"],
    "/v1/discover": ["method", "linkage", "scale", "min_size", "mix"],
}


@pytest.fixture
def api(vector_gallery, make_client):
    """A service on a 4-d vector gallery holding "alice"; server exceptions are raised into the test."""
    c = make_client(vector_gallery)
    assert c.post("/v1/enroll", json={"identity": "alice", "vectors": [[1, 0, 0, 0]]}, headers=WRITE).status_code == 200
    return c


def _status(api, method: str, path: str, body: object) -> int | str:
    headers = {**WRITE, "content-type": "application/json"}
    try:
        return api.request(method, path, content=json.dumps(body, allow_nan=True), headers=headers).status_code
    except Exception as err:  # an exception out of the app is what this test looks for
        return f"{type(err).__name__}: {str(err)[:120]}"


def test_odd_values_in_every_json_route_are_never_a_server_error(api):
    api.put("/v1/discover/pool", json={"enabled": True}, headers=WRITE)
    bad = []
    for (path, fields), base in itertools.product(FIELDS.items(), ({}, {"identity": "bob", "vectors": [[0, 1, 0, 0]]})):
        for field, value in itertools.product(fields, ODD):
            code = _status(api, "POST", path, {**base, field: value})
            if not isinstance(code, int) or code >= 500:
                bad.append((path, field, repr(value)[:40], code))
    for body in ({"max_age_days": 1e308}, {"max_age_days": float("inf")}, {"max_items": 1e3}, {"enabled": "yes"}):
        code = _status(api, "PUT", "/v1/discover/pool", body)
        if not isinstance(code, int) or code >= 500:
            bad.append(("/v1/discover/pool", body, code))
    for path in ("/v1/identities/%00/thumbnail", "/v1/identities/" + "x" * 10000 + "/thumbnail"):
        code = api.get(path, headers=READ).status_code
        if code >= 500:
            bad.append((path[:40], code))
    assert bad == []
    assert api.get("/v1/health").status_code == 200  # and the service is still up
