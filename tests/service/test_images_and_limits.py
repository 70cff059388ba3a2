"""Image routes (multipart) with a tiny timm model, thumbnails, and the upload limits (413/415/422)."""

from __future__ import annotations

import pytest
from service_helpers import READ, WRITE, encode, pattern_image, png_claiming


@pytest.fixture
def client(image_gallery, make_client):
    c = make_client(image_gallery, max_upload_bytes=200_000, max_image_pixels=1_000_000, max_items_per_request=4)
    for name, seed in (("alice", 1), ("bob", 2)):
        files = [("images", (f"{name}.png", encode(pattern_image(seed)), "image/png"))]
        r = c.post("/v1/enroll", data={"identity": name}, files=files, headers=WRITE)
        assert r.status_code == 200, r.text
    return c


def _identify(c, payload: bytes, name: str = "probe.png", ctype: str = "image/png", **kw):
    return c.post("/v1/identify", files=[("images", (name, payload, ctype))], headers=READ, **kw)


def test_identify_image_known_and_unknown(client):
    r = _identify(client, encode(pattern_image(1, noise=10), "JPEG"), "probe.jpg", "image/jpeg", data={"k": "2"})
    assert r.status_code == 200, r.text
    best = r.json()["results"][0]
    assert best["decision"] == "known" and best["identity"] == "alice"
    assert [m["identity"] for m in best["matches"]] == ["alice", "bob"]
    assert best["matches"][0]["thumbnail"] == "/v1/identities/alice/thumbnail"
    stranger = _identify(client, encode(pattern_image(99))).json()["results"][0]
    assert stranger["decision"] == "unknown" and stranger["identity"] is None


def test_several_images_in_one_request(client):
    files = [("images", (f"{s}.png", encode(pattern_image(s)), "image/png")) for s in (2, 1)]
    results = client.post("/v1/identify", files=files, headers=READ).json()["results"]
    assert [r["identity"] for r in results] == ["bob", "alice"]


def test_thumbnails_are_small_jpegs_and_go_with_their_identity(client, image_gallery):
    from io import BytesIO

    from PIL import Image

    r = client.get("/v1/identities/alice/thumbnail", headers=READ)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert max(Image.open(BytesIO(r.content)).size) <= 160
    item = image_gallery.items("bob")[0].id
    assert client.get(f"/v1/items/{item}/thumbnail", headers=READ).status_code == 200
    assert client.get("/v1/identities", headers=READ).json()["identities"][0]["thumbnail"].endswith("/thumbnail")
    client.delete("/v1/identities/alice", headers=WRITE)
    assert client.get("/v1/identities/alice/thumbnail", headers=READ).status_code == 404
    client.delete(f"/v1/items/{item}", headers=WRITE)
    assert client.get(f"/v1/items/{item}/thumbnail", headers=READ).status_code == 404


def test_verify_two_images(client):
    a = ("a", ("a.png", encode(pattern_image(5)), "image/png"))
    b = ("b", ("b.png", encode(pattern_image(5, noise=8)), "image/png"))
    c = ("b", ("c.png", encode(pattern_image(6)), "image/png"))
    assert client.post("/v1/verify", files=[a, b], headers=READ).json()["same"] is True
    assert client.post("/v1/verify", files=[a, c], headers=READ).json()["same"] is False


def test_body_over_limit_is_413_from_header(client):
    r = _identify(client, b"\x89PNG" + b"0" * 300_000)
    assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large"
    assert "200000 bytes" in r.json()["error"]["message"]


def test_body_over_limit_is_413_while_streaming(client):
    def chunks():
        for _ in range(50):
            yield b"x" * 10_000

    headers = {**READ, "content-type": "multipart/form-data; boundary=zzz"}
    r = client.post("/v1/identify", content=chunks(), headers=headers)  # chunked: no Content-Length
    assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large"


def test_decompression_bomb_is_refused_from_its_header(client):
    bomb = png_claiming(20_000, 20_000)
    assert len(bomb) < 10_000
    r = _identify(client, bomb, "bomb.png")
    assert r.status_code == 413 and r.json()["error"]["type"] == "image_too_large"
    assert "decompression bomb" in r.json()["error"]["message"]
    over = _identify(client, png_claiming(2_000, 2_000), "big.png")  # over this server's own 1,000,000-pixel limit
    assert over.status_code == 413 and "2000x2000" in over.json()["error"]["message"]
    assert "1000000" in over.json()["error"]["message"]


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
        (encode(pattern_image(3))[:300], "truncated"),
    ],
)
def test_bad_uploads_are_4xx_with_the_reason(client, data, expect):
    r = _identify(client, data, "bad.png")
    assert r.status_code in (400, 422), r.text
    assert expect in r.json()["error"]["message"] and "bad.png" in r.json()["error"]["message"]


def test_wrong_content_type_is_415(client):
    r = client.post("/v1/identify", content=encode(pattern_image(1)), headers={**READ, "content-type": "image/png"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]["message"]


def test_vectors_on_image_gallery_is_422(client):
    r = client.post("/v1/identify", json={"vectors": [[1.0, 2.0]]}, headers=READ)
    assert r.status_code == 422 and "images" in r.json()["error"]["message"]


def test_too_many_files_and_wrong_field(client):
    files = [("images", (f"{i}.png", encode(pattern_image(i, size=16)), "image/png")) for i in range(5)]
    assert client.post("/v1/identify", files=files, headers=READ).status_code in (400, 413)
    wrong = client.post(
        "/v1/identify", files=[("image", ("x.png", encode(pattern_image(1)), "image/png"))], headers=READ
    )
    assert wrong.status_code == 422 and "'images'" in wrong.json()["error"]["message"]


def test_failed_enroll_stores_nothing(client, image_gallery):
    files = [
        ("images", ("ok.png", encode(pattern_image(7)), "image/png")),
        ("images", ("broken.png", b"garbage", "image/png")),
    ]
    r = client.post("/v1/enroll", data={"identity": "carol"}, files=files, headers=WRITE)
    assert r.status_code == 400 and "broken.png" in r.json()["error"]["message"]
    assert "carol" not in image_gallery.identities()
    missing = client.post("/v1/enroll", files=files[:1], headers=WRITE)
    assert missing.status_code == 422 and "identity" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ('{"a":' * 5000 + "1" + "}" * 5000, "form field 'metadata' is nested too deeply"),  # was a 500
        ('{"score": NaN}', "form field 'metadata': it holds NaN"),  # was stored
        ("{oops", "form field 'metadata' is not valid JSON"),
        ("[1, 2]", "form field 'metadata' must be a JSON object"),
    ],
)
def test_bad_metadata_is_422_naming_the_field_and_stores_nothing(client, image_gallery, metadata, message):
    files = [("images", ("ok.png", encode(pattern_image(7)), "image/png"))]
    r = client.post("/v1/enroll", data={"identity": "carol", "metadata": metadata}, files=files, headers=WRITE)
    assert r.status_code == 422 and message in r.json()["error"]["message"], r.text
    assert "carol" not in image_gallery.identities()


def test_a_removed_identity_leaves_no_thumbnail_whoever_removes_it(client, image_gallery):
    """Regression: removals by the CLI/library (another connection) left thumbnails that were still served,
    and a new person enrolled under the old name showed the removed person's face."""
    import sqlite3

    from lookalike.gallery import Gallery

    alice_item = image_gallery.items("alice")[0].id
    assert client.get("/v1/identities/alice/thumbnail", headers=READ).status_code == 200
    with Gallery.open(image_gallery.store.location) as other:  # what `lookalike gallery remove` does
        other.remove("alice")
    assert client.get("/v1/identities/alice/thumbnail", headers=READ).status_code == 404
    assert client.get(f"/v1/items/{alice_item}/thumbnail", headers=READ).status_code == 404
    with Gallery.open(image_gallery.store.location) as other:  # someone else, enrolled without a picture
        other.enroll_vectors("alice", image_gallery.store.vectors().vectors[:1])
    assert client.get("/v1/identities/alice/thumbnail", headers=READ).status_code == 404
    listed = {i["identity"]: i["thumbnail"] for i in client.get("/v1/identities", headers=READ).json()["identities"]}
    assert listed["alice"] is None and listed["bob"] is not None
    folder = image_gallery.store.path
    assert not (folder / "thumbnails.sqlite").exists()
    db = sqlite3.connect(folder / "gallery.sqlite")
    assert db.execute("SELECT count(*) FROM images WHERE id=?", (alice_item,)).fetchone()[0] == 0  # not on disk
    db.close()


def test_legacy_thumbnail_file_is_moved_into_the_gallery_without_removed_items(image_gallery, make_client):
    import sqlite3

    ids = image_gallery.enroll_vectors("carol", image_gallery.model.embed([pattern_image(3), pattern_image(4)]))
    image_gallery.remove_item(ids[1])
    legacy = image_gallery.store.path / "thumbnails.sqlite"
    db = sqlite3.connect(legacy)
    db.execute("CREATE TABLE thumbnails (item_id INTEGER PRIMARY KEY, identity TEXT NOT NULL, jpeg BLOB NOT NULL)")
    db.executemany(
        "INSERT INTO thumbnails VALUES (?, 'carol', ?)", [(ids[0], b"\xff\xd8kept"), (ids[1], b"\xff\xd8gone")]
    )
    db.commit()
    db.close()
    c = make_client(image_gallery)
    assert not legacy.exists()
    assert c.get(f"/v1/items/{ids[0]}/thumbnail", headers=READ).content == b"\xff\xd8kept"
    assert c.get(f"/v1/items/{ids[1]}/thumbnail", headers=READ).status_code == 404
    assert image_gallery.image(ids[1]) is None


@pytest.mark.parametrize("name", ["AC/DC", "a/../b", "50% off?#x", "x/thumbnail", "Zoë Ünal"])
def test_every_legal_name_is_reachable_by_every_route(client, name):
    """Regression: names with '/' could be enrolled over HTTP but never thumbnailed or removed there."""
    from urllib.parse import quote

    files = [("images", ("n.png", encode(pattern_image(7)), "image/png"))]
    r = client.post("/v1/enroll", data={"identity": f"  {name} "}, files=files, headers=WRITE)
    assert r.status_code == 200 and r.json()["identity"] == name  # trimmed, as everywhere
    listed = {i["identity"]: i["thumbnail"] for i in client.get("/v1/identities", headers=READ).json()["identities"]}
    url = listed[name]
    assert url == f"/v1/identities/{quote(name, safe='')}/thumbnail"
    assert client.get(url, headers=READ).status_code == 200
    r = client.delete(f"/v1/identities/{quote(name, safe='')}", headers=WRITE)
    assert r.status_code == 200 and len(r.json()["removed_item_ids"]) == 1
    assert client.get(url, headers=READ).status_code == 404


@pytest.mark.parametrize("name", [".", "..", "two\nlines", "tab\there", "x" * 201, "bidi\u202eevil"])
def test_illegal_names_are_refused_with_the_rule(client, name):
    files = [("images", ("n.png", encode(pattern_image(7)), "image/png"))]
    r = client.post("/v1/enroll", data={"identity": name}, files=files, headers=WRITE)
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation"
    assert client.get("/v1/identities", headers=READ).json()["total"] == 2  # nothing stored
