"""ItemDataset decodes every image item kind the data layer produces (zip members included)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.data.images import ZipMember
from lookalike.data.types import LabeledDataset
from lookalike.training.datasets import ItemDataset


def test_zip_member_items_are_decoded(tmp_path: Path) -> None:
    archive = tmp_path / "chars.zip"
    buf = io.BytesIO()
    Image.fromarray(np.full((12, 10), 255, dtype=np.uint8)).save(buf, format="PNG")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/1.png", buf.getvalue())
    ds = LabeledDataset("image", [ZipMember(str(archive), "a/1.png")], np.array([0]), ["a"])
    image, label = ItemDataset(ds, transform=lambda im: im)[0]
    assert label == 0
    assert image.size == (10, 12)
    assert image.mode == "RGB"
