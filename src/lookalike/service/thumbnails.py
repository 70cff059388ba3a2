"""Small JPEG thumbnails of enrolled images, for the web page; a SQLite file kept beside the gallery.

The gallery stores vectors, not pictures; the page wants to show *who* matched. The service keeps one
thumbnail per enrolled image item, keyed by the gallery's item id, and drops them when the item or its
identity is removed. Thread-safe: one connection guarded by a lock (calls are short).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS thumbnails (
    item_id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL,
    jpeg BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS thumbnails_identity ON thumbnails (identity);
"""


def default_location(gallery_location: str | None) -> str:
    """Where thumbnails live for a gallery: inside a gallery folder, beside a gallery file, else in memory."""
    if not gallery_location or "://" in gallery_location or "=" in gallery_location:
        return ":memory:"
    path = Path(gallery_location)
    if path.is_dir():
        return str(path / "thumbnails.sqlite")
    return str(path.with_name(path.name + ".thumbnails.sqlite"))


class ThumbnailStore:
    """item id → JPEG bytes (plus the identity, so removing an identity drops its thumbnails)."""

    def __init__(self, *, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        return self._db

    def put(self, identity: str, items: list[tuple[int, bytes]]) -> None:
        """Store ``(item_id, jpeg)`` pairs of ``identity``."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO thumbnails (item_id, identity, jpeg) VALUES (?, ?, ?)",
                [(int(i), identity, blob) for i, blob in items],
            )
            db.execute("COMMIT")

    def get_item(self, item_id: int) -> bytes | None:
        """The thumbnail of one item, or ``None``."""
        with self._lock:
            row = self._conn().execute("SELECT jpeg FROM thumbnails WHERE item_id = ?", (int(item_id),)).fetchone()
        return None if row is None else bytes(row[0])

    def get_identity(self, identity: str) -> bytes | None:
        """The first-enrolled thumbnail of ``identity``, or ``None``."""
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT jpeg FROM thumbnails WHERE identity = ? ORDER BY item_id LIMIT 1", (identity,))
                .fetchone()
            )
        return None if row is None else bytes(row[0])

    def has_identity(self, identity: str) -> bool:
        with self._lock:
            row = self._conn().execute("SELECT 1 FROM thumbnails WHERE identity = ? LIMIT 1", (identity,)).fetchone()
        return row is not None

    def remove_item(self, item_id: int) -> None:
        with self._lock:
            self._conn().execute("DELETE FROM thumbnails WHERE item_id = ?", (int(item_id),))

    def remove_identity(self, identity: str) -> None:
        with self._lock:
            self._conn().execute("DELETE FROM thumbnails WHERE identity = ?", (identity,))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


__all__ = ["ThumbnailStore", "default_location"]
