"""CUB-200-2011 against a mini archive with the published layout, served over HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest
from std_archives import make_tgz, with_checksums

from lookalike.data.manifest import from_manifest
from lookalike.data.standard import get, prepare
from lookalike.errors import DataError

# (class id, images): classes 1, 2 and 100 train, 101 and 200 test; classes.txt lists all 200 as published
IMAGES_PER_CLASS = {1: 3, 2: 2, 100: 1, 101: 2, 200: 4}


def _class_name(cid: int) -> str:
    return f"{cid:03d}.Bird_{cid}"


def mini_cub(jpeg: bytes, *, drop: str | None = None) -> bytes:
    files: dict[str, bytes] = {}
    images, labels, split = [], [], []
    image_id = 0
    for cid, n in IMAGES_PER_CLASS.items():
        for k in range(n):
            image_id += 1
            rel = f"{_class_name(cid)}/Bird_{cid}_{k:04d}_{image_id}.jpg"
            files[f"CUB_200_2011/images/{rel}"] = jpeg
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {cid}")
            split.append(f"{image_id} {k % 2}")
    files["CUB_200_2011/images.txt"] = ("\n".join(images) + "\n").encode()
    files["CUB_200_2011/image_class_labels.txt"] = ("\n".join(labels) + "\n").encode()
    files["CUB_200_2011/classes.txt"] = "".join(f"{c} {_class_name(c)}\n" for c in range(1, 201)).encode()
    files["CUB_200_2011/train_test_split.txt"] = ("\n".join(split) + "\n").encode()
    files["CUB_200_2011/bounding_boxes.txt"] = "".join(
        f"{i} 1.0 1.0 5.0 5.0\n" for i in range(1, image_id + 1)
    ).encode()
    files.pop(drop, None)  # a broken copy: one file left out
    return make_tgz(files)


@pytest.mark.server
def test_cub200_download_resume_verify_extract_convert(download_drill, std_protocol, jpeg) -> None:
    result = download_drill("cub200", {"CUB_200_2011.tgz": mini_cub(jpeg)})
    conv = result.conversion
    assert (conv.classes, conv.images) == (5, 12)
    assert (conv.splits["train"].classes, conv.splits["train"].images) == (3, 6)
    assert (conv.splits["test"].classes, conv.splits["test"].images) == (2, 6)
    ds = from_manifest(conv.manifest)
    assert ds.class_names == [_class_name(c) for c in IMAGES_PER_CLASS]
    assert ds.class_counts()[_class_name(200)] == 4
    test_classes = {
        ds.class_names[int(lab)] for lab, m in zip(ds.labels, ds.metadata, strict=True) if m["split"] == "test"
    }
    assert test_classes == {_class_name(101), _class_name(200)}

    protocol = std_protocol("cub200")
    assert protocol.classes("test") == [_class_name(101), _class_name(200)]
    assert sorted(protocol.classes("train") + protocol.classes("val")) == [_class_name(c) for c in (1, 2, 100)]
    assert len(protocol.dataset("test")) == 6


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("CUB_200_2011/images/001.Bird_1/Bird_1_0000_1.jpg", "1 images listed in the annotations are absent"),
        ("CUB_200_2011/classes.txt", r"classes\.txt is missing"),
    ],
)
def test_cub200_incomplete_archive_is_a_data_error(tmp_path, jpeg, drop: str, message: str) -> None:
    data = mini_cub(jpeg, drop=drop)
    archive = tmp_path / "CUB_200_2011.tgz"
    archive.write_bytes(data)
    spec = with_checksums(get("cub200"), {"CUB_200_2011.tgz": data})
    with pytest.raises(DataError, match=message):
        prepare(spec, tmp_path / "cub200", archives=[archive], progress=False)
