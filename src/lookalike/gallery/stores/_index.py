"""In-memory search indexes kept in step with a store, and their on-disk snapshot format.

:class:`FaissIndex` wraps an exact ``IndexFlat`` of the distance's faiss metric (in an ``IndexIDMap2``) or,
past a size, an ``IndexIVFFlat`` (trained on the vectors present at that moment; it supports removal by id).
:class:`TorchExactIndex` is the exact chunked search for distances faiss has no metric for (hyperbolic).
Both answer ``search(queries, k)`` with *similarities* (higher is closer), matching ``Distance.scores``.

Snapshot file: ``LKIDX1\\n`` + 8-byte header length + JSON header (generation, max id, count, ...) + the
faiss-serialized index (or the raw vectors for the torch index). Written to a temporary file, fsynced and
renamed, so a crash leaves either the old or the new snapshot, never half of one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lookalike.models.distances import Distance

MAGIC = b"LKIDX1\n"


class SearchIndex(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def ntotal(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def ids(self) -> np.ndarray: ...

    def serialize(self) -> bytes: ...


class FaissIndex:
    """faiss flat (exact) or IVF-flat index over ids; scores returned as similarities."""

    def __init__(self, *, dim: int, distance: Distance, index: Any = None, nprobe: int = 32) -> None:
        import faiss

        self.dim = dim
        self.distance = distance
        self.nprobe = nprobe
        if index is None:
            index = faiss.IndexIDMap2(faiss.IndexFlat(dim, distance.faiss_metric_type()))
        self.index = index
        self._configure()

    def _configure(self) -> None:
        import faiss

        ivf = faiss.try_extract_index_ivf(self.index) if not isinstance(self.index, faiss.IndexIDMap2) else None
        if ivf is not None:
            ivf.nprobe = self.nprobe
            hashtable = faiss.DirectMap.Hashtable  # type: ignore[attr-defined]
            if ivf.direct_map.type != hashtable:  # remove_ids by id without scanning every list
                ivf.set_direct_map_type(hashtable)

    @property
    def kind(self) -> str:
        import faiss

        return "flat" if isinstance(self.index, faiss.IndexIDMap2) else "ivf"

    @classmethod
    def build_ivf(
        cls,
        *,
        dim: int,
        distance: Distance,
        ids: np.ndarray,
        vectors: np.ndarray,
        nlist: int | None,
        nprobe: int,
        seed: int = 0,
    ) -> FaissIndex:
        """An IVF-flat index trained on (a sample of) ``vectors`` and holding all of them."""
        import faiss

        n = len(vectors)
        nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 40))  # faiss wants >= 39 points per list
        mt = distance.faiss_metric_type()
        quantizer = faiss.IndexFlat(dim, mt)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, mt)
        sample = vectors
        if n > 50 * nlist:  # faiss asks for 39-256 points per centroid; 50 keeps training to seconds
            rng = np.random.default_rng(seed)
            sample = vectors[rng.choice(n, 50 * nlist, replace=False)]
        index.cp.seed = seed
        index.cp.niter = 10  # k-means iterations: coarse lists need no more
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        quantizer.this.disown()  # type: ignore[attr-defined]  # the IVF index owns (and frees) its quantizer
        index.own_fields = True
        out = cls(dim=dim, distance=distance, index=index, nprobe=nprobe)
        out.add(ids, vectors)
        return out

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        import faiss

        if len(ids):
            arr = np.ascontiguousarray(ids, dtype=np.int64)
            if self.kind == "ivf":  # the hashtable direct map only removes through an IDSelectorArray
                self.index.remove_ids(faiss.IDSelectorArray(len(arr), faiss.swig_ptr(arr)))
            else:
                self.index.remove_ids(faiss.IDSelectorBatch(arr))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.ntotal)
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        d, i = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return self.distance.faiss_scores(d), i

    def ids(self) -> np.ndarray:
        import faiss

        if self.kind == "flat":
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        invlists = self.index.invlists
        out = [
            faiss.rev_swig_ptr(invlists.get_ids(j), invlists.list_size(j)).copy()
            for j in range(self.index.nlist)
            if invlists.list_size(j)
        ]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    def serialize(self) -> bytes:
        import faiss

        return faiss.serialize_index(self.index).tobytes()

    @classmethod
    def deserialize(cls, data: bytes, *, dim: int, distance: Distance, nprobe: int) -> FaissIndex:
        import faiss

        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        return cls(dim=dim, distance=distance, index=index, nprobe=nprobe)


class TorchExactIndex:
    """Exact search with ``distance.scores`` in chunks (for distances faiss lacks, e.g. hyperbolic)."""

    @property
    def kind(self) -> str:
        return "torch-exact"

    def __init__(self, *, dim: int, distance: Distance, chunk: int = 65536) -> None:
        self.dim = dim
        self.distance = distance
        self.chunk = chunk
        self._ids = np.zeros(0, np.int64)
        self._vectors = np.zeros((0, dim), np.float32)

    @property
    def ntotal(self) -> int:
        return len(self._ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._ids = np.concatenate([self._ids, np.asarray(ids, np.int64)])
        self._vectors = np.concatenate([self._vectors, np.asarray(vectors, np.float32).reshape(-1, self.dim)])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        k = min(k, self.ntotal)
        q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
        best_s = torch.full((len(q), 0), -math.inf)
        best_i = torch.zeros((len(q), 0), dtype=torch.int64)
        for start in range(0, self.ntotal, self.chunk):
            r = torch.from_numpy(self._vectors[start : start + self.chunk])
            s = self.distance.scores(q, r)
            ids = torch.from_numpy(self._ids[start : start + self.chunk]).expand(len(q), -1)
            s, pos = torch.cat([best_s, s], 1), torch.cat([best_i, ids], 1)
            best_s, top = s.topk(min(k, s.shape[1]), dim=1)
            best_i = pos.gather(1, top)
        return best_s.numpy().astype(np.float32), best_i.numpy()

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def serialize(self) -> bytes:
        return self._ids.tobytes() + self._vectors.tobytes()

    @classmethod
    def deserialize(cls, data: bytes, *, dim: int, distance: Distance, count: int) -> TorchExactIndex:
        out = cls(dim=dim, distance=distance)
        out._ids = np.frombuffer(data[: 8 * count], dtype=np.int64).copy()
        out._vectors = np.frombuffer(data[8 * count :], dtype=np.float32).reshape(count, dim).copy()
        return out


def new_index(*, dim: int, distance: Distance, nprobe: int) -> SearchIndex:
    """An empty exact index for ``distance``: faiss where it has the distance's metric, else torch."""
    if distance.faiss_metric is None:
        return TorchExactIndex(dim=dim, distance=distance)
    return FaissIndex(dim=dim, distance=distance, nprobe=nprobe)


def load_index(header: dict[str, Any], payload: bytes, *, dim: int, distance: Distance, nprobe: int) -> SearchIndex:
    """The index of a snapshot (``header["index_kind"]`` says which); raises when it is inconsistent."""
    if header["index_kind"] == "torch-exact":
        return TorchExactIndex.deserialize(payload, dim=dim, distance=distance, count=header["count"])
    index = FaissIndex.deserialize(payload, dim=dim, distance=distance, nprobe=nprobe)
    if index.ntotal != header["count"]:
        raise ValueError("snapshot count mismatch")
    return index


def write_snapshot(path: Path, header: dict[str, Any], payload: bytes) -> None:
    """Atomically replace ``path`` with ``header`` + ``payload`` (tmp file, fsync, rename, fsync dir)."""
    head = json.dumps(header, sort_keys=True).encode()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(MAGIC + len(head).to_bytes(8, "little") + head)
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_snapshot(path: Path) -> tuple[dict[str, Any], bytes] | None:
    """(header, payload) of a snapshot, or ``None`` when it is missing or not a snapshot."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        return None
    n = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    try:
        header = json.loads(data[start : start + n])
    except ValueError:
        return None
    payload = data[start + n :]
    if not isinstance(header, dict) or header.get("payload_bytes") != len(payload):
        return None
    return header, payload


__all__ = [
    "FaissIndex",
    "SearchIndex",
    "TorchExactIndex",
    "load_index",
    "new_index",
    "read_snapshot",
    "write_snapshot",
]
