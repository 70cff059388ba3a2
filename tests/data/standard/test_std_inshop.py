"""In-Shop against a mini img.zip + list_eval_partition.txt (no published checksum), served on 127.0.0.1."""

from __future__ import annotations

import pytest
from std_archives import make_zip

from lookalike.data.manifest import from_manifest
from lookalike.data.standard import prepare
from lookalike.errors import ChecksumError, DownloadError

pytestmark = pytest.mark.server

# item -> [(file, status)]
ITEMS = {
    "id_00000001": [("01_1_front.jpg", "train"), ("01_2_side.jpg", "train")],
    "id_00000002": [("02_1_front.jpg", "train")],
    "id_00000003": [("03_1_front.jpg", "query"), ("03_2_side.jpg", "query"), ("03_3_back.jpg", "gallery")],
    "id_00000004": [("04_1_front.jpg", "query"), ("04_2_side.jpg", "gallery"), ("04_3_back.jpg", "gallery")],
}


def mini_inshop(jpeg: bytes) -> dict[str, bytes]:
    images, lines = {}, []
    for item, files in ITEMS.items():
        for name, status in files:
            rel = f"img/WOMEN/Dresses/{item}/{name}"
            images[rel] = jpeg
            lines.append(f"{rel}                 {item}   {status}")
    partition = f"{len(lines)}\nimage_name item_id evaluation_status\n" + "\n".join(lines) + "\n"
    return {"img.zip": make_zip(images), "list_eval_partition.txt": partition.encode()}


def test_inshop_manual_only_download_resume_recorded_checksum_and_query_gallery(
    download_drill, std_protocol, jpeg, tmp_path
) -> None:
    with pytest.raises(DownloadError, match=r"img\.zip, list_eval_partition\.txt.*downloads"):
        prepare("inshop", tmp_path / "offline", progress=False)

    result = download_drill("inshop", mini_inshop(jpeg))
    conv = result.conversion
    assert (conv.classes, conv.images) == (4, 9)
    assert (conv.splits["train"].classes, conv.splits["train"].images) == (2, 3)
    assert (conv.splits["test"].classes, conv.splits["test"].images) == (2, 6)
    ds = from_manifest(conv.manifest)
    assert sum(m["is_query"] for m in ds.metadata) == 3
    assert sum(m["is_gallery"] for m in ds.metadata) == 3

    protocol = std_protocol("inshop")
    assert protocol.classes("test") == ["id_00000003", "id_00000004"]
    test = protocol.dataset("test")
    assert [m["is_query"] for m in test.metadata].count(True) == 3

    # no checksum is published: the first verified copy's sha256 was recorded and is enforced from then on
    downloads = result.root / "downloads"
    assert (downloads / "list_eval_partition.txt.sha256").is_file()
    (downloads / "list_eval_partition.txt").write_text("0\nimage_name item_id evaluation_status\n")
    with pytest.raises(ChecksumError, match=r"list_eval_partition\.txt.*recorded in"):
        prepare("inshop", result.root, progress=False)
