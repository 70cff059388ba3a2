"""Retrieval metrics with the definitions of Musgrave et al., "A Metric Learning Reality Check" (ECCV 2020).

For a query ``q`` with label ``y`` let ``R`` be the number of references with label ``y`` (not counting ``q``
itself when queries and references are one set) and ``rel(j)`` whether the j-th neighbour has label ``y``:

- Precision@1 = rel(1).
- R-Precision = (1/R) · Σ_{j≤R} rel(j).
- MAP@R = (1/R) · Σ_{j≤R} rel(j) · P@j, where P@j is the precision among the first j neighbours.
- MAP@K = (1/min(K, R)) · Σ_{j≤K} rel(j) · P@j, so a perfect ranking scores 1 (the usual AP@K; PML's
  ``mean_average_precision`` with ``k=K`` divides by R instead, which is the same whenever K ≥ R).
- Recall@K = 1 if any of the first K neighbours has label ``y`` (the "Recall@K" of the deep metric learning
  literature, e.g. Song et al. 2016; Recall@1 = Precision@1).

Each is averaged over queries with R ≥ 1 (PML leaves out "lone" queries the same way) and, here, with a known
label: queries labelled -1 (unknown) have nothing to retrieve and are skipped, while references labelled -1 stay
in as distractors. Values equal PML's ``AccuracyCalculator`` (tests check 1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import DataError
from lookalike.evaluation.knn import KNNResult, as_matrix, exact_knn
from lookalike.models.diffusion import (
    DiffusionGraph,
    check_diffusion_alone,
    check_diffusion_distance,
    diffusion_depth,
    leave_one_out,
    ranked,
)
from lookalike.models.distances import Distance, get_distance
from lookalike.models.expansion import expand_queries, expansion_depth, mix, neighbour_sums

DEFAULT_KS: tuple[int, ...] = (1, 5, 10)
_ROWS = 16_384  # queries per vectorised step (bounds the (rows, k) temporaries)
_PAIRS = 4_096  # re-mixed (query, reference) pairs per vectorised step (bounds the (pairs, d) temporaries)


@dataclass(frozen=True)
class RetrievalMetrics:
    """Mean retrieval metrics over the evaluated queries; ``*_per_query`` hold the per-query values."""

    precision_at_1: float
    r_precision: float
    map_at_r: float
    recall_at_k: dict[int, float]
    map_at_k: dict[int, float]
    num_queries: int
    num_skipped_queries: int
    #: indices (into the queries) of the evaluated queries, and their MAP@R / R-Precision
    query_index: np.ndarray = field(repr=False, compare=False)
    map_at_r_per_query: np.ndarray = field(repr=False, compare=False)
    r_precision_per_query: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready scalars (per-query arrays left out)."""
        return {
            "precision_at_1": self.precision_at_1,
            "r_precision": self.r_precision,
            "map_at_r": self.map_at_r,
            "recall_at_k": {str(k): v for k, v in self.recall_at_k.items()},
            "map_at_k": {str(k): v for k, v in self.map_at_k.items()},
            "num_queries": self.num_queries,
            "num_skipped_queries": self.num_skipped_queries,
        }


def relevant_counts(query_labels: np.ndarray, reference_labels: np.ndarray, *, exclude_self: bool) -> np.ndarray:
    """R per query: references sharing its label, minus the query itself when searching one set."""
    classes, counts = np.unique(np.asarray(reference_labels), return_counts=True)
    if not len(classes):
        return np.zeros(len(query_labels), dtype=np.int64)
    pos = np.clip(np.searchsorted(classes, query_labels), 0, len(classes) - 1)
    found = classes[pos] == query_labels
    return np.where(found, counts[pos] - int(exclude_self), 0).astype(np.int64)


def _check(query_labels: Any, n: int, what: str) -> np.ndarray:
    labels = np.asarray(query_labels)
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"{what} must be a 1-D array with one label per row ({n}); got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what} must be integers (class indices, -1 for unknown); got dtype {labels.dtype}")
    return labels.astype(np.int64)


def metrics_from_neighbours(
    neighbour_labels: np.ndarray,
    query_labels: Any,
    reference_labels: Any,
    *,
    exclude_self: bool,
    ks: Sequence[int] = DEFAULT_KS,
) -> RetrievalMetrics:
    """Metrics from the labels of each query's ranked neighbours ((n, k), best first).

    ``k`` must be at least the largest R and the largest of ``ks``, otherwise the values would be truncated.
    """
    nb = np.asarray(neighbour_labels)
    q = _check(query_labels, nb.shape[0], "query labels")
    ref = _check(reference_labels, len(np.asarray(reference_labels)), "reference labels")
    r_all = relevant_counts(q, ref, exclude_self=exclude_self)
    keep = np.nonzero((r_all > 0) & (q != UNKNOWN_LABEL))[0]
    k = nb.shape[1]
    need = max([int(r_all[keep].max(initial=0)), *ks])
    if need > k:
        raise DataError(
            f"{k} neighbours per query are too few: MAP@R needs R={int(r_all[keep].max(initial=0))} and "
            f"Recall@K needs K={max(ks)}; search k={need} neighbours"
        )
    if not len(keep):
        if exclude_self and (q != UNKNOWN_LABEL).any():  # leave-one-out: every known class has a single item
            raise DataError(
                "every class has a single item, so no item has another of its class to retrieve; retrieval needs "
                "at least 2 items per class (add items, or leave single-item classes out)"
            )
        raise DataError(
            "no query has a relevant reference (every query label is unknown or absent from the references); "
            "check that queries and references share classes"
        )
    ap_r = np.empty(len(keep))
    rp = np.empty(len(keep))
    p1 = np.empty(len(keep))
    recall = {kk: np.empty(len(keep)) for kk in ks}
    map_k = {kk: np.empty(len(keep)) for kk in ks}
    ranks = np.arange(1, k + 1)
    for s in range(0, len(keep), _ROWS):
        rows = keep[s : s + _ROWS]
        hits = nb[rows] == q[rows, None]
        r = r_all[rows].astype(np.float64)
        in_r = ranks[None, :] <= r_all[rows, None]
        hr = hits & in_r
        cum = np.cumsum(hr, axis=1)
        ap_r[s : s + len(rows)] = (cum * hr / ranks).sum(1) / r
        rp[s : s + len(rows)] = hr.sum(1) / r
        p1[s : s + len(rows)] = hits[:, 0]
        cum_all = np.cumsum(hits, axis=1)
        prec = cum_all * hits / ranks
        for kk in ks:
            recall[kk][s : s + len(rows)] = hits[:, :kk].any(1)
            map_k[kk][s : s + len(rows)] = prec[:, :kk].sum(1) / np.minimum(r, kk)
    return RetrievalMetrics(
        precision_at_1=float(p1.mean()),
        r_precision=float(rp.mean()),
        map_at_r=float(ap_r.mean()),
        recall_at_k={kk: float(v.mean()) for kk, v in recall.items()},
        map_at_k={kk: float(v.mean()) for kk, v in map_k.items()},
        num_queries=len(keep),
        num_skipped_queries=len(q) - len(keep),
        query_index=keep,
        map_at_r_per_query=ap_r,
        r_precision_per_query=rp,
    )


def retrieval_metrics(
    queries: Any,
    query_labels: Any,
    references: Any | None = None,
    reference_labels: Any | None = None,
    *,
    distance: str | dict[str, Any] | Distance = "cosine",
    ks: Sequence[int] = DEFAULT_KS,
    max_memory_mb: float = 512.0,
    device: str | None = None,
    query_expansion: int = 0,
    database_augmentation: int = 0,
    diffusion: int = 0,
) -> tuple[RetrievalMetrics, KNNResult]:
    """Search exactly as deep as the metrics need, then compute them.

    With ``references=None`` every query is searched against all the others (leave-one-out), the protocol of
    Musgrave et al.; otherwise against the separate ``references``. Returns the metrics and the neighbours.
    ``query_expansion``: each query is first mixed with the mean of its that many nearest references (never itself; at
    most half the median items per class: :mod:`lookalike.models.expansion`), then searched again.
    ``database_augmentation``: the references are ranked as mixed with the mean of their that many nearest other
    references (same cap); in a leave-one-out search a query is never among the neighbours a reference is mixed
    with (each such reference is re-mixed without it), as a gallery's items never include a future query.
    ``diffusion``: the references ranked by diffusion over their graph of that many nearest others (cosine only;
    at most half the median items per class, none below :data:`~lookalike.models.diffusion.MIN_GRAPH`:
    :mod:`lookalike.models.diffusion`); leave-one-out, each query is taken out of the graph it seeds. It replaces
    query expansion and database-side augmentation (asking for both is a :class:`ConfigError`).
    """
    check_diffusion_alone(diffusion, query_expansion, database_augmentation)
    exclude_self = references is None
    q_labels = _check(query_labels, len(queries), "query labels")
    r_labels = q_labels if references is None else _check(reference_labels, len(references), "reference labels")
    k, ks = _search_depth(q_labels, r_labels, exclude_self, ks)
    knn = exact_knn(queries, references, k=k, distance=distance, max_memory_mb=max_memory_mb, device=device)
    counts = np.unique(r_labels[r_labels != UNKNOWN_LABEL], return_counts=True)[1]
    depth, db_depth = expansion_depth(query_expansion, counts), expansion_depth(database_augmentation, counts)
    graph = diffusion_depth(diffusion, counts)
    if graph:
        dist = get_distance(distance)
        check_diffusion_distance(graph, dist.name)
        search = _Search(dist, max_memory_mb, device)
        q = as_matrix(queries, "queries").numpy()
        r = None if references is None else as_matrix(references, "references").numpy()
        knn = search.diffused(q, r, knn, graph)
    elif depth or db_depth:
        search = _Search(get_distance(distance), max_memory_mb, device)
        q = as_matrix(queries, "queries").numpy()
        r = None if references is None else as_matrix(references, "references").numpy()
        knn = search.expanded(q, r, knn, k, depth, search.mixed(q if r is None else r, db_depth, r is None))
    return metrics_from_neighbours(knn.labels(r_labels), q_labels, r_labels, exclude_self=exclude_self, ks=ks), knn


def _search_depth(
    q_labels: np.ndarray, r_labels: np.ndarray, exclude_self: bool, ks: Sequence[int]
) -> tuple[int, tuple[int, ...]]:  # fmt: skip
    """How many neighbours the metrics need (the largest R of a known query, or the largest K), and the Ks
    that many neighbours can serve."""
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise DataError(f"ks must be positive integers such as (1, 5, 10); got {ks}")
    r_all = relevant_counts(q_labels, r_labels, exclude_self=exclude_self)
    available = len(r_labels) - int(exclude_self)
    k = min(available, max([int(r_all[q_labels != UNKNOWN_LABEL].max(initial=0)), *ks]))
    if k < 1:
        raise DataError("retrieval needs at least two items (or one query and one reference)")
    return k, tuple(kk for kk in ks if kk <= k)


def expansion_grid(
    embeddings: Any, labels: Any, *, distance: str | dict[str, Any] | Distance = "cosine",
    expansions: Sequence[int] = (0,), augmentations: Sequence[int] = (0,), ks: Sequence[int] = (1,),
    max_memory_mb: float = 512.0, device: str | None = None,
) -> dict[tuple[int, int], RetrievalMetrics]:  # fmt: skip
    """Leave-one-out retrieval metrics (as :func:`retrieval_metrics`) for every pair of query expansion and
    database-side augmentation, sharing the searches: each augmentation's mixed references are computed once."""
    x = as_matrix(embeddings, "embeddings").numpy()
    y = _check(labels, len(x), "labels")
    k, ks = _search_depth(y, y, True, ks)
    search = _Search(get_distance(distance), max_memory_mb, device)
    first = search.knn(x, None, k)
    counts = np.unique(y[y != UNKNOWN_LABEL], return_counts=True)[1]
    out: dict[tuple[int, int], RetrievalMetrics] = {}
    for a in sorted({int(a) for a in augmentations}):
        mixed = search.mixed(x, expansion_depth(a, counts), True)
        for e in sorted({int(e) for e in expansions}):
            knn = search.expanded(x, None, first, k, expansion_depth(e, counts), mixed)
            out[e, a] = metrics_from_neighbours(knn.labels(y), y, y, exclude_self=True, ks=ks)
    return out


def diffusion_grid(
    embeddings: Any, labels: Any, *, graphs: Sequence[int], ks: Sequence[int] = (1,), max_memory_mb: float = 512.0,
    device: str | None = None,
) -> dict[int, RetrievalMetrics]:  # fmt: skip
    """Leave-one-out retrieval metrics (as :func:`retrieval_metrics` with ``diffusion``) of cosine embeddings
    for each graph ``k`` in ``graphs`` (0 = plain), sharing the searches; ``k`` that cap to the same depth share
    one diffusion."""
    x = as_matrix(embeddings, "embeddings").numpy()
    y = _check(labels, len(x), "labels")
    k, ks = _search_depth(y, y, True, ks)
    search = _Search(get_distance("cosine"), max_memory_mb, device)
    first = search.knn(x, None, k)
    counts = np.unique(y[y != UNKNOWN_LABEL], return_counts=True)[1]
    by_depth: dict[int, RetrievalMetrics] = {}
    out: dict[int, RetrievalMetrics] = {}
    for g in sorted({int(g) for g in graphs}):
        depth = diffusion_depth(g, counts)
        if depth not in by_depth:
            knn = search.diffused(x, None, first, depth) if depth else first
            by_depth[depth] = metrics_from_neighbours(knn.labels(y), y, y, exclude_self=True, ks=ks)
        out[g] = by_depth[depth]
    return out


@dataclass(frozen=True)
class _Mixed:
    """References mixed with their nearest others (database-side augmentation; ``points`` ``None`` = as they
    are); for a leave-one-out search also each (query ``i``, reference ``j``) pair where ``i`` is one of ``j``'s
    neighbours, whose ``j`` is scored re-mixed without ``i`` (:meth:`remixed`)."""

    points: np.ndarray | None = None
    pair_query: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    pair_reference: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    #: what re-mixing needs: the references, their neighbour sums and counts, the neighbour table and its width
    parts: tuple[Any, ...] = ()
    #: every pair's re-mixed reference, when they fit in the memory budget (else computed per block)
    kept: np.ndarray | None = None

    def remixed(self, s: int, e: int, dist: Distance) -> np.ndarray:
        """Pairs ``s:e``'s re-mixed references: without the query, with the next neighbour where there is one."""
        if self.kept is not None:
            return self.kept[s:e]
        r, sums, counts, nbrs, cols = self.parts
        js, is_ = self.pair_reference[s:e], self.pair_query[s:e]
        deeper = nbrs.shape[1] > cols
        part = sums[js] - r[is_] + (r[nbrs[js, cols]] if deeper else 0)
        return mix(r[js], part, counts[js] - 1 + int(deeper), dist)


@dataclass(frozen=True)
class _Search:
    """Exact searches with one distance, memory budget and device (the expanded searches' steps)."""

    dist: Distance
    max_memory_mb: float
    device: str | None

    def knn(self, q: np.ndarray, r: np.ndarray | None, k: int) -> KNNResult:
        return exact_knn(q, r, k=k, distance=self.dist, max_memory_mb=self.max_memory_mb, device=self.device)

    def diffused(self, q: np.ndarray, r: np.ndarray | None, first: KNNResult, graph: int) -> KNNResult:
        """``first``'s depth of references (``r``, or ``q`` itself leaving each query out when ``None``) ranked by
        diffusion over the references' ``graph``-nearest-neighbour graph, seeded by each query's ``graph`` nearest;
        the scores are diffusion scores (0 where a reference is reached by no path and ranked in ``first``'s order).
        """
        k, n = first.k, len(q)
        idx = np.empty((n, k), np.int64)
        sc = np.zeros((n, k), np.float32)
        if r is None:
            width = min(graph + 1, n - 1)
            table = first if first.k >= width else self.knn(q, None, width)
            rows = leave_one_out(table.indices[:, :width], table.scores[:, :width], min(graph, width))
        else:
            g = min(graph, len(r) - 1)
            own = self.knn(r, None, g) if g >= 1 else None
            net = DiffusionGraph(own.indices, own.scores, g) if own is not None else None
            seeds = self.knn(q, r, min(graph, len(r)))
            rows = (net.diffuse(seeds.indices[i], seeds.scores[i]) if net is not None else np.zeros(len(r))
                    for i in range(n))  # fmt: skip
        for i, f in enumerate(rows):
            idx[i] = ranked(f, first.indices[i], k)
            sc[i] = np.maximum(f[idx[i]], 0.0)
        return KNNResult(idx, sc, r is None, self.dist.name)

    def mixed(self, r: np.ndarray, n_augment: int, loo: bool) -> _Mixed:
        """``r`` mixed with each row's ``n_augment`` nearest other rows; ``loo``: ``r`` is also the queries."""
        n = len(r)
        width = min(n_augment + int(loo), n - 1)
        if not n_augment or width < 1:  # none asked, or a single reference: nothing to mix it with
            return _Mixed()
        nbrs = self.knn(r, None, width).indices
        cols = min(n_augment, width)
        sums, counts = neighbour_sums(r, nbrs[:, :cols])
        points = mix(r, sums, counts, self.dist)
        if not loo:
            return _Mixed(points)
        # the pairs where query i is one of reference j's first `cols` neighbours
        base = _Mixed(points, nbrs[:, :cols].reshape(-1), np.repeat(np.arange(n), cols), (r, sums, counts, nbrs, cols))
        if len(base.pair_query) * r.shape[1] * 4 > self.max_memory_mb * 2**20:
            return base  # re-mixed per block at each scoring instead of kept
        kept = np.empty((len(base.pair_query), r.shape[1]), np.float32)
        for s in range(0, len(kept), _PAIRS):
            kept[s : s + _PAIRS] = base.remixed(s, s + _PAIRS, self.dist)
        return replace(base, kept=kept)

    def expanded(
        self, q: np.ndarray, r: np.ndarray | None, first: KNNResult, k: int, n_expand: int, mixed: _Mixed
    ) -> KNNResult:
        """The ``k`` nearest references (``r``, or ``q`` itself leaving each query's own row out when ``None``) of
        each query mixed with the mean of its ``n_expand`` nearest (``first``'s leading columns, or a deeper
        search), ranked against the ``mixed`` references."""
        loo = r is None
        refs = q if r is None else r
        qx = q
        if n_expand:
            depth = min(n_expand, len(refs) - int(loo))
            nb = first.indices[:, :depth] if depth <= first.k else self.knn(q, r, depth).indices
            qx = expand_queries(q, refs, nb, self.dist)
        if mixed.points is not None:
            return self._augmented(qx, k, mixed) if loo else self.knn(qx, mixed.points, k)
        if not n_expand:
            return first if first.k == k else self.knn(q, r, k)
        if not loo:
            return self.knn(qx, refs, k)
        # one more neighbour, then each query's own row (wherever it came) dropped
        deeper = self.knn(qx, refs, min(k + 1, len(refs)))
        own = deeper.indices == np.arange(len(q))[:, None]
        keep = np.argsort(own, axis=1, kind="stable")[:, :k]
        return KNNResult(
            np.take_along_axis(deeper.indices, keep, 1), np.take_along_axis(deeper.scores, keep, 1), True,
            self.dist.name,
        )  # fmt: skip

    def _augmented(self, qx: np.ndarray, k: int, mixed: _Mixed) -> KNNResult:
        """Leave-one-out: ``qx[i]`` (query ``i``, expanded or not) against the mixed references, where a reference
        that had ``i`` among its neighbours is scored re-mixed without it, and ``i`` itself is left out."""
        assert mixed.points is not None
        n, i_of, j_of = len(qx), mixed.pair_query, mixed.pair_reference
        fixed = np.empty(len(i_of), np.float32)
        for s in range(0, len(i_of), _PAIRS):
            fixed[s : s + _PAIRS] = self.dist.pair_scores(
                torch.from_numpy(qx[i_of[s : s + _PAIRS]]), torch.from_numpy(mixed.remixed(s, s + _PAIRS, self.dist))
            ).numpy()
        per_query = np.bincount(i_of, minlength=n)
        extra = int(per_query.max(initial=0))
        cand = self.knn(qx, mixed.points, min(n, k + 1 + extra))
        idx, sc = cand.indices, cand.scores.astype(np.float32, copy=True)
        keys = np.sort(i_of.astype(np.int64) * n + j_of)
        stale = np.isin(np.arange(n, dtype=np.int64)[:, None] * n + idx, keys) | (idx == np.arange(n)[:, None])
        sc[stale] = -np.inf
        order = np.argsort(i_of, kind="stable")
        starts = np.concatenate([[0], np.cumsum(per_query)[:-1]])
        pos = np.arange(len(i_of)) - np.repeat(starts, per_query)
        ex_idx = np.zeros((n, extra), np.int64)
        ex_sc = np.full((n, extra), -np.inf, np.float32)
        ex_idx[i_of[order], pos] = j_of[order]
        ex_sc[i_of[order], pos] = fixed[order]
        all_idx, all_sc = np.concatenate([idx, ex_idx], 1), np.concatenate([sc, ex_sc], 1)
        top = np.argsort(-all_sc, axis=1, kind="stable")[:, :k]
        return KNNResult(np.take_along_axis(all_idx, top, 1), np.take_along_axis(all_sc, top, 1), True, self.dist.name)


__all__ = [
    "DEFAULT_KS", "RetrievalMetrics", "diffusion_grid", "expansion_grid", "metrics_from_neighbours", "relevant_counts",
    "retrieval_metrics",
]  # fmt: skip
