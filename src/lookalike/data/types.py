"""The one dataset type every source produces.

A :class:`LabeledDataset` is a list of items of one *kind* with integer labels and class names:

- ``"image"``: items are file paths (``str``), in-memory ``numpy`` uint8 arrays (H, W[, C]), encoded
  ``bytes`` or :class:`~lookalike.data.images.ZipMember` references; :meth:`load` returns an RGB ``PIL.Image``.
- ``"text"``: items are strings; :meth:`load` returns the string.
- ``"vector"``: items are rows of a float32 matrix; :meth:`load` returns a 1-D ``numpy`` array.

Labels are ``int64`` indices into ``class_names``; label ``-1`` marks an item that belongs to no known class
(e.g. CLINC150 out-of-scope utterances, FlickrLogos-27 ``none`` queries): it must come out "unknown".
``metadata`` holds optional per-item dicts (``split``, ``is_query``, ``is_gallery``, box ...); an image item
whose metadata has ``box`` = (x1, y1, x2, y2) is cropped to it by :meth:`load`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lookalike.errors import DataError

Kind = Literal["image", "text", "vector"]
UNKNOWN_LABEL = -1


@dataclass
class LabeledDataset:
    """Items of one kind with labels. Cheap to subset; loading happens per item in :meth:`load`."""

    kind: Kind
    items: Sequence[Any]
    labels: np.ndarray
    class_names: list[str]
    metadata: list[dict[str, Any]] | None = None
    name: str = "dataset"
    #: image decoding options used by :meth:`load` (max_pixels guards against decompression bombs)
    max_pixels: int = field(default=50_000_000, repr=False)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.labels.ndim != 1 or len(self.labels) != len(self.items):
            raise DataError(
                f"{self.name}: {len(self.items)} items but {self.labels.shape} labels; give one label per item"
            )
        if self.metadata is not None and len(self.metadata) != len(self.items):
            raise DataError(f"{self.name}: metadata must have one dict per item ({len(self.items)})")
        if len(self.labels) and (self.labels.max(initial=-1) >= len(self.class_names) or self.labels.min() < -1):
            raise DataError(f"{self.name}: labels must lie in [-1, {len(self.class_names) - 1}]")

    def __len__(self) -> int:
        return len(self.items)

    def load(self, i: int) -> Any:
        """The decoded item ``i``: a ``PIL.Image`` (RGB), a ``str`` or a 1-D float32 array."""
        item = self.items[i]
        if self.kind == "image":
            from lookalike.data.images import load_image

            image = load_image(item, max_pixels=self.max_pixels)
            box = self.metadata[i].get("box") if self.metadata is not None else None
            return image.crop((int(box[0]), int(box[1]), int(box[2]), int(box[3]))) if box is not None else image
        if self.kind == "vector":
            return np.asarray(item, dtype=np.float32)
        return str(item)

    def describe(self) -> str:
        """One line: name, kind, item and class counts (and unknown items, if any)."""
        n_unknown = int((self.labels == UNKNOWN_LABEL).sum())
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(self.class_names))
        present = counts[counts > 0]
        per_class = f", {int(present.min())}-{int(present.max())} per class" if len(present) else ""
        unknown = f", {n_unknown} unknown" if n_unknown else ""
        return f"{self.name}: {len(self)} {self.kind} items, {len(present)} classes{per_class}{unknown}"

    def label_name(self, i: int) -> str:
        lab = int(self.labels[i])
        return "unknown" if lab == UNKNOWN_LABEL else self.class_names[lab]

    def subset(self, indices: Sequence[int] | np.ndarray, *, name: str | None = None) -> LabeledDataset:
        """Items at ``indices``; keeps all class names (labels unchanged)."""
        idx = np.asarray(indices, dtype=np.int64)
        items: Any
        items = self.items[idx] if isinstance(self.items, np.ndarray) else [self.items[int(i)] for i in idx]
        meta = [self.metadata[int(i)] for i in idx] if self.metadata is not None else None
        return LabeledDataset(
            self.kind, items, self.labels[idx], list(self.class_names), meta, name or self.name, self.max_pixels
        )

    def select_classes(self, names: Sequence[str], *, name: str | None = None) -> LabeledDataset:
        """Only the items of the classes ``names``, relabelled 0..len(names)-1 in the given order."""
        index = {n: i for i, n in enumerate(self.class_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise DataError(
                f"{self.name}: unknown classes {missing[:10]}; the dataset has {len(self.class_names)} classes "
                f"such as {self.class_names[:5]}"
            )
        old = np.array([index[n] for n in names], dtype=np.int64)
        remap = np.full(len(self.class_names) + 1, -2, dtype=np.int64)
        remap[old] = np.arange(len(names))
        keep = np.nonzero(np.isin(self.labels, old))[0]
        sub = self.subset(keep, name=name)
        return LabeledDataset(
            sub.kind, sub.items, remap[sub.labels], list(names), sub.metadata, sub.name, self.max_pixels
        )

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(self.class_names))
        return {n: int(c) for n, c in zip(self.class_names, counts, strict=True)}


__all__ = ["UNKNOWN_LABEL", "Kind", "LabeledDataset"]
