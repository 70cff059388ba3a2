"""Diffusion re-ranking: items ranked by how a query's similarity spreads over the kNN graph of the items searched
(Iscen, Tolias, Avrithis, Furon & Chum, "Efficient Diffusion on Region Manifolds", CVPR 2017; Zhou et al.'s
manifold ranking, NIPS 2003).

The items searched (a gallery's, or an evaluation set's other items) form a mutual kNN graph: ``a_ij =
max(s_ij, 0) ** GAMMA`` for ``j`` among ``i``'s ``k`` nearest (``s``: the cosine pair score), ``w_ij =
min(a_ij, a_ji)``, and ``S = D^-1/2 W D^-1/2``. A query seeds ``y`` with its own ``k`` nearest items'
``max(s, 0) ** GAMMA`` and the items are ranked by ``f``, the solution of ``(I - ALPHA S) f = y`` (conjugate
gradient, scipy). An item reached by no path from the seeds (``f = 0``) ranks after every reached one, in plain
order. Like query expansion it uses no labels, and every score a threshold is applied to stays the plain pair
score: diffusion changes rankings only.

Why it is written here: faiss, PML and timm have no diffusion; the graph and the solve are a few scipy calls.

Why: where classes lie on thin curved manifolds (handwritten digits of one class at several slants), a query's
nearest items of another class can be nearer than the far end of its own class, but its own class is connected to
it through a chain of close items. Measured on the 35 triples of training digits 0-6 (``protocol:digits``, fit's
chosen frozen features, whitening fitted on the other four digits; 2026-12-07, /tmp experiment recorded in
docs/fit.md), each query left out of the graph: MAP@R 0.981 with k = 30 against 0.965 for the best query
expansion + database-side augmentation (20 + 50) and 0.958 with k = 20 (a sparser graph falls apart).

The graph's ``k`` is capped like expansion's depth, at half the median items per identity (class), and below
``MIN_GRAPH`` neighbours there is no diffusion: with a few shots per identity the graph joins identities, not
their manifolds. Only the cosine distance has a similarity in [-1, 1] to raise to ``GAMMA``; the model card
refuses diffusion with another distance. ``ALPHA`` and ``GAMMA`` are Iscen et al.'s; on the same triples
(every item in the graph) ``GAMMA`` 1 scored as 3 did and ``ALPHA`` 0.9 lower (0.971 against 0.978).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg

from lookalike.errors import ConfigError

#: weight of the graph against the seeds (Iscen et al.)
ALPHA = 0.99
#: power the similarities are raised to (Iscen et al.)
GAMMA = 3.0
#: the fewest graph neighbours diffusion runs with (fewer: the plain ranking)
MIN_GRAPH = 5
#: the largest graph ``k`` a model may carry
MAX_GRAPH = 100
#: conjugate gradient's relative tolerance and iteration cap
_RTOL, _MAXITER = 1e-6, 200


def check_diffusion(k: int) -> int:
    """``k`` as an int in [0, MAX_GRAPH] (0 = none), or :class:`ConfigError` naming the range."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= int(k) <= MAX_GRAPH:
        raise ConfigError(f"diffusion must be an integer in [0, {MAX_GRAPH}] (graph neighbours; 0 = none); got {k!r}")
    return int(k)


def check_diffusion_distance(k: int, distance: str) -> None:
    """:class:`ConfigError` when diffusion is asked with a distance other than cosine."""
    if k and distance != "cosine":
        raise ConfigError(
            f"diffusion needs the cosine distance (its graph raises similarities in [-1, 1] to a power); this model's "
            f"distance is {distance!r}: set diffusion to 0 or use distance cosine"
        )


def check_diffusion_alone(k: int, query_expansion: int, database_augmentation: int) -> None:
    """:class:`ConfigError` when diffusion is asked together with query expansion or database augmentation."""
    if k and (query_expansion or database_augmentation):
        raise ConfigError("diffusion replaces query expansion and database augmentation: set those to 0")


def diffusion_depth(k: int, items_per_identity: np.ndarray) -> int:
    """The graph's neighbours: ``k``, at most half the median items per identity, 0 when that is below
    ``MIN_GRAPH``."""
    counts = np.asarray(items_per_identity)
    counts = counts[counts > 0]
    if not int(k) or not len(counts):
        return 0
    depth = min(int(k), int(np.median(counts)) // 2)
    return depth if depth >= MIN_GRAPH else 0


def _affinity(rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, n: int) -> sp.csr_matrix:
    a = sp.csr_matrix((np.maximum(sims, 0.0) ** GAMMA, (rows, cols)), shape=(n, n))
    a.sum_duplicates()
    return a


def _normalised(a: sp.csr_matrix) -> sp.csr_matrix:
    """``D^-1/2 W D^-1/2`` of the mutual graph ``W = min(A, A^T)``."""
    w = a.minimum(a.T).tocsr()
    d = np.asarray(w.sum(axis=1)).ravel()
    inv = np.zeros_like(d)
    inv[d > 0] = 1.0 / np.sqrt(d[d > 0])
    dm = sp.diags(inv)
    return (dm @ w @ dm).tocsr()


class DiffusionGraph:
    """The normalised mutual kNN graph of ``n`` items, from each item's nearest other items."""

    def __init__(self, neighbours: np.ndarray, scores: np.ndarray, k: int) -> None:
        """``neighbours`` / ``scores``: (n, >= k) each item's nearest other items (row numbers, -1 = none) and their
        cosine pair scores, nearest first."""
        nb = np.asarray(neighbours, np.int64)[:, :k]
        sc = np.asarray(scores, np.float64)[:, :k]
        self.n = len(nb)
        ok = nb >= 0
        rows = np.repeat(np.arange(self.n), nb.shape[1]).reshape(nb.shape)
        self.affinity = _affinity(rows[ok], nb[ok], sc[ok], self.n)
        self.system = sp.identity(self.n, format="csr") - ALPHA * _normalised(self.affinity)

    def diffuse(self, seeds: np.ndarray, seed_scores: np.ndarray) -> np.ndarray:
        """(n,) diffusion scores of one query seeded at the items ``seeds`` (row numbers, -1 = none) with their
        cosine pair scores."""
        return _solve(self.system, _seed_vector(self.n, seeds, seed_scores))


def _seed_vector(n: int, seeds: np.ndarray, seed_scores: np.ndarray) -> np.ndarray:
    s = np.asarray(seeds, np.int64).ravel()
    v = np.asarray(seed_scores, np.float64).ravel()
    ok = s >= 0
    y = np.zeros(n)
    np.add.at(y, s[ok], np.maximum(v[ok], 0.0) ** GAMMA)
    return y


def _solve(system: sp.csr_matrix, y: np.ndarray) -> np.ndarray:
    if not y.any():
        return y
    f, _ = cg(system, y, rtol=_RTOL, maxiter=_MAXITER)
    return np.asarray(f)


def leave_one_out(neighbours: np.ndarray, scores: np.ndarray, k: int) -> Iterator[np.ndarray]:
    """Per item ``i`` of a set searched against itself, the (n,) diffusion scores of the others, ``i`` seeding the
    graph of the *other* items (as a gallery's graph never holds a future query): ``i`` is taken out, and each
    item that had ``i`` among its ``k`` nearest gets its next nearest instead. ``f[i]`` is ``-inf``.

    ``neighbours`` / ``scores``: (n, k + 1) each item's nearest other items and their cosine pair scores."""
    nb = np.asarray(neighbours, np.int64)
    sc = np.asarray(scores, np.float64)
    n = len(nb)
    if nb.shape[1] < min(k + 1, n - 1):
        raise ValueError(f"leave_one_out needs {k + 1} neighbours per item, got {nb.shape[1]}")
    first, first_sc = nb[:, :k], sc[:, :k]
    rows = np.repeat(np.arange(n), first.shape[1]).reshape(first.shape)
    ok = first >= 0
    full = _affinity(rows[ok], first[ok], first_sc[ok], n).tocsc()
    nxt = nb[:, k] if nb.shape[1] > k else np.full(n, -1)
    nxt_sc = sc[:, k] if nb.shape[1] > k else np.zeros(n)
    ident = sp.identity(n, format="csr")
    for i in range(n):
        keep = np.ones(n)
        keep[i] = 0.0
        km = sp.diags(keep)
        a = km @ full @ km
        had = full.indices[full.indptr[i] : full.indptr[i + 1]]  # the items with i among their k nearest
        had = had[nxt[had] >= 0]
        if len(had):
            a = a + _affinity(had, nxt[had], nxt_sc[had], n)
        system = ident - ALPHA * _normalised(a.tocsr())
        f = _solve(system, _seed_vector(n, first[i], first_sc[i]))
        f[i] = -np.inf
        yield f


def ranked(f: np.ndarray, plain: np.ndarray, depth: int) -> np.ndarray:
    """The first ``depth`` items by diffusion score ``f`` (> 0), then the items of ``plain`` (a plain ranking,
    nearest first, -1 = none) not yet listed; -1 pads."""
    reached = np.flatnonzero(f > 0)
    top = reached[np.argsort(-f[reached], kind="stable")[:depth]]
    if len(top) < depth:
        rest = np.asarray(plain, np.int64)
        rest = rest[(rest >= 0) & ~np.isin(rest, top)]
        top = np.concatenate([top, rest[: depth - len(top)]])
    return np.concatenate([top, np.full(depth - len(top), -1, np.int64)]) if len(top) < depth else top


__all__ = [
    "ALPHA", "GAMMA", "MAX_GRAPH", "MIN_GRAPH", "DiffusionGraph", "check_diffusion", "check_diffusion_alone",
    "check_diffusion_distance",
    "diffusion_depth", "leave_one_out", "ranked",
]  # fmt: skip
