"""A face gallery over HTTP: identify answers every face of a two-person photo with its box; enroll reports
which face it stored; a photo without a face is a clear 422. Images are composed from real ORL faces."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from service_helpers import READ, WRITE

from _extras import require_extra

require_extra("dlib", "faces")
pytestmark = pytest.mark.realdata


def png(image: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")  # type: ignore[attr-defined]
    return buf.getvalue()


def orl(shared: Path, person: int, k: int) -> object:
    from PIL import Image

    return Image.open(shared / "orl_faces" / f"s{person}" / f"{k}.pgm").convert("RGB")


@pytest.fixture
def face_client(tmp_path: Path, make_client, shared_data: Path):  # type: ignore[no-untyped-def]
    from lookalike.gallery import Gallery
    from lookalike.models import load_model

    gallery = Gallery.create(tmp_path / "faces", load_model("face:dlib"), threshold=0.9)
    client = make_client(gallery)
    for person, name in ((1, "ann"), (2, "bob")):
        files = [("images", (f"{k}.png", png(orl(shared_data, person, k)), "image/png")) for k in (2, 3)]
        r = client.post("/v1/enroll", data={"identity": name}, files=files, headers=WRITE)
        assert r.status_code == 200, r.text
        faces = r.json()["faces"]
        assert [f["image"] for f in faces] == [0, 1] and all(f["faces_in_image"] == 1 for f in faces)
    yield client
    gallery.close()


def test_identify_returns_each_face_with_its_box(face_client, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    canvas = Image.new("RGB", (500, 200), (128, 128, 128))
    canvas.paste(orl(shared_data, 2, 1), (20, 40))  # bob on the left
    canvas.paste(orl(shared_data, 1, 1), (300, 40))  # ann on the right
    r = face_client.post("/v1/identify", files=[("images", ("two.png", png(canvas), "image/png"))], headers=READ)
    assert r.status_code == 200, r.text
    results = sorted(r.json()["results"], key=lambda x: x["box"][0])
    assert len(results) == 2 and all(x["image"] == 0 and x["detected"] for x in results)
    assert [x["identity"] for x in results] == ["bob", "ann"]
    assert results[0]["box"][2] <= 120 and results[1]["box"][0] >= 300


def test_no_face_is_a_clear_422(face_client) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    blank = png(Image.new("RGB", (640, 480), (200, 200, 200)))
    r = face_client.post("/v1/identify", files=[("images", ("blank.png", blank, "image/png"))], headers=READ)
    assert r.status_code == 422
    assert "no face found in image 1" in r.json()["error"]["message"]


def test_skip_no_face_leaves_out_and_lists_the_faceless_images(face_client, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    blank = ("images", ("blank.png", png(Image.new("RGB", (640, 480), (200, 200, 200))), "image/png"))
    face = ("images", ("c.png", png(orl(shared_data, 3, 1)), "image/png"))
    form = {"identity": "cat", "skip_no_face": "true"}
    r = face_client.post("/v1/enroll", data=form, files=[blank, face, blank], headers=WRITE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["item_ids"]) == 1 and body["gallery_size"] == 5
    assert [f["image"] for f in body["faces"]] == [1]
    assert [s["image"] for s in body["skipped"]] == [0, 2] and "no face" in body["skipped"][0]["reason"]

    probe = ("images", ("p.png", png(orl(shared_data, 3, 2)), "image/png"))
    r = face_client.post("/v1/identify", data={"skip_no_face": "1"}, files=[blank, probe], headers=READ)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["image"] for x in results] == [1] and results[0]["matches"][0]["identity"] == "cat"
    assert [s["image"] for s in r.json()["skipped"]] == [0]


def test_skip_no_face_with_no_face_at_all_stores_nothing(face_client) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    blank = ("images", ("blank.png", png(Image.new("RGB", (640, 480), (200, 200, 200))), "image/png"))
    r = face_client.post("/v1/enroll", data={"identity": "nobody", "skip_no_face": "yes"}, files=[blank], headers=WRITE)
    assert r.status_code == 422 and "nothing was enrolled" in r.json()["error"]["message"]
    r = face_client.post("/v1/enroll", data={"identity": "x", "skip_no_face": "maybe"}, files=[blank], headers=WRITE)
    assert r.status_code == 422 and "skip_no_face" in r.json()["error"]["message"]
    assert len(face_client.get("/v1/identities", headers=READ).json()["identities"]) == 2


def test_unknown_faces_go_to_the_pool_with_a_picture_each(face_client, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    """A stranger's face in a group photo is kept (the known face beside it is not) and can be proposed."""
    from PIL import Image

    r = face_client.put("/v1/discover/pool", json={"enabled": True}, headers=WRITE)
    assert r.status_code == 200, r.text
    canvas = Image.new("RGB", (500, 200), (128, 128, 128))
    canvas.paste(orl(shared_data, 2, 4), (20, 40))  # bob
    canvas.paste(orl(shared_data, 7, 1), (300, 40))  # a stranger
    r = face_client.post("/v1/identify", files=[("images", ("g.png", png(canvas), "image/png"))], headers=READ)
    decisions = sorted((x["box"][0], x["decision"]) for x in r.json()["results"])
    assert [d for _, d in decisions] == ["known", "unknown"]
    alone = [("images", (f"{k}.png", png(orl(shared_data, 7, k)), "image/png")) for k in (2, 3)]
    r = face_client.post("/v1/identify", files=alone, headers=READ)
    assert [x["decision"] for x in r.json()["results"]] == ["unknown", "unknown"]
    assert face_client.get("/v1/discover/pool", headers=WRITE).json()["count"] == 3

    body = face_client.post("/v1/discover", json={}, headers=WRITE).json()
    assert [p["size"] for p in body["proposals"]] == [3]
    thumbs = body["proposals"][0]["thumbnails"]
    assert all(thumbs)
    pic = face_client.get(thumbs[0], headers=WRITE)
    assert pic.status_code == 200 and pic.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(pic.content)).size[0] <= 128
