"""Every way to get a :class:`~lookalike.data.types.LabeledDataset`.

- :func:`from_folder`: one sub-folder per class (JPEG, PNG, PGM, ...), every image validated at scan.
- :func:`from_manifest`: CSV / Parquet rows (``path`` or ``text``, ``label``, optional split/query/gallery/box).
- :func:`from_omniglot_zip`: Omniglot's published zips read directly (label ``alphabet/character``).
- :func:`from_clinc150`: CLINC150's ``data_full.json`` (text; out-of-scope utterances get label -1).
- :func:`from_digits`: scikit-learn's bundled 8x8 digits as small images (always available; the demo's data).
- :func:`from_vectors`: a float matrix with labels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.data.clinc150 import from_clinc150
from lookalike.data.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS
from lookalike.data.manifest import from_manifest
from lookalike.data.omniglot import from_omniglot_zip
from lookalike.data.scan import OnBad, check_on_bad, scan_images
from lookalike.data.types import LabeledDataset
from lookalike.errors import DataError

log = logging.getLogger(__name__)


def from_folder(
    path: str | Path,
    *,
    on_bad: OnBad = "error",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    extensions: Sequence[str] = tuple(sorted(IMAGE_EXTENSIONS)),
    name: str | None = None,
) -> LabeledDataset:
    """Images from a class-per-folder tree ``path/<class>/<image>``; class names sorted.

    Files directly under ``path`` and files with other extensions (README, .txt) are ignored; hidden entries
    too. Every image is validated (header, ``verify()``, JPEG end marker): bad files raise one
    :class:`~lookalike.errors.BadFilesError` listing them all, or are skipped with a warning (``on_bad="skip"``).
    """
    check_on_bad(on_bad)
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist or is not a folder; expected <root>/<class>/<img>")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items: list[str] = []
    labels: list[int] = []
    names: list[str] = []
    for d in class_dirs:
        files = sorted(
            f for f in d.rglob("*") if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in exts
        )
        if not files:
            log.warning("%s: class folder %r has no images; it is left out", root, d.name)
            continue
        items.extend(str(f) for f in files)
        labels.extend([len(names)] * len(files))
        names.append(d.name)
    if not items:
        raise DataError(
            f"{root}: found no images in class sub-folders (extensions {sorted(exts)}); expected <root>/<class>/<img>"
        )
    good = scan_images(items, on_bad=on_bad, max_pixels=max_pixels, source=str(root))
    keep = np.nonzero(good)[0]
    ds = LabeledDataset(
        "image", [items[k] for k in keep], np.asarray(labels)[keep], names, None, name or root.name, max_pixels
    )
    log.info("%s", ds.describe())
    return ds


def from_vectors(
    X: Any, y: Sequence[int] | np.ndarray, class_names: Sequence[str], *, name: str = "vectors"
) -> LabeledDataset:
    """Rows of ``X`` (N, D) with integer labels ``y`` indexing ``class_names`` (-1 = unknown)."""
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2:
        raise DataError(f"{name}: X must be a 2-D array (items x features); got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError(f"{name}: X contains NaN or infinite values; clean them before building a dataset")
    return LabeledDataset("vector", arr, np.asarray(y, dtype=np.int64), list(class_names), None, name)  # type: ignore[arg-type]


def from_digits(*, scale: int = 4, name: str = "digits") -> LabeledDataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images) as uint8 images upscaled ``scale`` times.

    Class names are ``"0"`` .. ``"9"``. Needs no download, so it is always available (the demo uses it).
    """
    if scale < 1:
        raise DataError(f"scale must be a positive integer; got {scale}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    return LabeledDataset("image", images, bunch.target, [str(i) for i in range(10)], None, name)


__all__ = ["from_clinc150", "from_digits", "from_folder", "from_manifest", "from_omniglot_zip", "from_vectors"]
