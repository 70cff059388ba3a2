"""LFW against a mini lfw.tgz + pairs.txt, served over HTTP on 127.0.0.1."""

from __future__ import annotations

import csv

import pytest
from std_archives import make_tgz

from lookalike.data.manifest import from_manifest

pytestmark = pytest.mark.server

PEOPLE = {"Alice_Smith": 3, "Bob_Jones": 2, "Carol_King": 1, "Dan_Brown": 2}
# header: 2 folds of 2 matched + 2 mismatched pairs
PAIRS = """2\t2
Alice_Smith\t1\t2
Bob_Jones\t1\t2
Alice_Smith\t1\tCarol_King\t1
Bob_Jones\t2\tDan_Brown\t1
Alice_Smith\t2\t3
Dan_Brown\t1\t2
Carol_King\t1\tDan_Brown\t2
Alice_Smith\t3\tBob_Jones\t1
"""


def mini_lfw(jpeg: bytes) -> dict[str, bytes]:
    images = {f"lfw/{p}/{p}_{i:04d}.jpg": jpeg for p, n in PEOPLE.items() for i in range(1, n + 1)}
    return {"lfw.tgz": make_tgz(images), "pairs.txt": PAIRS.encode()}


def test_lfw_download_resume_verify_extract_convert_pairs(download_drill, std_protocol, jpeg) -> None:
    result = download_drill("lfw", mini_lfw(jpeg))
    conv = result.conversion
    assert (conv.classes, conv.images, conv.pairs) == (4, 8, 8)
    assert from_manifest(conv.manifest).class_counts() == PEOPLE
    with open(conv.extra["pairs"], newline="") as f:
        pairs = list(csv.DictReader(f))
    assert [p["same"] for p in pairs] == ["1", "1", "0", "0"] * 2
    assert [p["fold"] for p in pairs] == ["1"] * 4 + ["2"] * 4
    assert pairs[3] == {"path_a": "lfw/Bob_Jones/Bob_Jones_0002.jpg", "path_b": "lfw/Dan_Brown/Dan_Brown_0001.jpg",
                        "same": "0", "fold": "1"}  # fmt: skip
    assert all((result.root / p[k]).is_file() for p in pairs for k in ("path_a", "path_b"))

    protocol = std_protocol("lfw")
    assert protocol.classes("train") == [] and protocol.classes("test") == sorted(PEOPLE)
    assert len(protocol.dataset("test")) == 8
