"""Verification ("are these two the same?"): ROC AUC, EER and TAR at fixed FAR from pair scores.

Scores are similarities (higher = more alike). A pair is accepted when its score is *strictly above* the
threshold. TAR@FAR=f uses the threshold that accepts at most ``floor(f · n_impostor)`` impostor pairs — the
usual conservative reading — and is ``None`` when there are fewer than ``1/f`` impostor pairs to measure it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import DataError
from lookalike.evaluation.knn import as_matrix
from lookalike.models.distances import Distance, get_distance

DEFAULT_FARS: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class PairScores:
    """Similarities of same-class (genuine) and different-class (impostor) pairs."""

    genuine: np.ndarray
    impostor: np.ndarray
    sampled: bool = False


@dataclass(frozen=True)
class VerificationMetrics:
    """ROC summary of a pair-verification experiment."""

    roc_auc: float
    eer: float
    eer_threshold: float
    tar_at_far: dict[float, float | None]
    threshold_at_far: dict[float, float | None]
    num_genuine: int
    num_impostor: int
    sampled_pairs: bool = field(default=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "roc_auc": self.roc_auc,
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "tar_at_far": {f"{k:g}": v for k, v in self.tar_at_far.items()},
            "threshold_at_far": {f"{k:g}": v for k, v in self.threshold_at_far.items()},
            "num_genuine": self.num_genuine,
            "num_impostor": self.num_impostor,
            "sampled_pairs": self.sampled_pairs,
        }


def threshold_at_rate(negatives: np.ndarray, rate: float) -> float | None:
    """Lowest threshold t such that at most ``floor(rate · n)`` negatives score strictly above t."""
    n = len(negatives)
    allowed = int(np.floor(rate * n + 1e-9))
    if n == 0 or rate * n < 1:
        return None
    desc = np.sort(negatives)[::-1]
    return float(desc[allowed]) if allowed < n else float(desc[-1]) - 1.0


def verification_metrics(
    genuine: Any, impostor: Any, *, fars: Sequence[float] = DEFAULT_FARS, sampled: bool = False
) -> VerificationMetrics:
    """ROC AUC, equal error rate and TAR at each FAR from genuine and impostor pair scores.

    ``sampled`` records that the pairs were a sample (see :func:`pair_scores`).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    g = np.asarray(genuine, dtype=np.float64).ravel()
    i = np.asarray(impostor, dtype=np.float64).ravel()
    if not len(g) or not len(i):
        raise DataError(
            f"verification needs genuine and impostor pairs; got {len(g)} genuine and {len(i)} impostor "
            "(use at least two classes, one with two or more items)"
        )
    y = np.r_[np.ones(len(g)), np.zeros(len(i))]
    s = np.r_[g, i]
    auc = float(roc_auc_score(y, s))
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    j = int(np.nonzero(fpr >= fnr)[0][0])  # first point where false accepts catch up with false rejects
    if j == 0:
        eer, eer_t = float(fpr[0]), float(thr[0])
    else:
        # linear interpolation between points j-1 and j of the two error curves
        d0, d1 = fnr[j - 1] - fpr[j - 1], fnr[j] - fpr[j]
        w = d0 / (d0 - d1) if d0 != d1 else 0.0
        eer = float(fpr[j - 1] + w * (fpr[j] - fpr[j - 1]))
        eer_t = float(thr[j - 1] + w * (thr[j] - thr[j - 1])) if np.isfinite(thr[j - 1]) else float(thr[j])
    tar: dict[float, float | None] = {}
    thresholds: dict[float, float | None] = {}
    for far in fars:
        t = threshold_at_rate(i, far)
        thresholds[float(far)] = t
        tar[float(far)] = None if t is None else float((g > t).mean())
    return VerificationMetrics(
        roc_auc=auc,
        eer=eer,
        eer_threshold=eer_t,
        tar_at_far=tar,
        threshold_at_far=thresholds,
        num_genuine=len(g),
        num_impostor=len(i),
        sampled_pairs=sampled,
    )


@torch.no_grad()
def pair_scores(
    embeddings: Any,
    labels: Any,
    *,
    distance: str | dict[str, Any] | Distance = "cosine",
    max_pairs: int = 5_000_000,
    seed: int = 0,
) -> PairScores:
    """Scores of all unordered pairs (i < j) of known items, or a seeded sample when there are more than
    ``max_pairs``: up to ``max_pairs // 2`` genuine and as many impostor pairs, drawn uniformly."""
    dist = get_distance(distance)
    x = as_matrix(embeddings, "embeddings")
    y = np.asarray(labels, dtype=np.int64)
    known = np.nonzero(y != UNKNOWN_LABEL)[0]
    x, y = x[torch.from_numpy(known)], y[known]
    n = len(y)
    if n * (n - 1) // 2 <= max_pairs:
        gen, imp = [], []
        block = max(1, 4_000_000 // max(n, 1))
        for s in range(0, n, block):
            sc = dist.scores(x[s : s + block], x).numpy()
            rows = np.arange(s, min(n, s + block))
            upper = np.arange(n)[None, :] > rows[:, None]
            same = y[rows, None] == y[None, :]
            gen.append(sc[upper & same])
            imp.append(sc[upper & ~same])
        return PairScores(np.concatenate(gen), np.concatenate(imp), sampled=False)
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
        return np.concatenate(out) if out else np.empty(0, np.float32)

    return PairScores(score(ga, gb), score(ia, ib), sampled=True)


def roc_points(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false accept rate, true accept rate) along all thresholds, for plotting."""
    from sklearn.metrics import roc_curve

    y = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    fpr, tpr, _ = roc_curve(y, np.r_[genuine, impostor])
    return fpr, tpr


__all__ = [
    "DEFAULT_FARS",
    "PairScores",
    "VerificationMetrics",
    "pair_scores",
    "roc_points",
    "threshold_at_rate",
    "verification_metrics",
]
