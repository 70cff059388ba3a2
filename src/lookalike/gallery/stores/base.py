"""The contract every gallery store fulfils (tested once for all stores in ``tests/gallery/test_store_contract``).

A store holds items — an id, an identity name, a metadata dict and one float32 vector each — plus a small
key/value ``meta`` record (the model that built the gallery, the threshold, ...). It searches its vectors
with the gallery's distance and answers with *similarities* (higher is closer). A store knows nothing about
models or thresholds: the :class:`~lookalike.gallery.Gallery` on top does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from lookalike.errors import EmbeddingSizeError, GalleryError, NotFoundError
from lookalike.gallery.results import ItemRecord, Match
from lookalike.models.distances import Distance

#: the most nearest items fetched per query to collect ``k`` distinct identities
MAX_FETCH = 1_000_000


class Hit(NamedTuple):
    """One nearest item of a query (a NamedTuple: built tens of times per query on the identify hot path)."""

    id: int
    identity: str
    score: float


def first_identities(hits: Iterable[tuple[str, float]], k: int) -> list[Match]:
    """Max-scoring over ``(identity, score)`` pairs sorted best first: the first ``k`` distinct identities."""
    seen: dict[str, float] = {}
    for name, score in hits:
        if name not in seen:
            seen[name] = score
            if len(seen) == k:
                break
    return [Match(name, score) for name, score in seen.items()]


def widening_identity_search(
    n: int,
    k: int,
    fetch: Callable[[list[int], int], Iterable[tuple[list[Match], int]]],
    total: int | None = None,
) -> list[list[Match]]:
    """Max-scoring nearest identities of ``n`` queries from nearest-item searches.

    ``fetch(rows, m)`` searches the ``m`` nearest items of queries ``rows`` and gives, per row, its first ``k``
    distinct identities and how many items came back. Starts at ``max(4k, k + 16)`` items and, for the queries
    where they hold fewer than ``k`` identities while the store may have more, fetches four times as many again.
    Never more than ``MAX_FETCH`` items, nor than the store's ``total`` when given; a ``k`` beyond those still
    gets one search at the cap (it used to get none: no match at all, so every probe came out unknown).
    """
    out: list[list[Match]] = [[] for _ in range(n)]
    cap = MAX_FETCH if total is None else min(MAX_FETCH, total)
    if cap < 1:
        return out
    todo = list(range(n))
    m = min(max(4 * k, k + 16), cap)
    while todo:
        more = []
        for row, (matches, got) in zip(todo, fetch(todo, m), strict=True):
            out[row] = matches
            if len(matches) < k and got == m:  # too few identities, and there may be more items
                more.append(row)
        if m >= cap:
            break
        todo, m = more, min(m * 4, cap)
    return out


@dataclass(frozen=True)
class VectorTable:
    """Every stored vector with its id and identity (for exact identity scoring and rebuilds)."""

    ids: np.ndarray
    identities: list[str]
    vectors: np.ndarray


def taken_name_error(identity: str) -> GalleryError:
    """The refusal of :meth:`VectorStore.add` with ``new=True`` for a name that already has items."""
    return GalleryError(
        f"identity {identity!r} is already enrolled (perhaps by another request a moment ago); merge into it or "
        "choose a new name"
    )


class VectorStore(ABC):
    """Abstract store; see the module docstring. Implementations are thread-safe within a process."""

    kind: ClassVar[str]
    dim: int
    distance: Distance

    # -- lifecycle --------------------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def create(
        cls, location: str, /, *, dim: int, distance: Distance, meta: dict[str, Any], **options: Any
    ) -> VectorStore:
        """A new, empty store at ``location`` (a folder, a DSN) for ``dim``-d vectors of ``distance``, with the
        meta record ``meta``; :class:`GalleryError` when one exists there already. ``options`` are the store's
        own (unknown ones are a :class:`ConfigError` naming the known ones)."""

    @classmethod
    @abstractmethod
    def open(cls, location: str, /, **options: Any) -> VectorStore:
        """The existing store at ``location``; :class:`NotFoundError` when there is none."""

    # -- meta -------------------------------------------------------------------------------------------------
    @abstractmethod
    def get_meta(self) -> dict[str, Any]:
        """The meta record (JSON-compatible values)."""

    @abstractmethod
    def set_meta(self, updates: dict[str, Any]) -> None:
        """Durably merge ``updates`` into the meta record (a value of ``None`` deletes the key)."""

    # -- writes -----------------------------------------------------------------------------------------------
    @abstractmethod
    def add(
        self, identity: str, vectors: np.ndarray, metadata: list[dict[str, Any]], *, new: bool = False
    ) -> list[int]:
        """Durably store ``vectors`` (n, dim) under ``identity``; returns the new item ids, in order.

        ``new``: only as a new identity — :class:`GalleryError`, nothing stored, when ``identity`` already has
        items, checked inside the write's own transaction (another process's enrolment of the name is seen)."""

    @abstractmethod
    def remove_identity(self, identity: str) -> list[int]:
        """Remove every item of ``identity``; returns their ids. :class:`NotFoundError` when it has none."""

    @abstractmethod
    def remove_items(self, ids: list[int]) -> None:
        """Remove items by id, all or none. :class:`NotFoundError` names any id that does not exist."""

    # -- reads ------------------------------------------------------------------------------------------------
    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        """The ``k`` most similar items of each query, best first (fewer when the store holds fewer)."""

    def search_identities(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        """The ``k`` most similar distinct identities of each query, best first, each scored by its most similar
        item (max-scoring); fewer when the store holds fewer identities (or, for an approximate index, when the
        searched part of it does)."""
        return self._search_identities(self._check_vectors(queries, "queries"), int(k))

    def _search_identities(self, q: np.ndarray, k: int) -> list[list[Match]]:
        """:meth:`search_identities` for queries already checked (float32, ``(n, dim)``, finite), through
        :func:`widening_identity_search` over :meth:`search`. Stores override this with something cheaper where
        they can."""

        def fetch(rows: list[int], m: int) -> list[tuple[list[Match], int]]:
            hits = self.search(q[rows], m)
            return [(first_identities(((x.identity, x.score) for x in h), k), len(h)) for h in hits]

        return widening_identity_search(len(q), k, fetch)

    @abstractmethod
    def count(self) -> int:
        """Number of stored items."""

    @abstractmethod
    def identities(self) -> dict[str, int]:
        """Identity name → number of items, sorted by name."""

    def identity_count(self) -> int:
        """Number of identities (stores override this with something cheaper than listing them)."""
        return len(self.identities())

    @abstractmethod
    def items(self, identity: str | None = None) -> list[ItemRecord]:
        """Item records (of one identity, or all), by id. :class:`NotFoundError` for an unknown identity."""

    @abstractmethod
    def vectors(self) -> VectorTable:
        """Every vector with its id and identity."""

    # -- images: one small picture per item (the service's thumbnails), removed in the item's own transaction --
    @abstractmethod
    def put_images(self, images: dict[int, bytes]) -> list[int]:
        """Store one image per item id; ids no longer in the store are skipped. Returns the ids stored."""

    @abstractmethod
    def image(self, item_id: int) -> bytes | None:
        """The image of a stored item, or ``None`` (no such item, or none was stored)."""

    @abstractmethod
    def identity_image(self, identity: str) -> bytes | None:
        """The image of the identity's earliest item that has one, or ``None``."""

    @abstractmethod
    def identities_with_images(self, names: Iterable[str] | None = None) -> set[str]:
        """Names of the identities (among ``names``, or all) that have at least one image."""

    @abstractmethod
    def generation(self) -> int:
        """A counter that changes with every committed write (for caches built on top)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and persist derived state; the store is unusable afterwards."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store lives (a folder or a DSN without password)."""

    # -- shared validation ------------------------------------------------------------------------------------
    def _check_vectors(self, vectors: np.ndarray, what: str = "vectors") -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.dim:
            got = v.shape[-1] if v.ndim >= 1 else 0
            raise EmbeddingSizeError(
                f"{what} must have {self.dim} columns to match this gallery's embedding size; got {got} "
                f"(shape {tuple(v.shape)}). Were they embedded with another model?"
            )
        if not np.isfinite(v).all():
            from lookalike.errors import DataError

            raise DataError(f"{what} contain NaN or infinite values; check the model's output")
        return v

    @staticmethod
    def _check_identity(identity: str) -> str:
        from lookalike.names import identity_name

        return identity_name(identity)

    def _check_add(
        self, identity: str, vectors: np.ndarray, metadata: list[dict[str, Any]]
    ) -> tuple[str, np.ndarray, list[str]]:
        """Validate an ``add`` call: identity, vectors, one JSON-serialisable metadata dict per vector."""
        import json

        from lookalike.errors import DataError

        identity = self._check_identity(identity)
        v = self._check_vectors(vectors)
        if len(metadata) != len(v):
            raise DataError(f"got {len(metadata)} metadata dicts for {len(v)} vectors; give one per item")
        try:
            meta_json = [json.dumps(m) if m else "{}" for m in metadata]
        except TypeError as e:
            raise DataError(f"item metadata must be JSON-serialisable: {e}") from e
        return identity, v, meta_json

    @staticmethod
    def _missing(ids: list[int], present: set[int]) -> None:
        missing = [i for i in ids if i not in present]
        if missing:
            raise NotFoundError(f"no item with id {missing[:10]} in this gallery; list items with `gallery list`")


__all__ = ["Hit", "VectorStore", "VectorTable", "first_identities", "widening_identity_search"]
