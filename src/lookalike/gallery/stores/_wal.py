"""A cheap "has any connection committed since?" filter for a SQLite database in WAL mode.

Every connection to a WAL database shares its wal-index, the ``-shm`` file beside it. The file starts with two
copies of a 48-byte header that each commit rewrites (it holds the last valid WAL frame, that frame's checksum
and the WAL salts; https://www.sqlite.org/walformat.html#the_wal_index_file_format). The format is fixed by the
need for connections of different SQLite versions to share one file. Comparing those 96 bytes with the ones
read before the last real check costs well under a microsecond, where ``PRAGMA data_version`` through the
``sqlite3`` module costs ~3 µs. It is a filter only: when the bytes differ, or the file cannot be mapped, the
caller asks SQLite.
"""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

HEADER_BYTES = 96  # both copies of the wal-index header
WALINDEX_VERSION = 3007000  # iVersion, the header's first field (native byte order)


class WalIndexWatch:
    """A read-only view of the wal-index header of the database at ``db_path``; :meth:`header` reads it."""

    def __init__(self, db_path: str | Path) -> None:
        self._map: mmap.mmap | None = None
        try:
            with open(f"{db_path}-shm", "rb") as f:
                view = mmap.mmap(f.fileno(), HEADER_BYTES, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # no -shm file (yet), too short, or not mappable: callers ask SQLite
            return
        if int.from_bytes(view[:4], sys.byteorder) != WALINDEX_VERSION:
            view.close()
            return
        self._map = view

    @property
    def active(self) -> bool:
        """Whether the header could be mapped (otherwise :meth:`header` is always ``None``)."""
        return self._map is not None

    def header(self) -> bytes | None:
        """The current header bytes; they change with every commit by any connection."""
        return None if self._map is None else self._map[:HEADER_BYTES]

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


__all__ = ["HEADER_BYTES", "WalIndexWatch"]
