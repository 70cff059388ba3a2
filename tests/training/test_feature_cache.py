"""The frozen-backbone feature cache (lookalike.training.features): its key follows what the pixels depend on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.data.types import LabeledDataset
from lookalike.models.encoders import build_encoder
from lookalike.training.features import cached_features


def _image(path: Path, seed: int) -> str:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_a_file_replaced_in_place_gets_new_features(tmp_path: Path) -> None:
    items = [_image(tmp_path / f"{i}.png", i) for i in range(4)]
    ds = LabeledDataset("image", items, np.array([0, 0, 1, 1]), ["a", "b"])
    enc = build_encoder("pixels", size=4)
    before = cached_features(enc, ds, cache_dir=tmp_path / "cache")[0]
    assert np.allclose(cached_features(enc, ds, cache_dir=tmp_path / "cache")[0], before)  # served from the cache
    _image(tmp_path / "2.png", 99)  # same path, other pixels (a relabelled or re-exported crop)
    stat = os.stat(items[2])
    os.utime(items[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # coarse file-system clocks
    after = cached_features(enc, ds, cache_dir=tmp_path / "cache")[0]
    fresh = cached_features(enc, ds, cache_dir=tmp_path / "other")[0]
    assert np.allclose(after, fresh) and not np.allclose(after[2], before[2])
    assert np.allclose(after[[0, 1, 3]], before[[0, 1, 3]])


def test_another_crop_box_gets_new_features(tmp_path: Path) -> None:
    img = np.zeros((16, 16, 3), np.uint8)
    img[:8] = 255  # top half white, bottom half black
    Image.fromarray(img).save(tmp_path / "photo.png")
    items, labels = [str(tmp_path / "photo.png")] * 2, np.array([0, 1])
    enc = build_encoder("pixels", size=4)

    def features(boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
        ds = LabeledDataset("image", items, labels, ["a", "b"], [{"box": b} for b in boxes])
        return cached_features(enc, ds, cache_dir=tmp_path / "cache")[0]

    top = features([(0, 0, 16, 8), (0, 8, 16, 16)])
    swapped = features([(0, 8, 16, 16), (0, 0, 16, 8)])
    assert np.allclose(top[0], swapped[1]) and not np.allclose(top[0], swapped[0])
