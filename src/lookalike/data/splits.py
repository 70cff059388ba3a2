"""Class-disjoint splits: choose classes, carve validation classes out of training ones, k-shot enrollment.

Splits are always by *class*, never by image: a held-out class contributes no image to training.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from lookalike.data.types import UNKNOWN_LABEL, LabeledDataset
from lookalike.errors import DataError

log = logging.getLogger(__name__)


def natural_key(text: str) -> list[int | str]:
    """Sort key that orders ``s2`` before ``s10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def keep_classes(ds: LabeledDataset, names: Sequence[str], *, keep_unknown: bool = False, name: str) -> LabeledDataset:
    """Items of ``names`` relabelled 0..k-1 in that order; unknown (-1) items kept if ``keep_unknown``."""
    index = {n: i for i, n in enumerate(ds.class_names)}
    missing = [n for n in names if n not in index]
    if missing:
        raise DataError(f"{ds.name}: classes {missing[:10]} are not in the data (it has e.g. {ds.class_names[:5]})")
    remap = np.full(len(ds.class_names), -2, dtype=np.int64)
    remap[[index[n] for n in names]] = np.arange(len(names))
    labels = np.where(ds.labels >= 0, remap[np.maximum(ds.labels, 0)], UNKNOWN_LABEL)
    keep = labels >= 0
    if keep_unknown:
        keep |= ds.labels == UNKNOWN_LABEL
    sub = ds.subset(np.nonzero(keep)[0], name=name)
    return LabeledDataset(sub.kind, sub.items, labels[keep], list(names), sub.metadata, name, ds.max_pixels)


def carve_validation(
    train_classes: Sequence[str], *, fraction: float | None = None, names: Sequence[str] | None = None, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split training classes into (train, val): a seeded ``fraction`` of them, or the explicit ``names``."""
    classes = list(train_classes)
    if names is not None:
        outside = [n for n in names if n not in classes]
        if outside:
            raise DataError(f"validation classes {outside[:10]} are not training classes; val is carved from train")
        val = list(names)
    else:
        if fraction is None or not 0.0 < fraction < 1.0:
            raise DataError(f"validation fraction must lie strictly between 0 and 1; got {fraction}")
        k = max(1, round(fraction * len(classes)))
        if k >= len(classes):
            raise DataError(f"val fraction {fraction} of {len(classes)} classes leaves no training class")
        rng = np.random.default_rng(seed)
        chosen = set(rng.choice(len(classes), size=k, replace=False).tolist())
        val = [c for i, c in enumerate(classes) if i in chosen]
    val_set = set(val)
    return [c for c in classes if c not in val_set], val


def class_folds(labels: np.ndarray, *, folds: int, fraction: float, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train items, validation items) per fold: a seeded ``fraction`` of the classes held out each time (the
    carve-outs ``lookalike fit`` scores candidates on, and ``trainer.ensemble`` trains its members on)."""
    classes = np.unique(labels)
    k = max(3, round(fraction * len(classes)))  # 3+ classes: 2-class retrieval flatters every candidate
    out = []
    for f in range(folds):
        rng = np.random.default_rng([seed, f])
        val = rng.choice(classes, size=min(k, len(classes) - 2), replace=False)
        is_val = np.isin(labels, val)
        out.append((np.nonzero(~is_val)[0], np.nonzero(is_val)[0]))
    return out


class KShotSplit(NamedTuple):
    """An enrollment split: ``gallery`` (``shots`` items per class) and ``queries`` (the rest)."""

    gallery: LabeledDataset
    queries: LabeledDataset


def kshot_indices(
    labels: np.ndarray,
    shots: int,
    rng: np.random.Generator,
    *,
    classes: Sequence[int] | np.ndarray | None = None,
    small: Literal["error", "whole"] = "error",
    class_names: Sequence[str] | None = None,
    source: str = "data",
) -> np.ndarray:
    """The one k-shot splitter: sorted indices of ``shots`` items drawn per class (``classes``, default every
    known label in ascending order) with ``rng``, one class after another; the other items are the queries.

    A class with fewer than ``shots`` items is an error (``small="error"``) or enrolled whole (``"whole"``).
    """
    if shots < 1:
        raise DataError(f"shots must be at least 1; got {shots}")
    wanted = np.unique(labels[labels >= 0]) if classes is None else np.asarray(classes)
    gallery: list[int] = []
    too_small: list[str] = []
    for c in wanted:
        idx = np.nonzero(labels == c)[0]
        if len(idx) < shots and small == "error":
            too_small.append(f"{class_names[int(c)] if class_names is not None else int(c)} ({len(idx)})")
            continue
        if len(idx) == shots and small == "error":
            log.info("%s: class %s has exactly %d items: all enrolled, none queried", source, c, shots)
        gallery.extend(rng.choice(idx, size=min(shots, len(idx)), replace=False).tolist())
    if too_small:
        raise DataError(
            f"{source}: {len(too_small)} classes have fewer than {shots} items for a {shots}-shot gallery: "
            f"{', '.join(too_small[:10])}; use fewer shots or drop those classes"
        )
    return np.sort(np.asarray(gallery, dtype=np.int64))


def kshot_split(dataset: LabeledDataset, shots: int, seed: int = 0) -> KShotSplit:
    """Per class, ``shots`` randomly chosen items go to the gallery and the rest to the queries.

    Unknown items (label -1) always go to the queries. A class with fewer than ``shots`` items is an error;
    a class with exactly ``shots`` items has no queries (logged).
    """
    g = kshot_indices(
        dataset.labels, shots, np.random.default_rng(seed), class_names=dataset.class_names, source=dataset.name
    )
    q = np.setdiff1d(np.arange(len(dataset)), g)
    return KShotSplit(
        dataset.subset(g, name=f"{dataset.name}/gallery-{shots}shot"),
        dataset.subset(q, name=f"{dataset.name}/queries-{shots}shot"),
    )


def query_gallery_split(dataset: LabeledDataset) -> KShotSplit:
    """Gallery and queries from the per-item metadata flags ``is_gallery`` / ``is_query`` (e.g. In-Shop)."""
    meta = dataset.metadata
    if meta is None or not any("is_query" in m or "is_gallery" in m for m in meta):
        raise DataError(f"{dataset.name}: no is_query / is_gallery metadata; use kshot_split instead")
    g = [i for i, m in enumerate(meta) if m.get("is_gallery")]
    q = [i for i, m in enumerate(meta) if m.get("is_query")]
    return KShotSplit(
        dataset.subset(g, name=f"{dataset.name}/gallery"), dataset.subset(q, name=f"{dataset.name}/queries")
    )


__all__ = [
    "KShotSplit",
    "carve_validation",
    "class_folds",
    "keep_classes",
    "kshot_indices",
    "kshot_split",
    "natural_key",
    "query_gallery_split",
]
