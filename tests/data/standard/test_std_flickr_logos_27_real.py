"""The FlickrLogos-27 converter on the real annotation files and photos in ../shared/data (a subset)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.data.manifest import from_manifest
from lookalike.data.standard.flickr_logos_27 import FOLDER, convert


@pytest.mark.realdata
def test_flickr_logos_27_converter_on_the_real_layout(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / FOLDER).symlink_to(shared_data / "flickr_logos_27" / "raw", target_is_directory=True)
    conv = convert(tmp_path)
    # 87 box lines (a header line, one box per training subset) -> 28 distinct non-empty boxes of 27 brands
    assert (conv.classes, conv.images) == (27, 28)
    assert (conv.splits["train"].classes, conv.splits["test"].classes) == (17, 10)
    ds = from_manifest(conv.manifest)
    assert all(m["box"][2] > m["box"][0] for m in ds.metadata)
    queries = from_manifest(conv.extra["queries"])
    assert len(queries) == 54 and sum(queries.label_name(i) == "unknown" for i in range(54)) == 27
    assert conv.manifest.parent == tmp_path  # nothing written into the shared folder
