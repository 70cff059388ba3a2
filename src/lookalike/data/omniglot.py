"""Omniglot read straight from its published zips (no extraction).

- :func:`from_omniglot_zip`: ``images_background*.zip`` / ``images_evaluation.zip`` laid out as
  ``<top>/<alphabet>/<character>/<drawer>.png``; label = ``"alphabet/character"``.
- :func:`omniglot_runs`: ``all_runs.zip``, the 20 official 20-way one-shot runs (``runNN/training/classKK.png``
  the 20 references, ``runNN/test/itemKK.png`` the 20 probes, ``class_labels.txt`` the answer key).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.data.images import DEFAULT_MAX_PIXELS, ZipMember
from lookalike.data.types import LabeledDataset
from lookalike.errors import DataError


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise DataError(f"Omniglot archive {str(path)!r} does not exist; check the path (see docs/data.md)")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise DataError(f"{path}: not a valid zip archive ({err}); re-download it") from None


def from_omniglot_zip(
    zip_path: str | Path,
    *,
    alphabets: Sequence[str] | None = None,
    exclude_alphabets: Sequence[str] = (),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> LabeledDataset:
    """Characters of an Omniglot zip as an image dataset; items are :class:`ZipMember` references.

    ``alphabets`` keeps only those alphabets (all by default); ``exclude_alphabets`` drops some. Class names
    (``alphabet/character``) are sorted.
    """
    path = Path(zip_path)
    with _open_zip(path) as zf:
        members = [m for m in zf.namelist() if m.lower().endswith(".png")]
    by_class: dict[str, list[str]] = {}
    for m in members:
        parts = m.split("/")
        if len(parts) < 3:
            continue
        label = f"{parts[-3]}/{parts[-2]}"
        by_class.setdefault(label, []).append(m)
    if not by_class:
        raise DataError(f"{path}: no <alphabet>/<character>/*.png members; is this an Omniglot images zip?")
    present = sorted({c.split("/")[0] for c in by_class})
    wanted = set(alphabets) if alphabets is not None else set(present)
    unknown = sorted((wanted | set(exclude_alphabets)) - set(present))
    if unknown:
        raise DataError(f"{path}: alphabets {unknown} are not in the archive; it has {present}")
    wanted -= set(exclude_alphabets)
    names = sorted(c for c in by_class if c.split("/")[0] in wanted)
    items: list[ZipMember] = []
    labels: list[int] = []
    for i, c in enumerate(names):
        for m in sorted(by_class[c]):
            items.append(ZipMember(str(path), m))
            labels.append(i)
    return LabeledDataset(
        "image", items, np.asarray(labels, dtype=np.int64), names, None, name or path.stem, max_pixels
    )


def omniglot_alphabets(zip_path: str | Path) -> list[str]:
    """The alphabets present in an Omniglot images zip, sorted."""
    with _open_zip(Path(zip_path)) as zf:
        return sorted({p.split("/")[-3] for p in zf.namelist() if p.lower().endswith(".png") and p.count("/") >= 2})


@dataclass(frozen=True)
class OneShotRun:
    """One 20-way one-shot run: ``gallery`` holds one image per class, ``queries`` the probes with true labels."""

    name: str
    gallery: LabeledDataset
    queries: LabeledDataset


def omniglot_runs(zip_path: str | Path) -> list[OneShotRun]:
    """The official one-shot runs of ``all_runs.zip``; query labels index the run's gallery classes."""
    path = Path(zip_path)
    runs: list[OneShotRun] = []
    with _open_zip(path) as zf:
        keys = sorted(m for m in zf.namelist() if m.endswith("class_labels.txt"))
        if not keys:
            raise DataError(f"{path}: no runNN/class_labels.txt found; is this Omniglot's all_runs.zip?")
        for key in keys:
            run = key.split("/")[0]
            pairs = [line.split() for line in zf.read(key).decode().splitlines() if line.strip()]
            refs = sorted({ref for _, ref in pairs})
            index = {r: i for i, r in enumerate(refs)}
            gallery = LabeledDataset(
                "image", [ZipMember(str(path), r) for r in refs], np.arange(len(refs)), refs, None, f"{run}/gallery"
            )
            queries = LabeledDataset(
                "image",
                [ZipMember(str(path), q) for q, _ in pairs],
                np.asarray([index[r] for _, r in pairs]),
                refs,
                None,
                f"{run}/queries",
            )
            runs.append(OneShotRun(run, gallery, queries))
    return runs


__all__ = ["OneShotRun", "from_omniglot_zip", "omniglot_alphabets", "omniglot_runs"]
