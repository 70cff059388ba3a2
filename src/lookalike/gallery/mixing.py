"""A gallery's items mixed with their nearest other items (database-side augmentation,
:mod:`lookalike.models.expansion`), kept up to date as the gallery changes.

Mixing every item needs every item's ``k`` nearest others: one search of the whole gallery. Recomputing that at each
change would cost an enrollment into a 100,000-item gallery about 30 s of its next identify (docs/benchmarks.md).
So :class:`ItemMixer` keeps each item's neighbours and updates them from the change alone: an enrolled item gets
its own search and joins the neighbourhoods of the items it is nearer to than their ``k``-th neighbour (an exact
merge: the others were already the nearest among what was there); an item whose neighbour was removed is searched
again. Only the items whose neighbourhood changed are re-mixed. When more than a tenth of the gallery (or more than
:data:`MAX_INCREMENTAL` items) changed at once, it searches the whole gallery again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lookalike.gallery.stores.base import Hit
from lookalike.models.distances import Distance
from lookalike.models.expansion import mix, neighbour_sums

#: changes at most (enrolled + removed items) that an update merges in; more, and the whole gallery is searched
#: again (the merge scores every enrolled item against every stored one)
MAX_INCREMENTAL = 256
#: ``search(queries, n)``: the ``n`` nearest stored items of each query, best first (a store's ``search``)
Search = Callable[[np.ndarray, int], Sequence[Sequence[Hit]]]


@dataclass(frozen=True)
class _State:
    vectors: np.ndarray  # the table it was computed for (its identity tells a cached answer)
    ids: np.ndarray  # (n,) item ids in table order
    k: int
    nb_ids: np.ndarray  # (n, k) neighbour item ids, nearest first; -1 where fewer
    nb_scores: np.ndarray  # (n, k) their scores (higher is nearer); -inf where fewer
    mixed: np.ndarray  # (n, d)


class ItemMixer:
    """The mixed items of the latest table asked for; see the module docstring. Not thread-safe: the gallery
    calls it under its lock."""

    def __init__(self, distance: Distance) -> None:
        self.distance = distance
        self._state: _State | None = None
        #: rows searched again by the last update (the whole table after a full search): what tests check
        self.last_searched = 0

    def cached(self, vectors: np.ndarray, k: int) -> np.ndarray | None:
        """The mixed items of this very table (the same array) with ``k`` neighbours, if they were computed."""
        old = self._state
        return old.mixed if old is not None and old.vectors is vectors and old.k == k else None

    def mixed(self, vectors: np.ndarray, ids: np.ndarray, k: int, search: Search) -> np.ndarray:
        """``vectors`` (with item ``ids``) each mixed with its ``k`` nearest other items."""
        hit = self.cached(vectors, k)
        if hit is not None:
            return hit
        old = self._state
        ids = np.asarray(ids, np.int64)
        state = self._update(old, vectors, ids, search) if old is not None and old.k == k else None
        self._state = state if state is not None else self._full(vectors, ids, k, search)
        return self._state.mixed

    def neighbours(self, vectors: np.ndarray, ids: np.ndarray, k: int, search: Search) -> tuple[np.ndarray, np.ndarray]:
        """Each of ``vectors``' ``k`` nearest other items as (n, k) table rows (-1 where fewer) and their scores
        (-inf there), kept up to date as :meth:`mixed` keeps them (diffusion's graph)."""
        self.mixed(vectors, ids, k, search)
        state = self._state
        assert state is not None
        order = np.argsort(state.ids, kind="stable")
        pos = np.clip(np.searchsorted(state.ids[order], state.nb_ids), 0, len(state.ids) - 1)
        rows = np.where((state.nb_ids >= 0) & (state.ids[order][pos] == state.nb_ids), order[pos], -1)
        return rows, np.where(rows >= 0, state.nb_scores, -np.inf)

    def _full(self, vectors: np.ndarray, ids: np.ndarray, k: int, search: Search) -> _State:
        nb_ids, nb_scores = self._search(vectors, ids, np.arange(len(ids)), k, search)
        self.last_searched = len(ids)
        return _State(vectors, ids, k, nb_ids, nb_scores, self._mix(vectors, ids, nb_ids))

    def _update(self, old: _State, vectors: np.ndarray, ids: np.ndarray, search: Search) -> _State | None:
        k, n = old.k, len(ids)
        old_row = {int(i): r for r, i in enumerate(old.ids)}
        kept = np.array([int(i) in old_row for i in ids], bool)
        removed = np.setdiff1d(old.ids, ids)
        if (n - int(kept.sum())) + len(removed) > min(max(1, n // 10), MAX_INCREMENTAL):
            return None
        nb_ids = np.full((n, k), -1, np.int64)
        nb_scores = np.full((n, k), -np.inf, np.float32)
        rows = np.array([old_row[int(i)] for i in ids[kept]], np.int64)
        nb_ids[kept], nb_scores[kept] = old.nb_ids[rows], old.nb_scores[rows]
        mixed = np.empty((n, vectors.shape[1]), np.float32)
        mixed[kept] = old.mixed[rows]
        redo = ~kept
        if len(removed):
            redo |= np.isin(nb_ids, removed).any(1)
        changed = redo.copy()
        added = np.nonzero(~kept)[0]
        if len(added):  # an enrolled item joins the neighbourhoods it is nearer to than their k-th neighbour
            s = self.distance.scores(torch.from_numpy(vectors), torch.from_numpy(vectors[added])).numpy()  # (n, m)
            s[added, np.arange(len(added))] = -np.inf  # never its own neighbour
            merge = np.nonzero(~redo & (s > nb_scores[:, -1:]).any(1))[0]
            for j in merge:
                cand_ids = np.concatenate([nb_ids[j], ids[added]])
                cand_scores = np.concatenate([nb_scores[j], s[j]])
                top = np.argsort(-cand_scores, kind="stable")[:k]
                nb_ids[j], nb_scores[j] = cand_ids[top], cand_scores[top]
            changed[merge] = True
        again = np.nonzero(redo)[0]
        if len(again):
            nb_ids[again], nb_scores[again] = self._search(vectors, ids, again, k, search)
        self.last_searched = len(again)
        todo = np.nonzero(changed)[0]
        if len(todo):
            mixed[todo] = self._mix(vectors, ids, nb_ids, todo)
        return _State(vectors, ids, k, nb_ids, nb_scores, mixed)

    @staticmethod
    def _search(
        vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray, k: int, search: Search
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The ``k`` nearest other items (ids, scores) of ``vectors[rows]``; items the store holds but the table
        does not (enrolled by another process since it was read) are left out."""
        known = set(ids.tolist())
        nb_ids = np.full((len(rows), k), -1, np.int64)
        nb_scores = np.full((len(rows), k), -np.inf, np.float32)
        for r, hits in enumerate(search(vectors[rows], k + 1)):
            own = int(ids[rows[r]])
            found = [(h.id, h.score) for h in hits if h.id != own and h.id in known][:k]
            if found:
                nb_ids[r, : len(found)] = [f[0] for f in found]
                nb_scores[r, : len(found)] = [f[1] for f in found]
        return nb_ids, nb_scores

    def _mix(
        self, vectors: np.ndarray, ids: np.ndarray, nb_ids: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:  # fmt: skip
        """``vectors[rows]`` mixed with the items ``nb_ids[rows]`` names."""
        rows = np.arange(len(ids)) if rows is None else rows
        order = np.argsort(ids, kind="stable")
        nb = nb_ids[rows]
        pos = np.clip(np.searchsorted(ids[order], nb), 0, len(ids) - 1)
        nb_rows = np.where((nb >= 0) & (ids[order][pos] == nb), order[pos], -1)
        sums, counts = neighbour_sums(vectors, nb_rows)
        return mix(vectors[rows], sums, counts, self.distance)


__all__ = ["MAX_INCREMENTAL", "ItemMixer", "Search"]
