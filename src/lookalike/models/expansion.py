"""Query expansion: a query mixed with the mean of its nearest references, then searched again (average query
expansion, Chum et al., ICCV 2007; "AQE" in Radenović et al.'s retrieval benchmarks), with the query weighing as
much as its neighbours together.

A query ``q`` with ``k`` nearest references ``x_1..x_k`` becomes ``(q + mean(x_i)) / 2``, brought back into the
distance's space by :meth:`~lookalike.models.distances.Distance.mean_point` (re-normalised on the sphere; the mean
of points of the Poincaré ball stays inside it). The references are the ones being searched — a gallery's items,
or the other items of an evaluation set — never labels: expansion uses no class information.

Why the query keeps half the weight (Chum's AQE gives it ``1/(k+1)``): measured on fit's 3 carve-outs of
FlickrLogos-27's training brands (Lite2 features, whitening; 2026-12-02), plain search scored MAP@R 0.810 and
Precision@1 0.983; the uniform mean of the query and 20 neighbours 0.901 and 0.977 — more retrieval, fewer right
first answers, and identify lives on the first answer — while this weighting scored 0.880 and 0.988 (on digits
0-6's triples 0.891 / 0.997 against 0.872 / 0.998, plain 0.826 / 0.998).

Neighbourhoods matter when classes have many items: a query's nearest references are mostly of its own class,
so their mean is nearer the class than the query alone. Where identities have few items (a gallery of 5 shots
each) the nearest references are soon other identities' and expansion only blurs the query, so a search averages
at most half the median number of items per identity (class) of what it searches (:func:`expansion_depth`).
Measured on the same 3 carve-outs, 5-shot galleries (evaluate's open-set split) identified rank-1 96.3 / 98.5 /
98.8 % of their known probes plain and expanding with 2 items, 95.3 / 98.5 / 98.8 % with 5 or 10; with Chum's
uniform mean the first fell to 93.5 % with 5 and 65.4 % with 10.

A model's card says how many neighbours its searches use (``query_expansion``; 0 = none); ``lookalike fit``
chooses it on class carve-outs of the training classes, like every other setting.

Database-side augmentation (Arandjelović & Zisserman, "Three things everyone should know to improve object
retrieval", CVPR 2012; "DBA" in Radenović et al.) does the same to the items searched: each is mixed half and half
with the mean of its ``database_augmentation`` nearest other items (same depth cap), and queries are ranked
against those mixed items. A gallery re-mixes its items when its contents change; an evaluation leaves each query
out of the other items' neighbourhoods (a stored item never has a future query among its neighbours). Rankings
use the mixed items; every score a threshold is applied to stays the plain pair score.
"""

from __future__ import annotations

import numpy as np
import torch

from lookalike.errors import ConfigError
from lookalike.models.distances import Distance

#: the largest ``query_expansion`` a model may carry
MAX_EXPANSION = 100


def check_expansion(k: int, what: str = "query_expansion") -> int:
    """``k`` as an int in [0, MAX_EXPANSION], or :class:`ConfigError` naming ``what`` and the range."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= int(k) <= MAX_EXPANSION:
        raise ConfigError(f"{what} must be an integer in [0, {MAX_EXPANSION}] (0 = none); got {k!r}")
    return int(k)


def expansion_depth(k: int, items_per_identity: np.ndarray) -> int:
    """The neighbours a search averages: ``k``, but at most half the median items per identity (class)."""
    counts = np.asarray(items_per_identity)
    counts = counts[counts > 0]
    if not int(k) or not len(counts):
        return 0
    return min(int(k), int(np.median(counts)) // 2)


def expand_queries(
    queries: np.ndarray, references: np.ndarray, neighbours: np.ndarray, distance: Distance
) -> np.ndarray:  # fmt: skip
    """Each query averaged (half the weight) with the mean of the references its row of ``neighbours`` names
    ((n, k) row numbers into ``references``; -1 entries are ignored), as float32 points of ``distance``'s space."""
    q = np.asarray(queries, dtype=np.float32)
    nb = np.asarray(neighbours, dtype=np.int64).reshape(len(q), -1)
    if not nb.size:
        return q.copy()
    sums, counts = neighbour_sums(references, nb)
    return mix(q, sums, counts, distance)


def neighbour_sums(references: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``neighbours`` ((n, k) row numbers into ``references``, -1 ignored): the sum of the references
    it names ((n, d) float32) and how many it names ((n,) int64), one column at a time (no (n, k, d) temporary)."""
    r = np.asarray(references, dtype=np.float32)
    nb = np.asarray(neighbours, dtype=np.int64)
    sums = np.zeros((len(nb), r.shape[1]), np.float32)
    counts = np.zeros(len(nb), np.int64)
    for col in nb.T:
        ok = col >= 0
        sums[ok] += r[col[ok]]
        counts += ok
    return sums, counts


def mix(points: np.ndarray, sums: np.ndarray, counts: np.ndarray, distance: Distance) -> np.ndarray:
    """``points`` mixed half and half with ``sums / counts`` (left as they are where ``counts`` is 0), brought back
    into ``distance``'s space."""
    p = np.asarray(points, dtype=np.float32)
    c = np.asarray(counts).reshape(-1)
    mixed = np.asarray(sums, dtype=np.float32) / np.maximum(c, 1).astype(np.float32)[:, None]  # a new array
    mixed += p
    mixed *= 0.5
    alone = c <= 0
    if alone.any():
        mixed[alone] = p[alone]
    return distance.mean_point(torch.from_numpy(mixed)).numpy().astype(np.float32, copy=False)


def augment_references(references: np.ndarray, neighbours: np.ndarray, distance: Distance) -> np.ndarray:
    """Database-side augmentation: each reference mixed (half the weight) with the mean of the other references
    its row of ``neighbours`` names ((n, k) row numbers into ``references``, never its own; -1 entries ignored)."""
    return expand_queries(references, references, neighbours, distance)


__all__ = [
    "MAX_EXPANSION", "augment_references", "check_expansion", "expand_queries", "expansion_depth", "mix",
    "neighbour_sums",
]  # fmt: skip
