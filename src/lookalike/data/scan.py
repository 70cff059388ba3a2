"""Dataset scan: validate every image item once, up front, so a long run never dies halfway on a bad file.

``on_bad="error"`` (default) raises one :class:`~lookalike.errors.BadFilesError` listing every bad file with
its reason; ``on_bad="skip"`` drops them and warns with the count.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from lookalike.data.images import check_image, describe_item
from lookalike.errors import BadFilesError, DataError

OnBad = Literal["error", "skip"]
log = logging.getLogger(__name__)


def check_on_bad(on_bad: str) -> OnBad:
    """Validate the ``on_bad`` option at the boundary."""
    if on_bad not in ("error", "skip"):
        raise DataError(f"on_bad must be 'error' (fail at scan, listing bad files) or 'skip'; got {on_bad!r}")
    return on_bad  # type: ignore[return-value]


def scan_images(
    items: Sequence[Any],
    *,
    on_bad: OnBad,
    max_pixels: int,
    source: str,
    extra_bad: Sequence[tuple[str, str]] = (),
    threads: int = 4,
    total: int | None = None,
) -> np.ndarray:
    """Check every item; return the boolean mask of good ones (or raise listing every bad one).

    ``extra_bad`` are problems found before the scan (e.g. an invalid manifest row) that are reported in the
    same error; ``total`` is how many rows they were among, when not ``items`` plus them (a text manifest).
    """
    check_on_bad(on_bad)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        reasons = list(pool.map(lambda it: check_image(it, max_pixels=max_pixels), items))
    bad = [(describe_item(it), r) for it, r in zip(items, reasons, strict=True) if r is not None]
    bad = [*extra_bad, *bad]
    good = np.array([r is None for r in reasons], dtype=bool)
    if not bad:
        return good
    n = total if total is not None else len(items) + len(extra_bad)  # the rows an extra_bad row was one of
    if on_bad == "error":
        lines = "\n".join(f"  {name}: {reason}" for name, reason in bad)
        raise BadFilesError(
            f"{len(bad)} bad file(s) in {source} (of {n}):\n{lines}\n"
            "Fix or remove them, or leave them out: --skip-bad on the command line, on_bad='skip' in Python, "
            "`on_bad: skip` under a protocol's source.",
            bad,
        )
    message = f"{source}: skipped {len(bad)} bad file(s) of {n} (on_bad='skip'); first: {bad[0][0]}"
    log.warning(message)
    warnings.warn(message, stacklevel=3)
    return good


__all__ = ["OnBad", "check_on_bad", "scan_images"]
