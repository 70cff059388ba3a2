"""The server store: PostgreSQL with pgvector (HNSW index), for galleries that outgrow one process or machine.

Two tables per gallery (``<name>_meta``, ``<name>_items``) so one database can hold several galleries.
Cosine and dot-product galleries use ``vector_ip_ops`` (embeddings are already normalised for cosine),
euclidean ones ``vector_l2_ops``; hyperbolic distance has no pgvector operator and is refused with a hint.
Each write is one transaction, committed before the call returns (PostgreSQL's ``synchronous_commit=on``
default makes that durable). Scores are similarities: ``-(<#>)`` (inner product) or ``-(<->)`` (minus L2).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from lookalike.errors import GalleryError, NotFoundError
from lookalike.gallery.results import ItemRecord
from lookalike.gallery.stores.base import Hit, VectorStore, VectorTable, taken_name_error
from lookalike.models.distances import Distance, get_distance

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_OPS = {"ip": ("vector_ip_ops", "<#>"), "l2": ("vector_l2_ops", "<->")}


def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(map(str, v.tolist())) + "]"


def _unvec(s: str) -> np.ndarray:
    return np.array(s[1:-1].split(","), dtype=np.float32)


class PgVectorStore(VectorStore):
    """pgvector store; use :meth:`create` / :meth:`open`.

    Args:
        dsn: ``postgresql://user@host:port/db``; name: table prefix (one database, many galleries);
        ef_search: HNSW candidate list size at query time (raised to ``k`` when smaller).
    """

    kind = "pgvector"

    def __init__(
        self, *, dsn: str, name: str = "gallery", ef_search: int = 100, m: int = 16, ef_construction: int = 64
    ) -> None:
        if not _NAME.match(name):
            raise GalleryError(f"gallery name {name!r} must match {_NAME.pattern} (it prefixes table names)")
        self.dsn, self.name = dsn, name
        self.ef_search, self.m, self.ef_construction = ef_search, m, ef_construction
        self._lock = threading.RLock()
        self._conn: Any = None

    @classmethod
    def create(
        cls, dsn: str, /, *, dim: int, distance: Distance, meta: dict[str, Any], **options: Any
    ) -> PgVectorStore:
        if distance.faiss_metric is None:
            raise GalleryError(
                f"distance {distance.name!r} has no pgvector operator; use the sqlite store (exact torch search) "
                "or a model trained with cosine/euclidean/dot"
            )
        store = cls(dsn=dsn, **options)
        conn = store._connect()
        ops, _ = _OPS[distance.faiss_metric]
        t = store.name
        with conn.transaction():
            exists = conn.execute("SELECT to_regclass(%s)", (f"{t}_meta",)).fetchone()[0]
            if exists is not None:
                raise GalleryError(f"a gallery named {t!r} already exists in {store.location}; open it or pick a name")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(f"CREATE TABLE {t}_meta (key text PRIMARY KEY, value jsonb NOT NULL)")
            conn.execute(
                f"CREATE TABLE {t}_items (id bigserial PRIMARY KEY, identity text NOT NULL, "
                f"metadata jsonb NOT NULL, embedding vector({int(dim)}) NOT NULL)"
            )
            conn.execute(f"CREATE INDEX {t}_items_identity ON {t}_items (identity)")
            conn.execute(
                f"CREATE INDEX {t}_items_hnsw ON {t}_items USING hnsw (embedding {ops}) "
                f"WITH (m = {int(store.m)}, ef_construction = {int(store.ef_construction)})"
            )
            info = {"format": 1, "dim": int(dim), "distance": distance.to_dict()}
            rows = [("store", info), ("generation", 0), *meta.items()]
            for k, v in rows:
                conn.execute(f"INSERT INTO {t}_meta VALUES (%s, %s)", (k, json.dumps(v)))
        store._load()
        return store

    @classmethod
    def open(cls, dsn: str, /, **options: Any) -> PgVectorStore:
        store = cls(dsn=dsn, **options)
        conn = store._connect()
        if conn.execute("SELECT to_regclass(%s)", (f"{store.name}_meta",)).fetchone()[0] is None:
            conn.commit()
            raise NotFoundError(
                f"no gallery named {store.name!r} in {store.location}; create one with `gallery create`"
            )
        conn.commit()
        store._load()
        return store

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - depends on the install
            raise GalleryError("the pgvector store needs psycopg: pip install 'lookalike[pgvector]'") from e
        try:
            self._conn = psycopg.connect(self.dsn)
        except psycopg.OperationalError as e:
            raise GalleryError(f"cannot connect to PostgreSQL at {self.location}: {e}".strip()) from e
        return self._conn

    def _load(self) -> None:
        info = self._meta_value("store")
        self.dim, self.distance = int(info["dim"]), get_distance(info["distance"])
        self._op = _OPS[self.distance.faiss_metric or "ip"][1]
        self.conn.execute(f"SET hnsw.ef_search = {int(self.ef_search)}")
        self.conn.commit()

    @property
    def conn(self) -> Any:
        if self._conn is None:
            raise GalleryError(f"the gallery {self.name!r} at {self.location} is closed; open it again")
        return self._conn

    @property
    def location(self) -> str:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        parts = {k: v for k, v in conninfo_to_dict(self.dsn).items() if k != "password"}
        return f"{make_conninfo('', **parts)} name={self.name}"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _meta_value(self, key: str) -> Any:
        row = self.conn.execute(f"SELECT value FROM {self.name}_meta WHERE key=%s", (key,)).fetchone()
        self.conn.commit()
        return row[0] if row else None

    def _write(self, fn: Any) -> Any:
        with self._lock, self.conn.transaction():
            self.conn.execute(f"SELECT value FROM {self.name}_meta WHERE key='generation' FOR UPDATE")
            result = fn()
            self.conn.execute(
                f"UPDATE {self.name}_meta SET value = to_jsonb((value::text)::bigint + 1) WHERE key='generation'"
            )
            return result

    # -- meta -------------------------------------------------------------------------------------------------
    def get_meta(self) -> dict[str, Any]:
        with self._lock:
            rows = self.conn.execute(f"SELECT key, value FROM {self.name}_meta").fetchall()
            self.conn.commit()
        return {k: v for k, v in rows if k not in ("store", "generation")}

    def set_meta(self, updates: dict[str, Any]) -> None:
        for key in updates:
            if key in ("store", "generation"):
                raise GalleryError(f"meta key {key!r} is reserved")

        def apply() -> None:
            for key, value in updates.items():
                if value is None:
                    self.conn.execute(f"DELETE FROM {self.name}_meta WHERE key=%s", (key,))
                else:
                    self.conn.execute(
                        f"INSERT INTO {self.name}_meta VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET value=EXCLUDED.value",
                        (key, json.dumps(value)),
                    )

        self._write(apply)

    # -- writes -----------------------------------------------------------------------------------------------
    def add(
        self, identity: str, vectors: np.ndarray, metadata: list[dict[str, Any]], *, new: bool = False
    ) -> list[int]:
        identity, v, meta_json = self._check_add(identity, vectors, metadata)
        if len(v) == 0:
            return []
        sql = (
            f"INSERT INTO {self.name}_items (identity, metadata, embedding) "
            "SELECT %s, m::jsonb, e::vector FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(m, e, o) "
            "ORDER BY o RETURNING id"
        )

        def apply() -> list[Any]:
            # every write holds the generation row's lock (_write): this check sees any earlier committed add
            taken = f"SELECT 1 FROM {self.name}_items WHERE identity=%s LIMIT 1"
            if new and self.conn.execute(taken, (identity,)).fetchone():
                raise taken_name_error(identity)
            return self.conn.execute(sql, (identity, meta_json, [_vec(x) for x in v])).fetchall()

        return sorted(int(r[0]) for r in self._write(apply))

    def remove_identity(self, identity: str) -> list[int]:
        def apply() -> list[int]:
            rows = self.conn.execute(
                f"DELETE FROM {self.name}_items WHERE identity=%s RETURNING id", (identity,)
            ).fetchall()
            if not rows:
                raise NotFoundError(f"no identity {identity!r} in this gallery; list them with `gallery list`")
            return sorted(int(r[0]) for r in rows)

        return self._write(apply)

    def remove_items(self, ids: list[int]) -> None:
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return

        def apply() -> None:
            rows = self.conn.execute(
                f"DELETE FROM {self.name}_items WHERE id = ANY(%s) RETURNING id", (wanted,)
            ).fetchall()
            self._missing(wanted, {int(r[0]) for r in rows})  # raises -> the transaction rolls back

        self._write(apply)

    # -- reads ------------------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        q = self._check_vectors(queries, "queries")
        sign_sql = f"embedding {self._op} %s::vector"
        sql = f"SELECT id, identity, {sign_sql} AS d FROM {self.name}_items ORDER BY {sign_sql} LIMIT %s"
        out: list[list[Hit]] = []
        with self._lock:
            if k > self.ef_search:
                self.conn.execute(f"SET hnsw.ef_search = {min(int(k), 1000)}")
            for row in q:
                lit = _vec(row)
                res = self.conn.execute(sql, (lit, lit, int(k))).fetchall()
                out.append([Hit(int(i), name, -float(d)) for i, name, d in res])
            if k > self.ef_search:
                self.conn.execute(f"SET hnsw.ef_search = {int(self.ef_search)}")
            self.conn.commit()
        return out

    def count(self) -> int:
        with self._lock:
            n = self.conn.execute(f"SELECT count(*) FROM {self.name}_items").fetchone()[0]
            self.conn.commit()
        return int(n)

    def identity_count(self) -> int:
        with self._lock:
            n = self.conn.execute(f"SELECT count(DISTINCT identity) FROM {self.name}_items").fetchone()[0]
            self.conn.commit()
        return int(n)

    def identities(self) -> dict[str, int]:
        with self._lock:
            q = f"SELECT identity, count(*) FROM {self.name}_items GROUP BY identity ORDER BY identity"
            rows = self.conn.execute(q).fetchall()
            self.conn.commit()
        return {str(n): int(c) for n, c in rows}

    def items(self, identity: str | None = None) -> list[ItemRecord]:
        q = f"SELECT id, identity, metadata FROM {self.name}_items"
        with self._lock:
            if identity is None:
                rows = self.conn.execute(q + " ORDER BY id").fetchall()
            else:
                rows = self.conn.execute(q + " WHERE identity=%s ORDER BY id", (identity,)).fetchall()
            self.conn.commit()
        if identity is not None and not rows:
            raise NotFoundError(f"no identity {identity!r} in this gallery; list them with `gallery list`")
        return [ItemRecord(int(i), n, dict(m)) for i, n, m in rows]

    def vectors(self) -> VectorTable:
        with self._lock:
            rows = self.conn.execute(
                f"SELECT id, identity, embedding::text FROM {self.name}_items ORDER BY id"
            ).fetchall()
            self.conn.commit()
        vectors = np.stack([_unvec(r[2]) for r in rows]) if rows else np.zeros((0, self.dim), np.float32)
        return VectorTable(np.array([r[0] for r in rows], np.int64), [r[1] for r in rows], vectors)

    def generation(self) -> int:
        return int(self._meta_value("generation"))

    # -- images: a table whose rows go with their item (ON DELETE CASCADE) -------------------------------------
    def _has_images(self) -> bool:
        found = self.conn.execute("SELECT to_regclass(%s)", (f"{self.name}_images",)).fetchone()[0] is not None
        return bool(found)

    def put_images(self, images: dict[int, bytes]) -> list[int]:
        t = self.name

        def apply() -> list[int]:
            self.conn.execute(
                f"CREATE TABLE IF NOT EXISTS {t}_images (id bigint PRIMARY KEY REFERENCES {t}_items(id) "
                "ON DELETE CASCADE, jpeg bytea NOT NULL)"
            )
            stored = []
            for i, jpeg in images.items():
                cur = self.conn.execute(
                    f"INSERT INTO {t}_images SELECT id, %s FROM {t}_items WHERE id=%s "
                    "ON CONFLICT (id) DO UPDATE SET jpeg=EXCLUDED.jpeg",
                    (jpeg, int(i)),
                )
                if cur.rowcount:
                    stored.append(int(i))
            return stored

        return self._write(apply) if images else []

    def _image_query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            rows = self.conn.execute(sql, args).fetchall() if self._has_images() else []
            self.conn.commit()
        return list(rows)

    def image(self, item_id: int) -> bytes | None:
        rows = self._image_query(f"SELECT jpeg FROM {self.name}_images WHERE id=%s", (int(item_id),))
        return bytes(rows[0][0]) if rows else None

    def identity_image(self, identity: str) -> bytes | None:
        t = self.name
        sql = f"SELECT jpeg FROM {t}_images JOIN {t}_items USING(id) WHERE identity=%s ORDER BY id LIMIT 1"
        rows = self._image_query(sql, (identity,))
        return bytes(rows[0][0]) if rows else None

    def identities_with_images(self, names: Iterable[str] | None = None) -> set[str]:
        t = self.name
        sql = f"SELECT DISTINCT identity FROM {t}_images JOIN {t}_items USING(id)"
        if names is None:
            return {str(r[0]) for r in self._image_query(sql, ())}
        wanted = sorted(set(names))
        return {str(r[0]) for r in self._image_query(sql + " WHERE identity = ANY(%s)", (wanted,))} if wanted else set()


__all__ = ["PgVectorStore"]
