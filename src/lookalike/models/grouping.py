"""Group embeddings into proposed new classes, in a distance's own similarity (used by discovery and evaluation).

The clustering is scikit-learn's (``AgglomerativeClustering`` on a precomputed distance matrix, or
``HDBSCAN``); this module only turns similarities into non-negative distances and the accept threshold into a
clustering threshold. For a distance whose similarity has a top value ``s_top`` (cosine: 1, euclidean and
hyperbolic: 0, minus the distance), the clustering distance is ``s_top - s`` and two groups merge while their
linkage distance is below ``scale * (s_top - accept_threshold)``: with ``scale = 1`` and complete linkage, two
groups join when every pair across them clears the threshold that accepts a probe as a known identity.

``mix = k`` first mixes each unknown half and half with the mean of its ``k`` nearest other unknowns (the
database-side augmentation of :mod:`lookalike.models.expansion`, inside the pool: no labels) and clusters the
mixed points: an item's neighbourhood pulls it towards the rest of its class, which joins crops of one brand
that the plain distance keeps apart. Cohesion and medoids are still reported in the plain similarity. The
defaults were chosen on carve-outs of training classes (benchmarks/discover.py, docs/benchmarks.md "Discovery").

Memory. Single linkage (the default) in the cosine or euclidean space never builds the N x N matrix: the points
go to scikit-learn's single-linkage path with the euclidean metric (a minimum spanning tree computed row by row,
memory O(N)) at the cut translated into euclidean terms (cosine: ``1 - s = |a - b|^2 / 2`` on the unit sphere),
and the neighbours for ``mix`` and each group's cohesion and medoid are computed in blocks of rows. The same
partition as the precomputed-matrix path, which took 4.3 GB and 17 s for 10,000 unknowns (2026-12-03).
Average and complete linkage, HDBSCAN and the dot / hyperbolic spaces still need the matrix; above
:data:`DENSE_LIMIT` items they are refused with the way out, rather than exhausting the machine's memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from lookalike.errors import ConfigError, DataError
from lookalike.models.distances import Distance, get_distance
from lookalike.models.expansion import augment_references, check_expansion

log = logging.getLogger(__name__)

#: the most items grouped through an N x N similarity matrix (average / complete linkage, HDBSCAN, dot and
#: hyperbolic spaces); 10,000 took 4.3 GB and 17 s on the 2-core machine (benchmarks/bench_grouping.py)
DENSE_LIMIT = 10_000
#: rows per block of the matrix-free path
_BLOCK = 1024

Method = Literal["agglomerative", "hdbscan"]
Linkage = Literal["average", "complete", "single"]


@dataclass(frozen=True)
class GroupingParams:
    """How unknowns are grouped. Defaults chosen on training classes only (docs/benchmarks.md, "Discovery").

    ``scale`` multiplies the accept threshold's distance ``s_top - threshold`` into the clustering threshold
    (agglomerative) or HDBSCAN's ``cluster_selection_epsilon``; ``min_size`` drops smaller groups; ``mix``: how
    many nearest other unknowns each is mixed with before clustering (0 = none; module docstring).
    """

    method: Method = "agglomerative"
    linkage: Linkage = "single"
    scale: float = 0.8
    min_size: int = 3
    mix: int = 5

    def __post_init__(self) -> None:
        if self.method not in ("agglomerative", "hdbscan"):
            raise ConfigError(f"grouping method must be 'agglomerative' or 'hdbscan', got {self.method!r}")
        if self.linkage not in ("average", "complete", "single"):
            raise ConfigError(f"linkage must be 'average', 'complete' or 'single', got {self.linkage!r}")
        if not self.scale > 0:
            raise ConfigError(f"scale must be > 0, got {self.scale}")
        if int(self.min_size) < 1:
            raise ConfigError(f"min_size must be at least 1, got {self.min_size}")
        check_expansion(self.mix, "mix (nearest unknowns each is mixed with)")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "linkage": self.linkage, "scale": self.scale, "min_size": int(self.min_size),
                "mix": int(self.mix)}  # fmt: skip


@dataclass(frozen=True)
class Group:
    """One proposed class: row indices into the grouped embeddings, its medoid row and its cohesion.

    ``cohesion`` is the mean pairwise similarity of its members (1 member: its self-similarity).
    """

    members: tuple[int, ...]
    medoid: int
    cohesion: float


def top_score(distance: Distance, similarities: np.ndarray | None = None) -> float:
    """The highest similarity ``distance`` can give (dot: the largest self-similarity seen)."""
    return distance.best_score(similarities)


def similarity_matrix(x: np.ndarray, distance: Distance) -> np.ndarray:
    """(n, n) float64 similarities of the rows of ``x`` (higher is closer)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return distance.scores(t, t).double().numpy()


def group_embeddings(
    embeddings: Any,
    *,
    distance: str | dict[str, Any] | Distance,
    threshold: float,
    params: GroupingParams | None = None,
) -> list[Group]:
    """Groups of at least ``params.min_size`` rows, largest first, then tightest (highest cohesion) first.

    Rows in no group (too small a group, or HDBSCAN noise) are left out. ``threshold`` is the accept threshold
    (a similarity, as the gallery stores it).
    """
    p = params or GroupingParams()
    dist = get_distance(distance)
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"embeddings must be a 2-d array (items x dims); got shape {x.shape}")
    if len(x) == 0:
        return []
    if _matrix_free(p, dist):
        return _group_single(x, dist, float(threshold), p)
    if len(x) > DENSE_LIMIT:
        raise DataError(
            f"grouping {len(x):,} unknowns with {p.method} / {p.linkage} linkage in the {dist.name} space needs a "
            f"{len(x):,} x {len(x):,} matrix (about {40 * len(x) ** 2 / 1e9:.0f} GB); use single linkage (the "
            f"default; cosine or euclidean models group any number in little memory), or keep at most "
            f"{DENSE_LIMIT:,} (the pool's max_items, or purge)"
        )
    return _group_dense(x, dist, float(threshold), p)


def _matrix_free(p: GroupingParams, dist: Distance) -> bool:
    return p.method == "agglomerative" and p.linkage == "single" and dist.name in ("cosine", "euclidean")


def _group_dense(x: np.ndarray, dist: Distance, threshold: float, p: GroupingParams) -> list[Group]:
    n = len(x)
    sims = similarity_matrix(x, dist)
    s_top = top_score(dist, sims)
    cut = float(p.scale) * max(s_top - threshold, 0.0)
    labels = _cluster(_mixed_similarities(x, sims, dist, p.mix), s_top, cut, p) if n > 1 else np.zeros(1, np.int64)
    groups = []
    for label in np.unique(labels[labels >= 0]):
        rows = np.nonzero(labels == label)[0]
        if len(rows) < int(p.min_size):
            continue
        block = sims[np.ix_(rows, rows)]
        if len(rows) == 1:
            cohesion = float(block[0, 0])
        else:
            cohesion = float((block.sum() - np.trace(block)) / (len(rows) * (len(rows) - 1)))
        medoid = int(rows[int(np.argmax(block.sum(axis=1)))])
        groups.append(Group(tuple(int(r) for r in rows), medoid, cohesion))
    return _ranked(groups)


def _ranked(groups: list[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: (-len(g.members), -g.cohesion, g.members[0]))


def _group_single(x: np.ndarray, dist: Distance, threshold: float, p: GroupingParams) -> list[Group]:
    """Single linkage without the N x N matrix (module docstring): cosine / euclidean spaces only."""
    from sklearn.cluster import AgglomerativeClustering

    if dist.name == "cosine":  # cosine scores are inner products of unit vectors
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n, s_top = len(x), dist.best_score()
    cut = float(p.scale) * max(s_top - threshold, 0.0)
    if n == 1:
        labels = np.zeros(1, np.int64)
    else:
        k = min(int(p.mix), n - 1)
        points = augment_references(x, _nearest_others(x, dist, k), dist) if k > 0 else x
        # s_top - s below the cut, as a euclidean distance: cosine 1 - s = |a - b|^2 / 2; euclidean -s = |a - b|
        e_cut = float(np.sqrt(2.0 * cut)) if dist.name == "cosine" else cut
        model = AgglomerativeClustering(
            n_clusters=None, metric="euclidean", linkage="single", distance_threshold=max(e_cut, 1e-9)
        )
        labels = np.asarray(model.fit_predict(np.ascontiguousarray(points, dtype=np.float64)), dtype=np.int64)
    groups = []
    for label in np.unique(labels):
        rows = np.nonzero(labels == label)[0]
        if len(rows) < int(p.min_size):
            continue
        sums, trace = _row_sums(x[rows], dist)
        cohesion = trace if len(rows) == 1 else float((sums.sum() - trace) / (len(rows) * (len(rows) - 1)))
        groups.append(Group(tuple(int(r) for r in rows), int(rows[int(np.argmax(sums))]), cohesion))
    return _ranked(groups)


def _nearest_others(x: np.ndarray, dist: Distance, k: int) -> np.ndarray:
    """(n, k) rows of each row's ``k`` most similar other rows, most similar first, in blocks of rows."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    out = np.empty((len(x), k), np.int64)
    for start in range(0, len(x), _BLOCK):
        s = dist.scores(t[start : start + _BLOCK], t).double()
        rows = torch.arange(len(s))
        s[rows, rows + start] = -torch.inf
        out[start : start + len(s)] = torch.topk(s, k, dim=1).indices.numpy()
    return out


def _row_sums(x: np.ndarray, dist: Distance) -> tuple[np.ndarray, float]:
    """Each row's summed similarity to every row (itself included), and the sum of the self-similarities."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    sums = np.concatenate(
        [dist.scores(t[i : i + _BLOCK], t).double().sum(dim=1).numpy() for i in range(0, len(t), _BLOCK)]
    )
    return sums, float(dist.pair_scores(t, t).double().sum())


def _mixed_similarities(x: np.ndarray, sims: np.ndarray, dist: Distance, k: int) -> np.ndarray:
    """The similarities of the rows of ``x`` each mixed with its ``k`` nearest other rows (``sims`` when k is 0)."""
    k = min(int(k), len(x) - 1)
    if k <= 0:
        return sims
    others = sims.copy()
    np.fill_diagonal(others, -np.inf)
    nearest = np.argsort(-others, axis=1, kind="stable")[:, :k]
    return similarity_matrix(augment_references(x, nearest, dist), dist)


def _cluster(sims: np.ndarray, s_top: float, cut: float, p: GroupingParams) -> np.ndarray:
    d = np.clip(s_top - sims, 0.0, None)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    if p.method == "hdbscan":
        from sklearn.cluster import HDBSCAN

        if d.max() < cut:  # all within the cut: one group (HDBSCAN's allow_single_cluster fails with an epsilon)
            return np.zeros(len(d), np.int64)
        size = max(int(p.min_size), 2)
        try:
            model = HDBSCAN(
                metric="precomputed", min_cluster_size=size, min_samples=1, cluster_selection_epsilon=cut, copy=True
            )
            return np.asarray(model.fit_predict(d), dtype=np.int64)
        except TypeError:  # scikit-learn 1.9's epsilon search can fail on reaching the tree's root
            log.warning(
                "HDBSCAN's epsilon search failed on %d items; grouping without cluster_selection_epsilon", len(d)
            )
            model = HDBSCAN(metric="precomputed", min_cluster_size=size, min_samples=1, copy=True)
            return np.asarray(model.fit_predict(d), dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    # the threshold must be > 0 for scikit-learn; a zero cut (threshold at the top score) joins only duplicates
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage=p.linkage, distance_threshold=max(cut, 1e-9)
    )
    return np.asarray(model.fit_predict(d), dtype=np.int64)


__all__ = ["DENSE_LIMIT", "Group", "GroupingParams", "group_embeddings", "similarity_matrix", "top_score"]
