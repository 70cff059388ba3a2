"""The search index of a SQLite gallery: derived state, kept in step with the tables it mirrors.

SQLite is the source of truth (see :mod:`lookalike.gallery.stores.sqlite`). :class:`IndexMirror` holds what
is derived from it in memory — the search index (exact faiss or torch, IVF past ``ann_threshold`` items), the
item id → identity code array and the code → name map — plus the generation and the largest item id they
reflect. It is snapshotted to ``index.lkidx`` (with that generation and id in its header) on close and after
rebuilds; on open it is loaded and caught up from SQLite: new items are those with a larger id, removed ones
are listed with their generation in the ``removed`` table. A missing, foreign, corrupt or inconsistent
snapshot is rebuilt from SQLite.

The mirror owns no connection and no lock: the store calls it under its own lock, passing its connection.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.gallery.results import Match
from lookalike.gallery.stores._index import (
    FaissIndex,
    SearchIndex,
    load_index,
    new_index,
    read_snapshot,
    write_snapshot,
)
from lookalike.gallery.stores.base import Hit, widening_identity_search
from lookalike.models.distances import Distance

log = logging.getLogger(__name__)


def stored_generation(conn: sqlite3.Connection) -> int:
    """The generation the SQLite tables are at (bumped by every committed write)."""
    return int(json.loads(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]))


class IndexMirror:
    """In-memory search index + id → identity maps of one SQLite gallery; see the module docstring.

    Args:
        snapshot: the snapshot file (``index.lkidx``).
        dim, distance, uuid: the store's, recorded in (and checked against) the snapshot header.
        ann_threshold: from this many items on, the exact flat index is replaced by an IVF index.
        nlist: IVF lists (default ``4 * sqrt(n)``); nprobe: IVF lists searched per query.
    """

    def __init__(
        self,
        *,
        snapshot: Path,
        dim: int,
        distance: Distance,
        uuid: str,
        ann_threshold: int,
        nlist: int | None,
        nprobe: int,
    ) -> None:
        self.snapshot, self.dim, self.distance, self.uuid = snapshot, dim, distance, uuid
        self.ann_threshold, self.nlist, self.nprobe = ann_threshold, nlist, nprobe
        self._reset()

    def _reset(self) -> None:
        self.index: SearchIndex = new_index(dim=self.dim, distance=self.distance, nprobe=self.nprobe)
        self.generation, self.max_id, self._max_code = 0, 0, 0
        self._codes = np.zeros(0, np.int64)  # item id -> identity code (-1: no such item)
        self._names: dict[int, str] = {}

    # -- loading ----------------------------------------------------------------------------------------------
    def load(self, conn: sqlite3.Connection) -> bool:
        """Load the snapshot (when usable) and catch up with SQLite, else rebuild from it. Returns whether the
        snapshot should be written again (it was missing or stale in kind, or the index was rebuilt)."""
        self._reset()
        snap, loaded = read_snapshot(self.snapshot), False
        if snap is not None and self._usable(snap[0], stored_generation(conn)):
            header, payload = snap
            try:
                self.index = load_index(header, payload, dim=self.dim, distance=self.distance, nprobe=self.nprobe)
                self.generation, self.max_id, loaded = int(header["generation"]), int(header["max_id"]), True
            except Exception as e:  # a damaged snapshot is rebuilt, never trusted
                log.warning("index snapshot %s unreadable (%s); rebuilding from SQLite", self.snapshot, e)
                self._reset()
        self._load_codes(conn)
        self.catch_up(conn)
        if loaded and not self._consistent():
            log.warning("index snapshot %s disagrees with SQLite; rebuilding", self.snapshot)
            self._reset()
            self._load_codes(conn)
            self.catch_up(conn)
            loaded = False
        return self.maybe_switch_to_ivf(conn) or not loaded

    def _usable(self, header: dict[str, Any], generation: int) -> bool:
        return (
            header.get("uuid") == self.uuid
            and header.get("dim") == self.dim
            and header.get("distance") == self.distance.to_dict()
            and 0 <= int(header.get("generation", -1)) <= generation
        )

    def _load_codes(self, conn: sqlite3.Connection) -> None:
        rows = np.array(conn.execute("SELECT id, code FROM items").fetchall(), dtype=np.int64).reshape(-1, 2)
        top = int(rows[:, 0].max(initial=0))
        self._codes = np.full(top + 1, -1, np.int64)
        self._codes[rows[:, 0]] = rows[:, 1]
        self._names = dict(conn.execute("SELECT code, name FROM identities").fetchall())
        self._max_code = max(self._names, default=0)

    def _consistent(self) -> bool:
        sql_ids = np.nonzero(self._codes >= 0)[0]
        return bool(np.array_equal(np.sort(self.index.ids()), sql_ids))

    def save(self) -> None:
        """Write the snapshot (atomically; raises OSError when it cannot)."""
        payload = self.index.serialize()
        header = {
            "uuid": self.uuid, "dim": self.dim, "distance": self.distance.to_dict(), "generation": self.generation,
            "max_id": self.max_id, "count": self.index.ntotal, "index_kind": self.index.kind,
            "payload_bytes": len(payload),
        }  # fmt: skip
        write_snapshot(self.snapshot, header, payload)

    # -- keeping in step --------------------------------------------------------------------------------------
    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Apply the commits made since :attr:`generation` (by any connection) from the tables."""
        gen = stored_generation(conn)
        if gen == self.generation:
            return
        for code, name in conn.execute("SELECT code, name FROM identities WHERE code > ?", (self._max_code,)):
            self._names[code] = name
            self._max_code = max(self._max_code, code)
        gone = np.array([r[0] for r in conn.execute("SELECT id FROM removed WHERE gen > ?", (self.generation,))])
        gone = gone.astype(np.int64)
        rows = conn.execute("SELECT id, code, vector FROM items WHERE id > ? ORDER BY id", (self.max_id,)).fetchall()
        self.index.remove(gone[gone < len(self._codes)])
        self._codes[gone[gone < len(self._codes)]] = -1
        if rows:
            ids = np.array([r[0] for r in rows], np.int64)
            vectors = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), self.dim)
            self.index.add(ids, vectors)
            self._set_codes(ids, np.array([r[1] for r in rows], np.int64))
            self.max_id = int(ids[-1])
        self.generation = gen

    def added(self, gen: int, code: int, identity: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """This connection committed ``vectors`` as items ``ids`` of identity ``code`` at generation ``gen``."""
        self._names[code] = identity
        self._max_code = max(self._max_code, code)
        self.index.add(ids, vectors)
        self._set_codes(ids, np.full(len(ids), code, np.int64))
        self.generation, self.max_id = gen, int(ids[-1])

    def removed(self, gen: int, ids: np.ndarray) -> None:
        """This connection committed the removal of items ``ids`` at generation ``gen``."""
        self.index.remove(ids)
        self._codes[ids] = -1
        self.generation = gen

    def codes(self, ids: np.ndarray) -> set[int]:
        """The identity codes of stored items ``ids``."""
        return {int(x) for x in self._codes[ids]}

    def _set_codes(self, ids: np.ndarray, codes: np.ndarray) -> None:
        top = int(ids.max()) + 1
        if top > len(self._codes):
            grown = np.full(max(top, 2 * len(self._codes)), -1, np.int64)
            grown[: len(self._codes)] = self._codes
            self._codes = grown
        self._codes[ids] = codes

    def maybe_switch_to_ivf(self, conn: sqlite3.Connection) -> bool:
        """Replace the exact faiss index by an IVF one once it holds ``ann_threshold`` items; whether it did."""
        if not isinstance(self.index, FaissIndex) or self.index.kind != "flat":
            return False
        if self.index.ntotal < self.ann_threshold:
            return False
        rows = conn.execute("SELECT id, vector FROM items ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), self.dim)
        log.info("gallery index %s reached %d items: building an IVF index", self.snapshot, len(ids))
        self.index = FaissIndex.build_ivf(
            dim=self.dim, distance=self.distance, ids=ids, vectors=vectors, nlist=self.nlist, nprobe=self.nprobe
        )
        return True

    # -- search -----------------------------------------------------------------------------------------------
    def search(self, q: np.ndarray, k: int) -> list[list[Hit]]:
        scores, ids = self.index.search(q, k)
        codes = self._codes[np.maximum(ids, 0)]
        names = self._names
        # plain Python lists first: far cheaper than converting numpy scalars one by one (hot path)
        rows = zip(ids.tolist(), codes.tolist(), scores.tolist(), strict=True)
        return [[Hit(i, names[c], s) for i, c, s in zip(ri, rc, rs, strict=True) if i >= 0] for ri, rc, rs in rows]

    def search_identities(self, q: np.ndarray, k: int) -> list[list[Match]]:
        """Max-scoring nearest identities (see ``VectorStore.search_identities``), on the identify hot path:
        faiss ids -> identity codes through the numpy id -> code array, distinct codes picked from plain lists,
        and names and Match objects made only for the k identities returned."""
        names = self._names

        def fetch(rows: list[int], m: int) -> list[tuple[list[Match], int]]:
            scores, ids = self.index.search(q if len(rows) == len(q) else q[rows], m)
            codes = self._codes[np.maximum(ids, 0)]  # id -1 (no item) -> code -1 (row 0 is never an item)
            out = []
            for rc, rs in zip(codes.tolist(), scores.tolist(), strict=True):
                seen: dict[int, float] = {}
                n = 0
                for code, score in zip(rc, rs, strict=True):
                    if code < 0:  # faiss pads missing results with -1 at the end
                        break
                    n += 1
                    if code not in seen:
                        seen[code] = score
                        if len(seen) == k:
                            break
                out.append(([Match(names[c], s) for c, s in seen.items()], n))
            return out

        return widening_identity_search(len(q), k, fetch, total=self.index.ntotal)

    @property
    def count(self) -> int:
        return self.index.ntotal


__all__ = ["IndexMirror", "stored_generation"]
