"""Hardening against a real ``lookalike serve`` process on 127.0.0.1: concurrent load and malformed uploads.

Every request loop is bounded in count and time and only talks to 127.0.0.1. The counts (requests sent,
status codes seen) go to pytest's terminal summary ("service hardening counts") and to stdout.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from service_helpers import READ, SUMMARY, WRITE, encode, pattern_image, png_claiming, start_server, stop_server

pytestmark = pytest.mark.server
DIM = 8


@pytest.fixture
def vector_server(tmp_path: Path):
    """A server over an empty 8-d cosine gallery (threshold 0.9), model exported beside it."""
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel, save_model

    model = EmbeddingModel.for_vectors(DIM)
    model_dir = save_model(model, tmp_path / "model")
    gallery_dir = tmp_path / "gallery"
    Gallery.create(gallery_dir, model, threshold=0.9, model_source=str(model_dir)).close()
    server = start_server(gallery_dir, None, tmp_path / "server.log")
    yield server, gallery_dir, model
    if server.alive():
        stop_server(server)


def _report(title: str, sent: int, statuses: collections.Counter, seconds: float) -> None:
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
    line = f"{title}: {sent} requests in {seconds:.1f} s ({sent / max(seconds, 1e-9):.0f}/s); status codes {{{codes}}}"
    SUMMARY.append(line)
    print(line)


def _unit(rng: np.random.Generator) -> list[float]:
    v = rng.normal(size=DIM)
    return (v / np.linalg.norm(v)).round(6).tolist()


async def _load(url: str, clients: int, per_client: int) -> tuple[collections.Counter, dict[str, int], list[str]]:
    """``clients`` concurrent clients × ``per_client`` requests: identify (70%), enroll (20%), list, health."""
    statuses: collections.Counter = collections.Counter()
    enrolled: dict[str, int] = {}
    problems: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(c: int) -> None:
        rng = np.random.default_rng(c)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            for i in range(per_client):
                roll = rng.random()
                if roll < 0.2:
                    name = f"client{c}-{i}"
                    n = int(rng.integers(1, 4))
                    r = await http.post(
                        "/v1/enroll", json={"identity": name, "vectors": [_unit(rng) for _ in range(n)]}, headers=WRITE
                    )
                    if r.status_code == 200:
                        enrolled[name] = n
                elif roll < 0.9:
                    queries = [_unit(rng) for _ in range(int(rng.integers(1, 3)))]
                    r = await http.post("/v1/identify", json={"vectors": queries, "k": 3}, headers=READ)
                    if r.status_code == 200 and len(r.json()["results"]) != len(queries):
                        problems.append(f"identify answered {len(r.json()['results'])} results for {len(queries)}")
                elif roll < 0.95:
                    r = await http.get("/v1/identities", headers=READ)
                else:
                    r = await http.get("/v1/health")
                statuses[r.status_code] += 1
                if r.status_code >= 500:
                    problems.append(f"{r.status_code}: {r.text[:200]}")

    await asyncio.gather(*(client(c) for c in range(clients)))
    return statuses, enrolled, problems


def _run_load(vector_server, clients: int, per_client: int) -> None:
    server, gallery_dir, model = vector_server
    started = time.perf_counter()
    statuses, enrolled, problems = asyncio.run(_load(server.url, clients, per_client))
    _report(f"load {clients} clients x {per_client}", clients * per_client, statuses, time.perf_counter() - started)
    assert sum(statuses.values()) == clients * per_client
    assert not problems, problems[:5]
    assert not [s for s in statuses if s >= 500]
    assert set(statuses) == {200}, statuses
    listed = httpx.get(f"{server.url}/v1/identities", headers=READ, timeout=30).json()
    assert {i["identity"]: i["items"] for i in listed["identities"]} == enrolled
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    batches = [line for line in metrics.splitlines() if line.startswith("lookalike_batch_requests_count")]
    SUMMARY.append(f"  enrolled identities: {len(enrolled)} (all present); {batches[0] if batches else 'no batches'}")
    stop_server(server)
    from lookalike.gallery import Gallery

    with Gallery.open(gallery_dir, model) as reopened:  # durable: nothing lost across a restart
        assert reopened.identities() == dict(sorted(enrolled.items()))


def test_concurrent_clients_small(vector_server):
    """Default run: 8 clients x 50 requests."""
    _run_load(vector_server, clients=8, per_client=50)


@pytest.mark.slow
def test_concurrent_clients_32_by_500(vector_server):
    """The full load: 32 clients x 500 requests, no 5xx, no lost enrollments."""
    _run_load(vector_server, clients=32, per_client=500)


def _image_cases(rng: random.Random) -> list[tuple[str, dict]]:
    """Malformed image uploads (multipart unless said otherwise): ``(label, httpx request kwargs)``."""
    png = encode(pattern_image(1))
    jpeg = encode(pattern_image(2), "JPEG")
    bomb = png_claiming(20_000, 20_000)
    cases: list[tuple[str, dict]] = []
    for i in range(700):
        kind = i % 7
        if kind == 0:
            src = png if i % 2 else jpeg
            cut = rng.randrange(1, len(src) - 4)
            cases.append(("truncated", {"files": [("images", ("t.png", src[:cut], "image/png"))]}))
        elif kind == 1:
            cases.append(("zero-byte", {"files": [("images", ("z.png", b"", "image/png"))]}))
        elif kind == 2:
            junk = rng.randbytes(rng.randrange(1, 4000))
            cases.append(("non-image", {"files": [("images", ("j.jpg", junk, "image/jpeg"))]}))
        elif kind == 3:
            ctype = rng.choice(["image/png", "application/octet-stream", "text/plain", ""])
            cases.append(("wrong content type", {"content": png, "headers": {"content-type": ctype} if ctype else {}}))
        elif kind == 4:
            cases.append(("decompression bomb", {"files": [("images", ("bomb.png", bomb, "image/png"))]}))
        elif kind == 5:
            cases.append(("wrong field", {"files": [("picture", ("p.png", png, "image/png"))]}))
        else:
            body = b"--xyz\r\nContent-Disposition: form-data; name=images; filename=a.png\r\n\r\n" + rng.randbytes(50)
            headers = {"content-type": "multipart/form-data; boundary=" + rng.choice(["xyz", "other", ""])}
            cases.append(("broken multipart", {"content": body, "headers": headers}))
    return cases


def _vector_cases(rng: random.Random) -> list[tuple[str, dict]]:
    """Malformed JSON bodies for a vector gallery (a case may name its own ``method``/``path``/write key)."""
    cases: list[tuple[str, dict]] = []
    deep = rng.choice([1_000, 100_000])
    for i in range(800):
        kind = i % 8
        if kind >= 4:
            cases.append(_hostile_case(kind, rng, deep))
            continue
        if kind == 0:
            width = rng.choice([1, DIM - 1, DIM + 1, 512])
            cases.append(("wrong vector size", {"json": {"vectors": [[0.1] * width]}}))
        elif kind == 1:
            text = rng.choice(['{"vectors": [[1,2', "{vectors: 1}", "[]]", "nul", '{"vectors": NaN}', "\x00\xff"])
            cases.append(
                ("bad JSON", {"content": text.encode("latin-1"), "headers": {"content-type": "application/json"}})
            )
        elif kind == 2:
            body = rng.choice([{"vector": [[1.0] * DIM]}, {"vectors": "abc"}, {"vectors": []}, {"texts": ["hi"]}, {}])
            cases.append(("wrong fields", {"json": body}))
        else:
            cases.append(("k out of range", {"json": {"vectors": [[0.1] * DIM], "k": rng.choice([0, -1, 10_000])}}))
    return cases


def _hostile_case(kind: int, rng: random.Random, deep: int) -> tuple[str, dict]:
    """Malformed input that used to crash a handler (500 and a reset connection) or slip through."""
    json_ct = {"content-type": "application/json"}
    if kind == 4:  # RecursionError in the JSON parser
        d = rng.choice([deep, 1_000, 100_000])
        body = rng.choice([b"[" * d + b"]" * d, b'{"vectors": ' + b"[" * d + b"]" * d + b"}"])
        return "deeply nested JSON", {"content": body, "headers": json_ct}
    if kind == 5:  # OverflowError in SQLite
        big = rng.choice(["9223372036854775808", "99999999999999999999", "1" + "0" * 40, "-1", "0"])
        method, path = rng.choice([("GET", f"/v1/items/{big}/thumbnail"), ("DELETE", f"/v1/items/{big}")])
        return "item id beyond int64", {"method": method, "path": path, "headers": WRITE}
    if kind == 6:
        number = rng.choice(["1e400", "-1e400", "9" * 500, "9" * 5000])
        body = ('{"vectors": [[' + ",".join([number] + ["0"] * (DIM - 1)) + "]]}").encode()
        return "huge numbers", {"content": body, "headers": json_ct}
    name = rng.choice(["a\nb", "tab\there", "\u0000", ".", "..", "x" * 300, "bidi\u202eevil", " "])
    body = ('{"identity": "' + name + '", "vectors": [[' + ",".join(["1"] + ["0"] * (DIM - 1)) + "]]}").encode()
    return "illegal identity name", {"path": "/v1/enroll", "content": body, "headers": {**json_ct, **WRITE}}


def _fire(url: str, cases: list[tuple[str, dict]], path: str, statuses: collections.Counter, bad: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        for label, kwargs in cases:
            kwargs = dict(kwargs)
            headers = {**READ, **kwargs.pop("headers", {})}
            method, where = kwargs.pop("method", "POST"), kwargs.pop("path", path)
            r = http.request(method, where, headers=headers, **kwargs)
            statuses[r.status_code] += 1
            try:
                err = r.json()["error"]
                clear = bool(err["message"]) and err["status"] == r.status_code and bool(err["type"])
            except (ValueError, KeyError, TypeError):
                clear = False
            if not (400 <= r.status_code < 500 and clear):
                bad.append(f"{label}: {r.status_code} {r.text[:200]}")


def test_malformed_uploads_get_clear_4xx_and_the_server_survives(image_server, vector_server):
    rng = random.Random(0)
    statuses: collections.Counter = collections.Counter()
    bad: list[str] = []
    image_cases, vector_cases = _image_cases(rng), _vector_cases(rng)
    vserver = vector_server[0]
    kept = httpx.post(
        f"{vserver.url}/v1/enroll", json={"identity": "keep", "vectors": [[1.0] + [0.0] * (DIM - 1)]}, headers=WRITE
    )
    assert kept.status_code == 200, kept.text
    started = time.perf_counter()
    _fire(image_server.url, image_cases, "/v1/identify", statuses, bad)
    _fire(vserver.url, vector_cases, "/v1/identify", statuses, bad)
    sent = len(image_cases) + len(vector_cases)
    _report("malformed uploads", sent, statuses, time.perf_counter() - started)
    kinds = collections.Counter(label for label, _ in image_cases + vector_cases)
    SUMMARY.append("  kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    assert sent >= 1000
    assert not bad, bad[:5]
    listed = httpx.get(f"{vserver.url}/v1/identities", headers=READ, timeout=30).json()  # nothing lost, nothing added
    assert {i["identity"]: i["items"] for i in listed["identities"]} == {"keep": 1}
    # still answering, and still right
    for server in (image_server, vserver):
        assert httpx.get(f"{server.url}/v1/health", timeout=10).status_code == 200
    png = encode(pattern_image(1))
    ok = httpx.post(f"{image_server.url}/v1/identify", files=[("images", ("ok.png", png, "image/png"))], headers=READ)
    assert ok.status_code == 200 and ok.json()["results"][0]["decision"] == "unknown"  # empty gallery
    assert image_server.alive() and vserver.alive()
