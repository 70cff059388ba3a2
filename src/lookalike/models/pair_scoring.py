"""Pair scores and thresholds at a false-accept rate: the one implementation and the one acceptance convention.

**Convention: a pair (or a match) is accepted when ``score >= threshold``.** Scores are similarities
(``Distance.scores``: higher is closer). Everything that turns a threshold into decisions — the gallery's
known/unknown and same/different, its calibration, and evaluate's TAR@FAR, DIR@FPIR, LFW pair accuracy and
discovery — uses :func:`accepts` or the same comparison, and every threshold chosen here is chosen for it.

Pure functions over arrays (numpy/torch); used by ``gallery.calibration`` and ``evaluation.verification``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lookalike.data.types import UNKNOWN_LABEL as UNKNOWN
from lookalike.errors import DataError, EmbeddingSizeError
from lookalike.models.distances import Distance, get_distance


@dataclass(frozen=True)
class PairScores:
    """Similarities of same-class (genuine) and different-class (impostor) pairs (float64)."""

    genuine: np.ndarray
    impostor: np.ndarray
    sampled: bool = False


def accepts(scores: Any, threshold: float) -> np.ndarray:
    """Which scores are accepted at ``threshold`` (``score >= threshold``)."""
    return np.asarray(scores) >= threshold


def allowed_false_accepts(n_impostor: int, far: float) -> int:
    """How many of ``n_impostor`` impostor pairs a false-accept rate ``far`` allows (rounding down)."""
    return math.floor(far * n_impostor + 1e-9)


def threshold_at_far(impostor: Any, far: float) -> float:
    """The lowest threshold that accepts (``score >= t``) at most ``floor(far · n)`` of the ``impostor`` scores.

    Just above the impostor score ranked ``floor(far · n) + 1`` (ties are never split: all of a tied score are
    accepted or none); the lowest impostor score when every impostor may be accepted.
    """
    imp = np.sort(np.asarray(impostor, np.float64).ravel())[::-1]
    if len(imp) == 0:
        raise DataError("no impostor pairs to choose a threshold from: give items of at least two classes")
    allowed = allowed_false_accepts(len(imp), far)
    return float(np.nextafter(imp[allowed], np.inf)) if allowed < len(imp) else float(imp[-1])


def measurable(n_impostor: int, far: float) -> bool:
    """Whether ``n_impostor`` pairs can measure a false-accept rate ``far`` at all (at least one may be accepted)."""
    return n_impostor > 0 and far * n_impostor >= 1 - 1e-9


def _as_float32(x: Any) -> torch.Tensor:
    t = x.detach().to("cpu") if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 2:
        raise EmbeddingSizeError(f"embeddings must be a 2-D (items, dimensions) array; got shape {tuple(t.shape)}")
    t = t.to(torch.float32).contiguous()
    if not torch.isfinite(t).all():
        raise DataError("embeddings contain NaN or infinite values; fix the model or drop those rows")
    return t


@torch.no_grad()
def pair_scores(
    embeddings: Any,
    labels: Any,
    distance: str | dict[str, Any] | Distance = "cosine",
    *,
    unknown_impostors: bool = False,
    max_pairs: int | None = 5_000_000,
    seed: int = 0,
) -> PairScores:
    """Scores of all unordered pairs (i < j) of items, or a seeded sample when there are more than ``max_pairs``.

    Items labelled ``-1`` (no known class) take part in no pair, or, with ``unknown_impostors``, are impostors
    against every labelled item (two of them are never paired: they may show the same stranger). The sample
    (``max_pairs`` not ``None``, only without ``unknown_impostors``) draws up to ``max_pairs // 2`` genuine and as
    many impostor pairs uniformly.
    """
    dist = get_distance(distance)
    x = _as_float32(embeddings)
    y = np.asarray(labels, dtype=np.int64).ravel()
    if len(y) != len(x):
        raise DataError(f"need one label per embedding row; got {len(x)} embeddings and {len(y)} labels")
    if not unknown_impostors:
        known = np.nonzero(y != UNKNOWN)[0]
        x, y = x[torch.from_numpy(known)], y[known]
    n = len(y)
    if max_pairs is None or unknown_impostors or n * (n - 1) // 2 <= max_pairs:
        return _all_pairs(x, y, dist)
    return _sampled_pairs(x, y, dist, max_pairs, seed)


def _all_pairs(x: torch.Tensor, y: np.ndarray, dist: Distance) -> PairScores:
    n = len(y)
    gen, imp = [], []
    block = max(1, 4_000_000 // max(n, 1))
    for s in range(0, n, block):
        sc = dist.scores(x[s : s + block], x).numpy()
        rows = np.arange(s, min(n, s + block))
        upper = np.arange(n)[None, :] > rows[:, None]  # each pair once
        ya, yb = y[rows, None], y[None, :]
        gen.append(sc[upper & (ya == yb) & (ya != UNKNOWN)])
        imp.append(sc[upper & (ya != yb)])  # unknown-unknown pairs are equal labels: never impostors
    cat = (lambda parts: np.concatenate(parts).astype(np.float64)) if n else (lambda _: np.empty(0))
    return PairScores(cat(gen), cat(imp), sampled=False)


def _sampled_pairs(x: torch.Tensor, y: np.ndarray, dist: Distance, max_pairs: int, seed: int) -> PairScores:
    n = len(y)
    rng = np.random.default_rng(seed)
    half = max_pairs // 2
    order = np.argsort(y, kind="stable")
    _, starts, counts = np.unique(y[order], return_index=True, return_counts=True)
    multi = counts >= 2
    if not multi.any():
        raise DataError("no class has two items, so there are no genuine pairs to verify")
    # genuine: pick a class in proportion to its number of pairs, then two distinct members
    pairs_per_class = counts[multi] * (counts[multi] - 1) / 2
    cls = rng.choice(np.nonzero(multi)[0], size=half, p=pairs_per_class / pairs_per_class.sum())
    a = rng.integers(0, counts[cls])
    b = (a + rng.integers(1, counts[cls])) % counts[cls]
    ga, gb = order[starts[cls] + a], order[starts[cls] + b]
    ia, ib = rng.integers(0, n, size=2 * half), rng.integers(0, n, size=2 * half)
    diff = y[ia] != y[ib]
    ia, ib = ia[diff][:half], ib[diff][:half]

    def score(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = [
            dist.pair_scores(x[torch.from_numpy(u[s : s + 65536])], x[torch.from_numpy(v[s : s + 65536])]).numpy()
            for s in range(0, len(u), 65536)
        ]
        return np.concatenate(out).astype(np.float64) if out else np.empty(0)

    return PairScores(score(ga, gb), score(ia, ib), sampled=True)


__all__ = [
    "PairScores",
    "accepts",
    "allowed_false_accepts",
    "measurable",
    "pair_scores",
    "threshold_at_far",
]
