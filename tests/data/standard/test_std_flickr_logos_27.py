"""FlickrLogos-27 against a mini archive (nested images tar, box annotations, queries), served on 127.0.0.1."""

from __future__ import annotations

import csv

import pytest
from std_archives import FL27_BRANDS, mini_flickr_logos_27

from lookalike.data.manifest import from_manifest

pytestmark = pytest.mark.server


def test_flickr_logos_27_download_resume_extract_convert(download_drill, jpeg) -> None:
    result = download_drill("flickr_logos_27", {"flickr_logos_27_dataset.tar.gz": mini_flickr_logos_27(jpeg)})
    conv = result.conversion
    # duplicates across training subsets collapse, the empty box is dropped: one box per brand
    assert (conv.classes, conv.images) == (27, 27)
    assert (conv.splits["train"].classes, conv.splits["test"].classes) == (17, 10)
    ds = from_manifest(conv.manifest)
    train = {ds.class_names[int(lab)] for lab, m in zip(ds.labels, ds.metadata, strict=True) if m["split"] == "train"}
    assert train == set(sorted(FL27_BRANDS)[:17]) and "Nike" in train and "Pepsi" not in train
    assert ds.metadata[0]["box"] == (1, 1, 6, 6)
    with open(conv.extra["queries"], newline="") as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["Adidas", "Yahoo", ""]
    queries = from_manifest(conv.extra["queries"])
    assert queries.label_name(2) == "unknown"
    assert (result.root / "downloads" / "flickr_logos_27_dataset.tar.gz.sha256").is_file()
