"""What every standard dataset module provides, and the manifest writer they share."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.data.download import RemoteFile
from lookalike.errors import DataError
from lookalike.registry import Registry

MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class SplitCount:
    """How many classes and images one split holds."""

    classes: int
    images: int


@dataclass(frozen=True)
class Conversion:
    """What converting an extracted dataset produced."""

    manifest: Path
    classes: int
    images: int
    splits: dict[str, SplitCount]
    #: further files written beside the manifest, by role ("pairs", "queries")
    extra: dict[str, Path] = field(default_factory=dict)
    #: number of verification pairs (LFW) or 0
    pairs: int = 0


@dataclass(frozen=True)
class StandardDataset:
    """A published benchmark: where its files are, what they hold, and how to turn them into a manifest.

    ``classes``/``images`` and ``size_bytes`` of the files are the published figures (sizes rounded);
    ``split`` describes the literature's split that ``convert`` writes into the manifest's ``split`` column.
    """

    name: str
    title: str
    page: str
    files: tuple[RemoteFile, ...]
    licence: str
    classes: int
    images: int
    split: str
    convert: Callable[[Path], Conversion]

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes or 0 for f in self.files)


DATASETS: Registry[StandardDataset] = Registry("standard dataset")


def read_columns(path: Path, *, min_fields: int, skip: int = 0) -> list[list[str]]:
    """Whitespace-separated fields of each non-blank line of a dataset's index file, after ``skip`` lines."""
    if not path.is_file():
        raise DataError(f"{path} is missing: the archive was not extracted fully or is not the published one")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if lineno <= skip or not line.strip():
                continue
            parts = line.split()
            if len(parts) < min_fields:
                raise DataError(f"{path}:{lineno}: expected at least {min_fields} fields, got {line.strip()!r}")
            rows.append(parts)
    return rows


def check_files(root: Path, rel_paths: Iterable[str], *, dataset: str) -> None:
    """Raise :class:`DataError` if any listed image is absent under ``root``."""
    missing = [p for p in rel_paths if not (root / p).is_file()]
    if missing:
        raise DataError(
            f"{dataset}: {len(missing)} images listed in the annotations are absent under {root}, e.g. {missing[:3]}; "
            "the archive is incomplete. Delete the extracted folder and run the download again."
        )


def write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Write ``rows`` (dicts keyed by ``columns``) as a CSV with a header line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def count_splits(rows: Sequence[dict[str, Any]]) -> dict[str, SplitCount]:
    """Classes and images per value of the ``split`` column (rows without a split are counted under "all")."""
    labels: dict[str, set[str]] = {}
    images: dict[str, int] = {}
    for r in rows:
        s = r.get("split") or "all"
        labels.setdefault(s, set()).add(r["label"])
        images[s] = images.get(s, 0) + 1
    return {s: SplitCount(classes=len(labels[s]), images=images[s]) for s in sorted(labels)}


def finish(root: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str], **extra: Any) -> Conversion:
    """Write ``root/manifest.csv`` and return the :class:`Conversion` describing it."""
    if not rows:
        raise DataError(f"no images found under {root}; the archive was not extracted or is not the published one")
    manifest = write_csv(root / MANIFEST, rows, columns)
    return Conversion(
        manifest=manifest,
        classes=len({r["label"] for r in rows}),
        images=len(rows),
        splits=count_splits(rows),
        **extra,
    )


__all__ = [
    "DATASETS",
    "MANIFEST",
    "Conversion",
    "SplitCount",
    "StandardDataset",
    "check_files",
    "count_splits",
    "finish",
    "read_columns",
    "write_csv",
]
