"""The unknown pool: embeddings of probes that came out "unknown", kept (opt-in) for discovery.

A SQLite file of its own (``unknowns.sqlite`` inside a folder gallery), so the gallery's stores stay as they
are. It holds the pool's settings (enabled, retention), the unknowns (vector, source reference, optional JPEG
thumbnail, the best match at the time), the proposals of the last discovery run, and an append-only audit
table of every review action (accept / reject / merge / purge). Every write is one transaction with
``synchronous=FULL``; ``secure_delete`` plus a ``VACUUM`` on purge leave no deleted bytes in the file.

Retention: at most ``max_items`` unknowns (oldest dropped first) and none older than ``max_age_days``;
applied on every add.

Reviews across processes: a review first *claims* its proposal (one transaction turns it from open into
``reviewing:TOKEN``), enrolls, then closes it from that claim. A second reviewer of the same proposal — another
service worker, the CLI beside the service, a double click — finds it claimed and is refused before anything is
written, so a proposal is enrolled once. A claim left by a process that died mid-review counts as open again
after :data:`CLAIM_TTL_S` seconds (its items may then be enrolled twice, as after any crash between the gallery's
commit and the pool's).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import DataError, GalleryError, NotFoundError

POOL_NAME = "unknowns.sqlite"
#: the largest retention a pool accepts: discovery groups the whole pool, in time that grows with its square
#: (20,000 unknowns: 18 s on 2 cores, docs/benchmarks.md "Grouping cost")
MAX_POOL_ITEMS = 100_000
#: seconds after which a review's claim on a proposal is taken for a dead process's and the proposal is open again
CLAIM_TTL_S = 600.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unknowns (
  id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, source TEXT, vector BLOB NOT NULL,
  thumbnail BLOB, best_identity TEXT, best_score REAL);
CREATE TABLE IF NOT EXISTS proposals (
  id TEXT PRIMARY KEY, rank INTEGER NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, action TEXT NOT NULL, proposal TEXT,
  identity TEXT, details TEXT NOT NULL);
"""


@dataclass(frozen=True)
class PoolSettings:
    """Whether unknowns are kept, and for how long / how many."""

    enabled: bool = False
    max_items: int = 10_000
    max_age_days: float | None = 30.0

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_items": self.max_items, "max_age_days": self.max_age_days}


@dataclass(frozen=True)
class Unknown:
    """One kept unknown probe."""

    id: int
    created: float
    source: str | None
    vector: np.ndarray = field(repr=False)
    has_thumbnail: bool
    best_identity: str | None
    best_score: float | None


@dataclass(frozen=True)
class AuditEntry:
    """One review action, as recorded."""

    id: int
    at: float
    action: str
    proposal: str | None
    identity: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        from datetime import datetime, timezone

        utc = datetime.fromtimestamp(self.at, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {
            "id": self.id, "at": self.at, "at_utc": utc, "action": self.action, "proposal": self.proposal,
            "identity": self.identity, "details": self.details,
        }  # fmt: skip


def default_pool_location(gallery_location: str) -> str:
    """``unknowns.sqlite`` inside a folder gallery; other stores (pgvector) need an explicit path."""
    if "://" in gallery_location or "=" in gallery_location:
        raise GalleryError(
            f"the gallery at {gallery_location} is not a folder, so its unknown pool has no default place; "
            "pass a file path for the pool (e.g. --pool unknowns.sqlite)"
        )
    return str(Path(gallery_location) / POOL_NAME)


class UnknownPool:
    """The unknowns of one gallery (see the module docstring). Thread-safe; use as a context manager."""

    def __init__(self, *, path: str | Path, dim: int) -> None:
        self.path = str(path)
        self.dim = int(dim)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    # -- plumbing ---------------------------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("PRAGMA secure_delete=ON")
                db.executescript(_SCHEMA)
            except sqlite3.DatabaseError as e:
                db.close()
                raise GalleryError(
                    f"{self.path} is not a readable unknown pool ({e}); it was damaged or replaced outside lookalike: "
                    "restore it from a backup, or move it away to start an empty pool (the gallery is not affected)"
                ) from None
            self._db = db
        return self._db

    def _write(self, fn: Any) -> Any:
        with self._lock:
            db = self.conn
            db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return out

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> UnknownPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings ---------------------------------------------------------------------------------------------
    def settings(self) -> PoolSettings:
        with self._lock:
            rows = dict(self.conn.execute("SELECT key, value FROM settings").fetchall())
        return PoolSettings(**{k: json.loads(v) for k, v in rows.items()})

    def configure(
        self, *, enabled: bool | None = None, max_items: int | None = None, max_age_days: float | str | None = "keep"
    ) -> PoolSettings:
        """Change the settings (``max_age_days=None``: no age limit); applies the retention at once."""
        if max_items is not None and int(max_items) < 1:
            raise DataError(f"max_items must be at least 1, got {max_items}; use purge to empty the pool")
        if max_items is not None and int(max_items) > MAX_POOL_ITEMS:
            raise DataError(
                f"max_items must be at most {MAX_POOL_ITEMS:,}, got {int(max_items):,}: discovery groups the whole "
                "pool, in time that grows with its square (20,000 unknowns: 18 s on 2 cores); review proposals "
                "more often, or shorten max_age_days"
            )
        if isinstance(max_age_days, (int, float)) and not max_age_days > 0:
            raise DataError(f"max_age_days must be > 0 (or None for no age limit), got {max_age_days}")
        new: dict[str, Any] = {"enabled": enabled, "max_items": None if max_items is None else int(max_items)}
        rows = {k: v for k, v in new.items() if v is not None}
        if max_age_days != "keep":
            rows["max_age_days"] = max_age_days

        def write(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO settings VALUES (?, ?)", [(k, json.dumps(v)) for k, v in rows.items()]
            )
            self._retain(db, self._settings_in(db))

        self._write(write)
        return self.settings()

    @staticmethod
    def _settings_in(db: sqlite3.Connection) -> PoolSettings:
        rows = dict(db.execute("SELECT key, value FROM settings").fetchall())
        return PoolSettings(**{k: json.loads(v) for k, v in rows.items()})

    @staticmethod
    def _retain(db: sqlite3.Connection, s: PoolSettings) -> None:
        if s.max_age_days is not None:
            db.execute("DELETE FROM unknowns WHERE created < ?", (time.time() - s.max_age_days * 86400.0,))
        db.execute(
            "DELETE FROM unknowns WHERE id NOT IN (SELECT id FROM unknowns ORDER BY id DESC LIMIT ?)", (s.max_items,)
        )

    # -- unknowns ---------------------------------------------------------------------------------------------
    def add(
        self,
        vectors: Any,
        *,
        sources: list[str | None] | None = None,
        thumbnails: list[bytes | None] | None = None,
        best: list[tuple[str | None, float | None]] | None = None,
        force: bool = False,
    ) -> list[int]:
        """Keep ``vectors`` if the pool is enabled (or ``force``: items given to discovery by hand); returns the ids."""
        v = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim) if np.size(vectors) else np.zeros((0, self.dim))
        n = len(v)
        sources = sources or [None] * n
        thumbnails = thumbnails or [None] * n
        best = best or [(None, None)] * n
        if not (len(sources) == len(thumbnails) == len(best) == n):
            raise DataError(
                f"got {n} vectors but {len(sources)} sources, {len(thumbnails)} thumbnails, {len(best)} matches"
            )
        if n == 0:
            return []

        def write(db: sqlite3.Connection) -> list[int]:
            s = self._settings_in(db)
            if not (s.enabled or force):
                return []
            now, ids = time.time(), []
            for row, src, thumb, (ident, score) in zip(v, sources, thumbnails, best, strict=True):
                cur = db.execute(
                    "INSERT INTO unknowns (created, source, vector, thumbnail, best_identity, best_score) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (now, src, np.ascontiguousarray(row, np.float32).tobytes(), thumb, ident, score),
                )
                ids.append(int(cur.lastrowid or 0))
            self._retain(db, s)
            return ids

        return list(self._write(write))

    def unknowns(self, ids: list[int] | None = None) -> list[Unknown]:
        """Kept unknowns (all, or these ids, in id order); NotFoundError names any id not kept."""
        cols = "id, created, source, vector, thumbnail IS NOT NULL, best_identity, best_score"
        with self._lock:
            if ids is None:
                rows = self.conn.execute(f"SELECT {cols} FROM unknowns ORDER BY id").fetchall()
            else:
                marks = ",".join("?" * len(ids))
                rows = self.conn.execute(
                    f"SELECT {cols} FROM unknowns WHERE id IN ({marks}) ORDER BY id", ids
                ).fetchall()
        if ids is not None and len(rows) != len(set(ids)):
            missing = sorted(set(ids) - {r[0] for r in rows})
            raise NotFoundError(
                f"unknowns {missing} are no longer in the pool (purged, expired or already reviewed); "
                "run discovery again"
            )
        return [Unknown(r[0], r[1], r[2], np.frombuffer(r[3], np.float32).copy(), bool(r[4]), r[5], r[6]) for r in rows]

    def thumbnail(self, unknown_id: int) -> bytes | None:
        """The kept JPEG of an unknown; None when there is none (or no such id: any int, however large)."""
        if not 0 < int(unknown_id) < 2**63:
            return None
        with self._lock:
            row = self.conn.execute("SELECT thumbnail FROM unknowns WHERE id = ?", (int(unknown_id),)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM unknowns").fetchone()[0])

    # -- proposals --------------------------------------------------------------------------------------------
    def replace_proposals(self, proposals: list[dict[str, Any]]) -> None:
        """Store a discovery run's proposals, replacing the open ones of earlier runs (a live review's claim
        stays, so that review can close it)."""

        def write(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM proposals WHERE status = 'open'")
            claimed = db.execute("SELECT id, payload, status FROM proposals WHERE status LIKE 'reviewing:%'")
            stale = [(r[0],) for r in claimed.fetchall() if self._shown_status(r[1], r[2]) == "open"]
            db.executemany("DELETE FROM proposals WHERE id = ?", stale)
            db.executemany(
                "INSERT INTO proposals (id, rank, status, payload) VALUES (?, ?, 'open', ?)",
                [(p["id"], p["rank"], json.dumps(p)) for p in proposals],
            )

        self._write(write)

    def proposals(self, status: str | None = "open") -> list[dict[str, Any]]:
        """The proposals with this status (``None``: all), by rank; a stale claim counts as open."""
        with self._lock:
            rows = self.conn.execute("SELECT payload, status FROM proposals ORDER BY rank").fetchall()
        out = [{**json.loads(r[0]), "status": self._shown_status(r[0], r[1])} for r in rows]
        return [p for p in out if status is None or p["status"] == status]

    @staticmethod
    def _shown_status(payload: str, status: str) -> str:
        """``open`` for a claim older than :data:`CLAIM_TTL_S`; ``reviewing`` for a live claim; else as stored."""
        if not status.startswith("reviewing:"):
            return status
        claimed = float(json.loads(payload).get("claimed_at", 0.0))
        return "open" if time.time() - claimed > CLAIM_TTL_S else "reviewing"

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        """An open proposal; NotFoundError (listing the open ones) when it was reviewed or never existed,
        GalleryError when another review holds it right now."""
        with self._lock:
            row = self.conn.execute("SELECT payload, status FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
        self._check_open(proposal_id, row)
        assert row is not None
        return {**json.loads(row[0]), "status": "open"}

    def _check_open(self, proposal_id: str, row: tuple[str, str] | None) -> None:
        shown = None if row is None else self._shown_status(row[0], row[1])
        if shown == "reviewing":
            raise GalleryError(
                f"proposal {proposal_id!r} is being reviewed by another request right now; reload the proposals "
                "in a moment to see how it was decided"
            )
        if shown != "open":
            open_ids = [p["id"] for p in self.proposals()]
            why = "there is no proposal" if row is None else f"the proposal was already {shown}"
            raise NotFoundError(
                f"proposal {proposal_id!r} is not open for review ({why}); open proposals: {open_ids or 'none'} "
                "(run discovery to make new ones)"
            )

    def under_review(self) -> set[int]:
        """Ids of the unknowns held by a live review's claim (discovery leaves them out: they are being decided)."""
        return {int(i) for p in self.proposals("reviewing") for i in p["unknown_ids"]}

    def claim(self, proposal_id: str) -> tuple[dict[str, Any], str]:
        """Take an open proposal for review, atomically (see the module docstring): (the proposal, a claim token
        for :meth:`close_proposal` / :meth:`release`). Refused like :meth:`proposal` when it is not open."""
        token = secrets.token_hex(8)

        def write(db: sqlite3.Connection) -> dict[str, Any]:
            row = db.execute("SELECT payload, status FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
            self._check_open(proposal_id, row)
            payload = {**json.loads(row[0]), "claimed_at": time.time()}
            db.execute(
                "UPDATE proposals SET status = ?, payload = ? WHERE id = ?",
                (f"reviewing:{token}", json.dumps(payload), proposal_id),
            )
            return payload

        prop = self._write(write)
        return {**prop, "status": "reviewing"}, token

    def release(self, proposal_id: str, token: str) -> None:
        """Give a claimed proposal back (the review failed before enrolling); a no-op if the claim is not ours."""

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE proposals SET status = 'open' WHERE id = ? AND status = ?", (proposal_id, f"reviewing:{token}")
            )

        self._write(write)

    def close_proposal(
        self, proposal_id: str, *, token: str, status: str, identity: str | None, details: dict[str, Any]
    ) -> None:
        """Mark a proposal claimed with ``token`` reviewed, drop its unknowns from the pool and audit the action,
        in one transaction. GalleryError if the claim is no longer ours (it went stale and another review took it)."""

        def write(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT payload FROM proposals WHERE id = ? AND status = ?", (proposal_id, f"reviewing:{token}")
            ).fetchone()
            if row is None:
                raise GalleryError(
                    f"proposal {proposal_id!r} is no longer held by this review: its claim went stale after "
                    f"{CLAIM_TTL_S:.0f} s and another review or a new discovery run took the proposal over; what "
                    "this review enrolled stays enrolled: check the identity for a duplicate enrolment"
                )
            db.execute("UPDATE proposals SET status = ? WHERE id = ?", (status, proposal_id))
            ids = [int(i) for i in json.loads(row[0])["unknown_ids"]]
            db.execute(f"DELETE FROM unknowns WHERE id IN ({','.join('?' * len(ids))})", ids)
            self._audit(db, status, proposal_id, identity, details)

        self._write(write)

    @staticmethod
    def _audit(db: sqlite3.Connection, action: str, proposal: str | None, identity: str | None, details: dict) -> None:
        db.execute(
            "INSERT INTO audit (at, action, proposal, identity, details) VALUES (?, ?, ?, ?, ?)",
            (time.time(), action, proposal, identity, json.dumps(details)),
        )

    def audit(self) -> list[AuditEntry]:
        """Every review action, oldest first."""
        with self._lock:
            rows = self.conn.execute("SELECT id, at, action, proposal, identity, details FROM audit ORDER BY id")
            return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows.fetchall()]

    # -- purge ------------------------------------------------------------------------------------------------
    def purge(self) -> int:
        """Delete every kept unknown and every proposal (their bytes included); returns how many unknowns.

        The audit (which never holds vectors or sources) keeps its lines and gains one for the purge.
        """

        def write(db: sqlite3.Connection) -> int:
            n = int(db.execute("SELECT COUNT(*) FROM unknowns").fetchone()[0])
            db.execute("DELETE FROM unknowns")
            db.execute("DELETE FROM proposals")
            self._audit(db, "purge", None, None, {"unknowns": n})
            return n

        with self._lock:
            n = int(self._write(write))
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n


__all__ = ["POOL_NAME", "AuditEntry", "PoolSettings", "Unknown", "UnknownPool", "default_pool_location"]
