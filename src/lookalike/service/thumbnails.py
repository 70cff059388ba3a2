"""Thumbnails of enrolled images for the web page: stored *in the gallery* (``Gallery.put_images``).

A thumbnail lives in the same database as its item and is deleted in the same transaction as the item, by
any process (``lookalike gallery remove``, ``Gallery.remove``, another server), so a removed person's face can
never be served, and a server dying between two writes cannot leave one behind: an enroll stores the items
first and their thumbnails after, so the worst a crash leaves is an item without a picture.

Older versions kept a separate ``thumbnails.sqlite`` beside the gallery that removals did not touch.
:func:`migrate_legacy` moves the thumbnails of items that still exist into the gallery and deletes that file.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

log = logging.getLogger("lookalike.service")

LEGACY_NAME = "thumbnails.sqlite"


def legacy_location(gallery_location: str | None) -> Path | None:
    """Where an older version kept the thumbnails of a gallery folder (``None`` for other stores)."""
    if not gallery_location or "://" in gallery_location or "=" in gallery_location:
        return None
    path = Path(gallery_location)
    return path / LEGACY_NAME if path.is_dir() else None


def migrate_legacy(gallery: Any, location: str | None) -> int:
    """Move a legacy thumbnail file's pictures of *existing* items into ``gallery``; delete the file.

    Returns the number of thumbnails moved. A file that cannot be read or deleted is left alone with a warning
    (a read-only gallery, say); the service then never reads it.
    """
    path = legacy_location(location)
    if path is None or not path.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT item_id, jpeg FROM thumbnails").fetchall()
        finally:
            conn.close()
        moved = gallery.put_images({int(i): bytes(b) for i, b in rows}) if rows else []
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    except (sqlite3.Error, OSError) as err:
        log.warning("could not migrate the old thumbnail file %s (%s); it is no longer used", path, err)
        return 0
    log.info("moved %d thumbnails of %s into the gallery (removed items' thumbnails dropped)", len(moved), path)
    return len(moved)


__all__ = ["LEGACY_NAME", "legacy_location", "migrate_legacy"]
