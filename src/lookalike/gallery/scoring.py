"""Scoring identities from their items: ``max`` (best item), ``mean`` (average item score), ``centroid``.

Pure functions over similarity matrices, shared by :class:`~lookalike.gallery.Gallery` and the sklearn
estimator. ``max`` is what the stores' nearest-identity search (``VectorStore.search_identities``) answers
directly (and so scales through faiss / pgvector); ``mean`` and ``centroid`` score every identity exactly from
all vectors.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from lookalike.errors import ConfigError
from lookalike.gallery.results import Match
from lookalike.models.distances import Distance

Scoring = Literal["max", "mean", "centroid"]
SCORINGS: tuple[str, ...] = ("max", "mean", "centroid")


def check_scoring(scoring: str) -> Scoring:
    if scoring not in SCORINGS:
        raise ConfigError(f"identity scoring {scoring!r} is unknown; choose one of {', '.join(SCORINGS)}")
    return scoring  # type: ignore[return-value]


def centroids(
    vectors: np.ndarray, codes: np.ndarray, n_ids: int, distance: Distance, dtype: type = np.float32
) -> np.ndarray:
    """(n_ids, d) per-identity centroids in the distance's space.

    The arithmetic mean, brought back into the space by ``Distance.mean_point`` (re-normalised for
    cosine/euclidean; for the Poincaré ball the arithmetic mean of points inside the ball stays inside it
    (convexity), a cheap stand-in for the Fréchet mean).
    """
    v = torch.from_numpy(np.asarray(vectors, dtype))
    idx = torch.from_numpy(np.asarray(codes, np.int64))
    sums = torch.zeros(n_ids, v.shape[1], dtype=v.dtype).index_add_(0, idx, v)
    counts = torch.bincount(idx, minlength=n_ids).clamp_min(1).unsqueeze(1)
    return distance.mean_point(sums / counts).numpy()


def identity_score_matrix(
    queries: np.ndarray,
    vectors: np.ndarray,
    codes: np.ndarray,
    n_ids: int,
    distance: Distance,
    scoring: Scoring,
    *,
    chunk: int = 65536,
    dtype: type = np.float32,
) -> np.ndarray:
    """(n_queries, n_ids) identity scores, computed exactly in chunks over the stored vectors."""
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype))
    if scoring == "centroid":
        return distance.scores(q, torch.from_numpy(centroids(vectors, codes, n_ids, distance, dtype))).numpy()
    fill = -torch.inf if scoring == "max" else 0.0
    out = torch.full((len(q), n_ids), fill, dtype=q.dtype)
    for start in range(0, len(vectors), chunk):
        s = distance.scores(q, torch.from_numpy(np.asarray(vectors[start : start + chunk], dtype)))
        idx = torch.from_numpy(np.asarray(codes[start : start + chunk], np.int64)).expand(len(q), -1)
        reduce = "amax" if scoring == "max" else "sum"
        out = out.scatter_reduce(1, idx, s, reduce=reduce)
    if scoring == "mean":
        counts = torch.bincount(torch.from_numpy(np.asarray(codes, np.int64)), minlength=n_ids).clamp_min(1)
        out = out / counts.to(out.dtype)
    return out.numpy()


def top_k(scores: np.ndarray, names: list[str], k: int) -> list[list[Match]]:
    """Per row, the ``k`` best (name, score) pairs, best first."""
    k = min(k, scores.shape[1])
    if k == 0:
        return [[] for _ in range(len(scores))]
    s, i = torch.from_numpy(np.ascontiguousarray(scores)).topk(k, dim=1)
    return [
        [Match(names[j], float(v)) for v, j in zip(sr, ir, strict=True)]
        for sr, ir in zip(s.tolist(), i.tolist(), strict=True)
    ]


__all__ = [
    "SCORINGS",
    "Scoring",
    "centroids",
    "check_scoring",
    "identity_score_matrix",
    "top_k",
]
