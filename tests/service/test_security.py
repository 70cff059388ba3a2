"""Security headers on every response, a page without inline script or HTML built from data, and API docs that
work offline (assets served by this server, no CDN)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from service_helpers import READ


@pytest.fixture
def client(vector_gallery, make_client):
    return make_client(vector_gallery)


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/docs", "/v1/health", "/v1/identities", "/nowhere"])
def test_every_response_carries_the_security_headers(client, path: str) -> None:
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_the_page_has_no_inline_script_and_builds_no_html_from_data() -> None:
    static = resources.files("lookalike.service").joinpath("static")
    html = static.joinpath("index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every <script> is external
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    for name in ("app.js", "docs.js"):
        js = static.joinpath(name).read_text(encoding="utf-8")
        assert not re.search(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write", js), name


def test_api_docs_are_served_from_local_assets(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").json()["info"]["title"] == "lookalike"
    assert client.get("/redoc").status_code == 404  # only one docs page, the one under the CSP


def test_uncalibrated_gallery_says_so_over_the_api(tmp_path, make_client) -> None:
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel

    with Gallery.create(tmp_path / "u", EmbeddingModel.for_vectors(4)) as g:
        g.enroll_vectors("alice", [[1.0, 0, 0, 0]])
        c = make_client(g)
        r = c.post("/v1/identify", json={"vectors": [[0.0, 1.0, 0, 0]]}, headers=READ).json()["results"][0]
        assert r["decision"] == "uncalibrated" and r["identity"] is None and r["matches"][0]["identity"] == "alice"
