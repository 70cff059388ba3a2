"""The embedded default store: SQLite (WAL) is the source of truth, a faiss index is derived from it.

Durability: every write is one ``BEGIN IMMEDIATE`` transaction that also bumps a ``generation`` counter, and
the call returns only after ``COMMIT``. ``journal_mode=WAL`` with ``synchronous=FULL`` fsyncs the WAL on every
commit, so an acknowledged enroll survives a killed process *and* a power cut (``NORMAL`` would survive only
the former and saves one fsync per *batch*, which enrolment in batches does not need to save).

The search index is derived state, kept in step by :class:`~lookalike.gallery.stores._mirror.IndexMirror`
(snapshotted to ``index.lkidx``, caught up from SQLite on open). Other processes' commits are noticed with
``PRAGMA data_version`` (asked on every read, ~3 µs) and caught up the same way.

A gallery in a folder this process cannot write (read-only media, a read-only mount) is opened read-only —
``mode=ro``, or ``immutable=1`` where SQLite cannot even read a WAL database without writing its ``-shm`` — so
it can still be listed and searched; writes then raise :class:`GalleryError`. A failed write (a full disk, say)
reports SQLite's own error, never the ``ROLLBACK``'s, and the index snapshot is a cache: failing to write it
is a warning, never an error after a commit (an enroll that returned stored exactly what it says).

The store never opens SQLite's own files (``-shm``, ``-wal``) itself: on Linux, closing
any descriptor of a file drops every POSIX lock the process holds on it, SQLite's included, and a second
process could then reset the shared memory under this one's map (SIGBUS; ``benchmarks/gallery_stress.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import ConfigError, GalleryError, NotFoundError
from lookalike.gallery.results import ItemRecord, Match
from lookalike.gallery.stores._mirror import IndexMirror
from lookalike.gallery.stores.base import Hit, VectorStore, VectorTable, taken_name_error
from lookalike.models.distances import Distance, get_distance

log = logging.getLogger(__name__)

FORMAT = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (code INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY AUTOINCREMENT, code INTEGER NOT NULL, metadata TEXT NOT NULL,
  vector BLOB NOT NULL, gen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS items_code ON items(code);
CREATE TABLE IF NOT EXISTS removed (id INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS removed_gen ON removed(gen);
"""
_IMAGES = "CREATE TABLE IF NOT EXISTS images (id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL)"  # made on first use


class SQLiteStore(VectorStore):
    """SQLite + faiss store in a folder. Use :meth:`create` / :meth:`open`, not the constructor.

    Args:
        ann_threshold: from this many items on, the exact flat index is replaced by an IVF index.
        nlist: IVF lists (default ``4 * sqrt(n)``); nprobe: IVF lists searched per query.
    """

    kind = "sqlite"
    DB_NAME = "gallery.sqlite"
    INDEX_NAME = "index.lkidx"

    def __init__(
        self,
        *,
        path: Path,
        ann_threshold: int = 200_000,
        nlist: int | None = None,
        nprobe: int = 32,
        read_only: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only  # None: decided on open, from whether the folder is writable
        self.ann_threshold = ann_threshold
        self.nlist = nlist
        self.nprobe = nprobe
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.mirror: IndexMirror

    # -- lifecycle --------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | Path, /, *, dim: int, distance: Distance, meta: dict[str, Any], **options: Any
    ) -> SQLiteStore:
        path = Path(path)
        if (path / cls.DB_NAME).exists():
            raise GalleryError(f"a gallery already exists at {path}; open it, or choose another folder")
        if path.exists() and not path.is_dir():
            raise GalleryError(f"{path} is a file; a SQLite gallery is a folder")
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path=path, **cls._check_options(options))
        conn = store._connect()
        conn.executescript(_SCHEMA)
        info = {"format": FORMAT, "dim": int(dim), "distance": distance.to_dict(), "uuid": uuid.uuid4().hex}
        with conn:
            rows = [("store", info), ("generation", 0), *meta.items()]
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in rows])
        store._load()
        return store

    @classmethod
    def open(cls, path: str | Path, /, **options: Any) -> SQLiteStore:
        path = Path(path)
        if not (path / cls.DB_NAME).is_file():
            raise NotFoundError(
                f"no gallery at {path} (expected {path / cls.DB_NAME}); create one with `gallery create`"
            )
        store = cls(path=path, **cls._check_options(options))
        try:
            store._connect()
        except sqlite3.DatabaseError as e:  # not SQLite at all, or a damaged file: before _load's own check
            if store._conn is not None:
                store._conn.close()
            raise GalleryError(
                f"{path / cls.DB_NAME} is not a readable gallery database ({e}); it was damaged or replaced outside "
                "lookalike (a copy cut short, a full disk, another program): restore the folder from a backup"
            ) from None
        store._load()
        return store

    @staticmethod
    def _check_options(options: dict[str, Any]) -> dict[str, Any]:
        known = ("ann_threshold", "nlist", "nprobe", "read_only")
        unknown = sorted(set(options) - set(known))
        if unknown:
            hint = " ('name' is the table prefix of pgvector galleries)" if "name" in unknown else ""
            raise ConfigError(
                f"a SQLite gallery (a folder) takes no option {', '.join(map(repr, unknown))}{hint}; "
                f"it takes {', '.join(known)}"
            )
        return options

    def _connect(self) -> sqlite3.Connection:
        db = self.path / self.DB_NAME
        if self.read_only is None:
            self.read_only = not _writable(self.path) or (db.exists() and not _writable(db))
        if self.read_only:
            self._conn = _connect_read_only(db)
            return self._conn
        conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        self._conn = conn
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise GalleryError(f"the gallery at {self.path} is closed; open it again")
        return self._conn

    def _load(self) -> None:
        try:
            info = json.loads(self.conn.execute("SELECT value FROM meta WHERE key='store'").fetchone()[0])
        except (sqlite3.DatabaseError, TypeError) as e:
            raise GalleryError(f"{self.path / self.DB_NAME} is not a lookalike gallery ({e})") from e
        if info.get("format") != FORMAT:
            raise GalleryError(f"gallery format {info.get('format')} is not supported (this version reads {FORMAT})")
        self.dim, self.distance = int(info["dim"]), get_distance(info["distance"])
        self._meta: dict[str, Any] = {}
        self.mirror = IndexMirror(
            snapshot=self.path / self.INDEX_NAME, dim=self.dim, distance=self.distance, uuid=info["uuid"],
            ann_threshold=self.ann_threshold, nlist=self.nlist, nprobe=self.nprobe,
        )  # fmt: skip
        with self._lock:
            self._data_version = self.conn.execute("PRAGMA data_version").fetchone()[0]
            if self.mirror.load(self.conn):
                self.save_index()

    def save_index(self) -> None:
        """Snapshot the search index to disk (done on close and after rebuilds).

        The snapshot is a cache: when it cannot be written (a full disk, a read-only gallery) the next open
        rebuilds or catches up from SQLite, so a failure is logged as a warning and never raised.
        """
        if self.read_only:
            return
        try:
            self._save_index()
        except OSError as err:
            log.warning("could not write the index snapshot of %s (%s); it will be rebuilt from SQLite", self.path, err)
            self.path.joinpath(self.INDEX_NAME + ".tmp").unlink(missing_ok=True)

    def _save_index(self) -> None:
        with self._lock:
            self.mirror.save()

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._sync()
                self.save_index()
            finally:
                self._conn.close()
                self._conn = None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def index_kind(self) -> str:
        """``"flat"``, ``"ivf"`` or ``"torch-exact"``."""
        return self.mirror.index.kind

    # -- keeping the index in step ----------------------------------------------------------------------------
    def _sync(self) -> None:
        """Catch up with commits made by other connections (one ``PRAGMA data_version`` when there are none)."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._meta = {}
            self.conn.execute("BEGIN")
            try:
                self.mirror.catch_up(self.conn)
            finally:
                self.conn.execute("COMMIT")
            self._data_version = version

    def _write(self, fn: Any) -> Any:
        """Run ``fn(new_generation)`` inside one IMMEDIATE transaction after catching up; commit; return."""
        with self._lock:
            c = self.conn
            if self.read_only:
                raise GalleryError(
                    f"the gallery at {self.path} is open read-only (its folder is not writable); copy it to a "
                    "writable folder to change it"
                )
            c.execute("BEGIN IMMEDIATE")
            try:
                self.mirror.catch_up(c)
                gen = self.mirror.generation + 1
                result = fn(gen)
                c.execute("UPDATE meta SET value=? WHERE key='generation'", (json.dumps(gen),))
                # read inside the transaction: after COMMIT it could already count another connection's commit
                # that this one has not caught up with (our own commit never changes it)
                version = c.execute("PRAGMA data_version").fetchone()[0]
                c.execute("COMMIT")
            except BaseException as err:
                with contextlib.suppress(sqlite3.Error):  # already rolled back (SQLITE_FULL): keep the real error
                    c.execute("ROLLBACK")
                if isinstance(err, sqlite3.OperationalError):
                    raise GalleryError(
                        f"nothing was stored: the gallery at {self.path} could not be written ({err}); free disk "
                        "space (or fix the folder's permissions) and try again"
                    ) from err
                raise
            self._data_version = version
            return gen, result

    # -- meta -------------------------------------------------------------------------------------------------
    def get_meta(self) -> dict[str, Any]:
        with self._lock:
            self._sync()
            if not self._meta:
                rows = self.conn.execute("SELECT key, value FROM meta").fetchall()
                self._meta = {k: json.loads(v) for k, v in rows if k not in ("store", "generation")}
            return dict(self._meta)

    def set_meta(self, updates: dict[str, Any]) -> None:
        def apply(gen: int) -> None:
            for key, value in updates.items():
                if key in ("store", "generation"):
                    raise GalleryError(f"meta key {key!r} is reserved")
                if value is None:
                    self.conn.execute("DELETE FROM meta WHERE key=?", (key,))
                else:
                    self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

        with self._lock:
            self.mirror.generation, _ = self._write(apply)
            self._meta = {}

    # -- writes -----------------------------------------------------------------------------------------------
    def add(
        self, identity: str, vectors: np.ndarray, metadata: list[dict[str, Any]], *, new: bool = False
    ) -> list[int]:
        identity, v, meta_json = self._check_add(identity, vectors, metadata)
        if len(v) == 0:
            return []

        def apply(gen: int) -> tuple[int, np.ndarray]:
            c = self.conn
            taken = "SELECT 1 FROM items JOIN identities USING (code) WHERE identities.name=? LIMIT 1"
            if new and c.execute(taken, (identity,)).fetchone():
                raise taken_name_error(identity)
            c.execute("INSERT OR IGNORE INTO identities(name) VALUES (?)", (identity,))
            code = c.execute("SELECT code FROM identities WHERE name=?", (identity,)).fetchone()[0]
            seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name='items'").fetchone()
            base = int(seq[0]) if seq else 0
            blobs = np.ascontiguousarray(v)
            c.executemany(
                "INSERT INTO items(id, code, metadata, vector, gen) VALUES (?, ?, ?, ?, ?)",
                ((base + 1 + i, code, meta_json[i], blobs[i].tobytes(), gen) for i in range(len(v))),
            )
            return code, np.arange(base + 1, base + 1 + len(v), dtype=np.int64)

        with self._lock:
            gen, (code, ids) = self._write(apply)
            self.mirror.added(gen, code, identity, ids, v)
            if self.mirror.maybe_switch_to_ivf(self.conn):
                self.save_index()
            return [int(i) for i in ids]

    def _remove(self, ids: np.ndarray, gen: int) -> None:
        c = self.conn
        codes = self.mirror.codes(ids)
        c.executemany("DELETE FROM items WHERE id=?", ((int(i),) for i in ids))
        if self._has_images():  # an item's image goes in the same transaction: no removed face stays behind
            c.executemany("DELETE FROM images WHERE id=?", ((int(i),) for i in ids))
        c.executemany("INSERT OR REPLACE INTO removed(id, gen) VALUES (?, ?)", ((int(i), gen) for i in ids))
        for code in codes:  # an identity without items is gone
            c.execute(
                "DELETE FROM identities WHERE code=? AND NOT EXISTS (SELECT 1 FROM items WHERE code=?)", (code, code)
            )

    def remove_identity(self, identity: str) -> list[int]:
        def apply(gen: int) -> np.ndarray:
            row = self.conn.execute("SELECT code FROM identities WHERE name=?", (identity,)).fetchone()
            if row is None:
                raise NotFoundError(f"no identity {identity!r} in this gallery; list them with `gallery list`")
            ids = np.array([r[0] for r in self.conn.execute("SELECT id FROM items WHERE code=?", row)], np.int64)
            self._remove(ids, gen)
            return ids

        with self._lock:
            gen, ids = self._write(apply)
            self.mirror.removed(gen, ids)
            return [int(i) for i in ids]

    def remove_items(self, ids: list[int]) -> None:
        wanted = np.array(sorted({int(i) for i in ids}), np.int64)

        def apply(gen: int) -> None:
            present: set[int] = set()
            for start in range(0, len(wanted), 500):
                chunk = [int(i) for i in wanted[start : start + 500]]
                q = f"SELECT id FROM items WHERE id IN ({','.join('?' * len(chunk))})"
                present.update(r[0] for r in self.conn.execute(q, chunk))
            self._missing([int(i) for i in wanted], present)
            self._remove(wanted, gen)

        if len(wanted) == 0:
            return
        with self._lock:
            gen, _ = self._write(apply)
            self.mirror.removed(gen, wanted)

    # -- reads ------------------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        q = self._check_vectors(queries, "queries")
        with self._lock:
            self._sync()
            return self.mirror.search(q, k)

    def _search_identities(self, q: np.ndarray, k: int) -> list[list[Match]]:
        with self._lock:
            self._sync()
            return self.mirror.search_identities(q, k)

    def count(self) -> int:
        with self._lock:
            self._sync()
            return self.mirror.count

    def identities(self) -> dict[str, int]:
        with self._lock:
            q = "SELECT name, count(*) FROM items JOIN identities USING(code) GROUP BY code ORDER BY name"
            return dict(self.conn.execute(q).fetchall())

    def identity_count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT count(*) FROM identities").fetchone()[0])

    def items(self, identity: str | None = None) -> list[ItemRecord]:
        q = "SELECT id, name, metadata FROM items JOIN identities USING(code)"
        with self._lock:
            if identity is None:
                rows = self.conn.execute(q + " ORDER BY id").fetchall()
            else:
                rows = self.conn.execute(q + " WHERE name=? ORDER BY id", (identity,)).fetchall()
                if not rows:
                    raise NotFoundError(f"no identity {identity!r} in this gallery; list them with `gallery list`")
        return [ItemRecord(int(i), n, json.loads(m)) for i, n, m in rows]

    def vectors(self) -> VectorTable:
        with self._lock:
            q = "SELECT id, name, vector FROM items JOIN identities USING(code) ORDER BY id"
            rows = self.conn.execute(q).fetchall()
        vectors = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), self.dim).copy()
        return VectorTable(np.array([r[0] for r in rows], np.int64), [r[1] for r in rows], vectors)

    def generation(self) -> int:
        with self._lock:
            self._sync()
            return self.mirror.generation

    # -- images -----------------------------------------------------------------------------------------------
    def _has_images(self) -> bool:
        q = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='images'"
        return self.conn.execute(q).fetchone() is not None

    def put_images(self, images: dict[int, bytes]) -> list[int]:
        def apply(gen: int) -> list[int]:
            c = self.conn
            c.execute(_IMAGES)
            c.execute("DELETE FROM images WHERE id NOT IN (SELECT id FROM items)")  # left by an older version
            stored = []
            for i, jpeg in images.items():
                cur = c.execute("INSERT OR REPLACE INTO images SELECT id, ? FROM items WHERE id=?", (jpeg, int(i)))
                if cur.rowcount:
                    stored.append(int(i))
            return stored

        if not images:
            return []
        with self._lock:
            self.mirror.generation, stored = self._write(apply)
            return list(stored)

    def image(self, item_id: int) -> bytes | None:
        with self._lock:
            if not self._has_images():
                return None
            q = "SELECT jpeg FROM images JOIN items USING(id) WHERE id=?"
            row = self.conn.execute(q, (int(item_id),)).fetchone()
        return None if row is None else bytes(row[0])

    def identity_image(self, identity: str) -> bytes | None:
        with self._lock:
            if not self._has_images():
                return None
            q = "SELECT jpeg FROM images JOIN items USING(id) JOIN identities USING(code) WHERE name=? ORDER BY id"
            row = self.conn.execute(q + " LIMIT 1", (identity,)).fetchone()
        return None if row is None else bytes(row[0])

    def identities_with_images(self, names: Iterable[str] | None = None) -> set[str]:
        wanted = None if names is None else sorted(set(names))
        with self._lock:
            if not self._has_images() or wanted == []:
                return set()
            q = "SELECT DISTINCT name FROM identities JOIN items USING(code) JOIN images USING(id)"
            if wanted is None:
                return {r[0] for r in self.conn.execute(q)}
            found: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(
                    r[0] for r in self.conn.execute(f"{q} WHERE name IN ({','.join('?' * len(chunk))})", chunk)
                )
            return found


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` (``access`` also says no on a read-only mount, even for root)."""
    return os.access(path, os.W_OK)


def _connect_read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection: ``mode=ro`` when SQLite can read the database so, else ``immutable=1`` (a WAL
    database whose ``-shm`` cannot be created in a read-only folder; nobody can be writing there)."""
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?{flags}", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=60)  # fmt: skip
        except sqlite3.Error as err:
            last = err
            continue
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as err:
            last = err
            conn.close()
    raise GalleryError(f"cannot open the read-only gallery {db} ({last})")


__all__ = ["SQLiteStore"]
