"""CSV / Parquet manifests: one row per item.

Columns: ``path`` (image, relative paths resolve against the manifest's folder) or ``text``; ``label`` (a class
name; ``-1`` or an empty cell = unknown, i.e. belongs to no known class); optional ``split``, ``is_query``,
``is_gallery`` and a box ``x1, y1, x2, y2`` (the image is cropped to it on load). These and any other columns
go into each item's metadata.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.data.images import DEFAULT_MAX_PIXELS
from lookalike.data.scan import OnBad, check_on_bad, scan_images
from lookalike.data.types import UNKNOWN_LABEL, Kind, LabeledDataset
from lookalike.errors import DataError

BOX_COLUMNS = ("x1", "y1", "x2", "y2")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def _read_csv(path: Path) -> list[dict[str, Any]]:
    """UTF-8 rows (a BOM, as Excel's "CSV UTF-8" writes, is allowed); a row with more cells than the header is
    refused (an unquoted comma in a path would otherwise shift its label silently)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start}); save it as UTF-8 "
            "(in Excel: 'CSV UTF-8'), e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    rows = []
    for i, row in enumerate(csv.DictReader(io.StringIO(text, newline=""))):
        if None in row:  # DictReader files the surplus cells under None
            raise DataError(
                f"{path} row {i + 2} has {len(row) - 1 + len(row[None])} cells but the header has {len(row) - 1}; "
                'quote cells that hold a comma ("a,b.jpg")'
            )
        rows.append(dict(row))
    return rows


def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV or Parquet file as dicts (CSV values are strings)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is in the 'tables' extra
            raise DataError(f"{path}: reading Parquet needs pyarrow; pip install 'lookalike[tables]'") from None
        return pq.read_table(path).to_pylist()
    raise DataError(f"{path}: a manifest must be .csv or .parquet; got {suffix or 'no suffix'!r}")


def _as_bool(value: Any, column: str, row: int, path: Path) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise DataError(f"{path}: row {row + 2}, column {column!r} must be true/false or 1/0; got {value!r}")


def _label_text(value: Any) -> str | None:
    """The class name of a label cell, or None for unknown (-1, empty, missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return None if text in ("", "-1") else text


def from_manifest(
    path: str | Path,
    *,
    on_bad: OnBad = "error",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    check_files: bool = True,
    name: str | None = None,
) -> LabeledDataset:
    """A :class:`LabeledDataset` from a CSV or Parquet manifest (see the module docstring for the columns)."""
    check_on_bad(on_bad)
    manifest = Path(path)
    if not manifest.is_file():
        raise DataError(f"manifest {str(manifest)!r} does not exist; check the path")
    rows = read_table(manifest)
    if not rows:
        raise DataError(f"{manifest}: the manifest has no rows")
    columns = set(rows[0])
    kind = _kind(columns, manifest)
    has_box = _box_columns(columns, manifest)
    names = sorted({n for r in rows if (n := _label_text(r.get("label"))) is not None})
    index = {n: i for i, n in enumerate(names)}
    items: list[Any] = []
    labels: list[int] = []
    metadata: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []
    for i, row in enumerate(rows):
        meta = {k: v for k, v in row.items() if k not in ("path", "text", "label", *BOX_COLUMNS)}
        for col in ("is_query", "is_gallery"):
            if col in meta:
                meta[col] = _as_bool(meta[col], col, i, manifest)
        if kind == "image":
            p = Path(str(row["path"]))
            item: Any = str(p if p.is_absolute() else manifest.parent / p)
        else:
            text = row["text"]
            if text is None or not str(text).strip():  # a Parquet null was the text "None"
                bad.append((f"{manifest} row {i + 2}", "empty text; give the text of the item, or remove the row"))
                continue
            item = str(text)
        if has_box:
            try:
                box = tuple(int(float(row[c])) for c in BOX_COLUMNS)
            except (TypeError, ValueError):
                bad.append((f"{manifest} row {i + 2}", f"box {[row[c] for c in BOX_COLUMNS]} is not 4 numbers"))
                continue
            if box[2] <= box[0] or box[3] <= box[1]:
                bad.append((f"{manifest} row {i + 2}", f"degenerate box {box} (needs x2 > x1 and y2 > y1)"))
                continue
            meta["box"] = box
        label = _label_text(row.get("label"))
        items.append(item)
        labels.append(UNKNOWN_LABEL if label is None else index[label])
        metadata.append(meta)
    ds_name = name or manifest.stem
    if kind == "image" and check_files:
        good = scan_images(items, on_bad=on_bad, max_pixels=max_pixels, source=str(manifest), extra_bad=bad)
    else:
        if bad:
            scan_images([], on_bad=on_bad, max_pixels=max_pixels, source=str(manifest), extra_bad=bad, total=len(rows))
        good = np.ones(len(items), dtype=bool)
    keep = np.nonzero(good)[0]
    return LabeledDataset(
        kind,
        [items[k] for k in keep],
        np.asarray(labels, dtype=np.int64)[keep] if labels else np.zeros(0, dtype=np.int64),
        names,
        [metadata[k] for k in keep],
        ds_name,
        max_pixels,
    )


def _kind(columns: set[str], manifest: Path) -> Kind:
    if "label" not in columns:
        raise DataError(f"{manifest}: a manifest needs a 'label' column; found columns {sorted(columns)}")
    if ("path" in columns) == ("text" in columns):
        raise DataError(
            f"{manifest}: a manifest needs exactly one of the columns 'path' (images) or 'text'; "
            f"found {sorted(columns)}"
        )
    return "image" if "path" in columns else "text"


def _box_columns(columns: set[str], manifest: Path) -> bool:
    present = [c for c in BOX_COLUMNS if c in columns]
    if present and len(present) != 4:
        raise DataError(f"{manifest}: a box needs all of the columns x1, y1, x2, y2; found only {present}")
    return bool(present)


def write_manifest(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write rows (dicts with the same keys) as a CSV manifest; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0]) if rows else ["path", "label"]
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


__all__ = ["BOX_COLUMNS", "from_manifest", "read_table", "write_manifest"]
