"""Decoded-image cache: decode + resize once into a uint8 memory-mapped array, so later epochs never decode.

Layout under ``root``::

    <geometry-digest>/images.u8    rows of uint8 (3, S, S), appended as new images arrive
    <geometry-digest>/index.json   {"geometry": {...}, "rows": {content key: row}}
    file_hashes.json               memo path -> (size, mtime_ns, sha1) so unchanged files are not re-read

A row's content key is the SHA-1 of the encoded bytes (file, bytes, zip member or array) plus the item's crop
box; the geometry digest covers size, resize mode, crop_pct and interpolation. The same image in two datasets
is stored once; a changed file or transform gets a new row. One process should build a cache at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lookalike.data.images import ZipMember
from lookalike.data.transforms import Preprocess, resize_uint8
from lookalike.data.types import LabeledDataset
from lookalike.errors import DataError

log = logging.getLogger(__name__)
_FORMAT = 1


class CachedImages(Dataset):
    """A torch Dataset over cached rows: ``(uint8 tensor (3, S, S), label)``. Picklable (reopens the memmap)."""

    def __init__(self, *, path: str, size: int, rows: np.ndarray, labels: np.ndarray, class_names: list[str]) -> None:
        self.path = path
        self.size = size
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names)
        self._mm: np.memmap | None = None

    def _array(self) -> np.memmap:
        if self._mm is None:
            n = os.path.getsize(self.path) // (3 * self.size * self.size)
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(n, 3, self.size, self.size))
        return self._mm

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self._array()[self.rows[i]])), int(self.labels[i])

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        """Batched read (DataLoader uses it): one fancy-index into the memmap."""
        block = torch.from_numpy(np.asarray(self._array()[self.rows[np.asarray(indices)]]))
        return [(block[k], int(self.labels[i])) for k, i in enumerate(indices)]

    def array(self) -> np.ndarray:
        """All rows of this dataset as one (N, 3, S, S) uint8 array (read into memory)."""
        return np.asarray(self._array()[self.rows])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_mm": None}


def _item_bytes(item: Any) -> bytes:
    if isinstance(item, ZipMember):
        return item.read_bytes()
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, np.ndarray):
        return repr((item.shape, str(item.dtype))).encode() + np.ascontiguousarray(item).tobytes()
    return Path(item).read_bytes()


class DecodedCache:
    """Decode and resize images once into ``root``; :meth:`build` returns a :class:`CachedImages`.

    ``size`` defaults to the preprocessing's input size; store larger (e.g. ``int(224 / 0.875)``) when a
    :class:`~lookalike.data.transforms.BatchAugment` will random-crop from the cached images.
    """

    def __init__(self, *, root: str | Path, preprocess: Preprocess, size: int | None = None, threads: int = 4) -> None:
        self.root = Path(root)
        self.preprocess = preprocess
        self.size = int(size or preprocess.input_size)
        self.threads = threads

    def geometry(self) -> dict[str, Any]:
        p = self.preprocess
        return {"format": _FORMAT, "size": self.size, "resize": p.resize, "crop_pct": p.crop_pct,
                "interpolation": p.interpolation}  # fmt: skip

    def _folder(self) -> Path:
        digest = hashlib.sha1(json.dumps(self.geometry(), sort_keys=True).encode()).hexdigest()[:16]
        return self.root / digest

    def _keys(self, ds: LabeledDataset) -> list[str]:
        memo_path = self.root / "file_hashes.json"
        memo: dict[str, list[Any]] = json.loads(memo_path.read_text()) if memo_path.is_file() else {}
        keys = []
        for i, item in enumerate(ds.items):
            sha = None
            if isinstance(item, (str, Path)):
                st = Path(item).stat()
                known = memo.get(str(item))
                if known and known[0] == st.st_size and known[1] == st.st_mtime_ns:
                    sha = known[2]
                else:
                    sha = hashlib.sha1(_item_bytes(item)).hexdigest()
                    memo[str(item)] = [st.st_size, st.st_mtime_ns, sha]
            else:
                sha = hashlib.sha1(_item_bytes(item)).hexdigest()
            box = ds.metadata[i].get("box") if ds.metadata is not None else None
            keys.append(sha if box is None else f"{sha}@{','.join(str(int(v)) for v in box)}")
        self.root.mkdir(parents=True, exist_ok=True)
        memo_path.write_text(json.dumps(memo))
        return keys

    def _decode(self, ds: LabeledDataset, i: int) -> np.ndarray:
        return resize_uint8(ds.load(i), self.preprocess, size=self.size)

    def build(self, dataset: LabeledDataset) -> CachedImages:
        """Rows for every item of ``dataset``, decoding only images not cached yet (logged)."""
        if dataset.kind != "image":
            raise DataError(f"{dataset.name}: the decoded cache holds images; this dataset holds {dataset.kind}")
        folder = self._folder()
        folder.mkdir(parents=True, exist_ok=True)
        index_path, data_path = folder / "index.json", folder / "images.u8"
        index = (
            json.loads(index_path.read_text()) if index_path.is_file() else {"geometry": self.geometry(), "rows": {}}
        )
        rows: dict[str, int] = index["rows"]
        row_bytes = 3 * self.size * self.size
        stored = data_path.stat().st_size // row_bytes if data_path.exists() else 0
        rows = {k: r for k, r in rows.items() if r < stored}  # drop rows a crashed build never wrote
        keys = self._keys(dataset)
        todo: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in rows and k not in todo:
                todo[k] = i
        if todo:
            log.info("%s: decoding %d of %d images into %s", dataset.name, len(todo), len(keys), folder)
            with ThreadPoolExecutor(max_workers=max(1, self.threads)) as pool, data_path.open("ab") as f:
                f.truncate(stored * row_bytes)
                for k, arr in zip(todo, pool.map(lambda i: self._decode(dataset, i), todo.values()), strict=True):
                    f.write(arr.tobytes())
                    rows[k] = stored
                    stored += 1
            index["rows"] = rows
            tmp = index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(index))
            tmp.replace(index_path)
        return CachedImages(
            path=str(data_path),
            size=self.size,
            rows=np.asarray([rows[k] for k in keys], dtype=np.int64),
            labels=dataset.labels,
            class_names=dataset.class_names,
        )


__all__ = ["CachedImages", "DecodedCache"]
