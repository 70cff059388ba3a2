"""Decoded cache: decode once, reuse across builds, keyed by content + geometry, loads through a DataLoader."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fakes import jpeg_bytes
from torch.utils.data import DataLoader

from lookalike.data.cache import DecodedCache
from lookalike.data.sources import from_digits, from_folder
from lookalike.data.transforms import Preprocess, resize_uint8


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for c in ("a", "b"):
        (tmp_path / "set" / c).mkdir(parents=True)
        for k in range(3):
            (tmp_path / "set" / c / f"{k}.jpg").write_bytes(jpeg_bytes((30 + k, 20), seed=k + 7 * (c == "b")))
    return tmp_path / "set"


def test_rows_hold_the_resized_images_and_second_build_decodes_nothing(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = from_folder(folder)
    pre = Preprocess(input_size=16)
    cache = DecodedCache(root=tmp_path / "cache", preprocess=pre)
    cached = cache.build(ds)
    assert len(cached) == 6
    x, y = cached[4]
    assert x.dtype == torch.uint8 and x.shape == (3, 16, 16) and y == 1
    assert np.array_equal(x.numpy(), resize_uint8(ds.load(4), pre))

    def no_decoding(*args: object) -> None:
        raise AssertionError("a cached image was decoded again")

    monkeypatch.setattr(DecodedCache, "_decode", no_decoding)
    again = DecodedCache(root=tmp_path / "cache", preprocess=pre).build(ds)
    assert np.array_equal(again.array(), cached.array())


def test_changed_content_or_geometry_gets_new_rows(folder: Path, tmp_path: Path) -> None:
    ds = from_folder(folder)
    root = tmp_path / "cache"
    first = DecodedCache(root=root, preprocess=Preprocess(input_size=16)).build(ds)
    (folder / "a" / "0.jpg").write_bytes(jpeg_bytes((30, 20), seed=99))
    second = DecodedCache(root=root, preprocess=Preprocess(input_size=16)).build(ds)
    assert second.rows[0] == 6 and second.rows[1:].tolist() == first.rows[1:].tolist()
    assert not np.array_equal(second[0][0].numpy(), first[0][0].numpy())
    bigger = DecodedCache(root=root, preprocess=Preprocess(input_size=16), size=20).build(ds)
    assert bigger[0][0].shape == (3, 20, 20) and Path(bigger.path).parent != Path(first.path).parent


def test_array_items_and_dataloader_with_batched_reads(tmp_path: Path) -> None:
    ds = from_digits().subset(range(40))
    cached = DecodedCache(root=tmp_path / "c", preprocess=Preprocess(input_size=32, resize="squash")).build(ds)
    restored = pickle.loads(pickle.dumps(cached))  # DataLoader workers get a copy
    batches = list(DataLoader(restored, batch_size=16))
    assert [b[0].shape[0] for b in batches] == [16, 16, 8]
    assert batches[0][0].dtype == torch.uint8 and batches[0][1].tolist() == ds.labels[:16].tolist()
    assert len(list(Path(tmp_path / "c").rglob("images.u8"))) == 1
