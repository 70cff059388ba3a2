"""Stanford Online Products against a mini zip with Ebay_train.txt / Ebay_test.txt, served on 127.0.0.1."""

from __future__ import annotations

import pytest
from std_archives import make_zip

from lookalike.data.manifest import from_manifest

pytestmark = pytest.mark.server

TRAIN = {1: 2, 2: 3, 11318: 1}  # class id -> images
TEST = {11319: 2, 22634: 2}


def mini_sop(jpeg: bytes) -> bytes:
    files: dict[str, bytes] = {}
    image_id = 0
    for split, classes in (("train", TRAIN), ("test", TEST)):
        lines = ["image_id class_id super_class_id path"]
        for cid, n in classes.items():
            for k in range(n):
                image_id += 1
                rel = f"{'bicycle' if cid % 2 else 'chair'}_final/{100000 + cid}_{k}.JPG"
                files[f"Stanford_Online_Products/{rel}"] = jpeg
                lines.append(f"{image_id} {cid} {1 + cid % 2} {rel}")
        files[f"Stanford_Online_Products/Ebay_{split}.txt"] = ("\n".join(lines) + "\n").encode()
    files["Stanford_Online_Products/Ebay_info.txt"] = b"image_id class_id super_class_id path\n"
    return make_zip(files)


def test_sop_download_resume_verify_extract_convert(download_drill, std_protocol, jpeg) -> None:
    result = download_drill("sop", {"Stanford_Online_Products.zip": mini_sop(jpeg)})
    conv = result.conversion
    assert (conv.classes, conv.images) == (5, 10)
    assert (conv.splits["train"].classes, conv.splits["train"].images) == (3, 6)
    assert (conv.splits["test"].classes, conv.splits["test"].images) == (2, 4)
    ds = from_manifest(conv.manifest)
    assert ds.class_names == ["00001", "00002", "11318", "11319", "22634"]
    assert {m["super_class"] for m in ds.metadata} == {"1", "2"}

    protocol = std_protocol("sop")
    assert protocol.classes("test") == ["11319", "22634"]
    assert sorted(protocol.classes("train") + protocol.classes("val")) == ["00001", "00002", "11318"]
