"""Verification ("are these two the same?"): ROC AUC, EER and TAR at fixed FAR from pair scores.

Scores are similarities (higher = more alike). A pair is accepted when ``score >= threshold`` — the one
convention of :mod:`lookalike.models.pair_scoring`, which also scores the pairs. TAR@FAR=f uses the threshold
that accepts at most ``floor(f · n_impostor)`` impostor pairs — the usual conservative reading — and is
``None`` when there are fewer than ``1/f`` impostor pairs to measure it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.errors import DataError
from lookalike.models.pair_scoring import PairScores, accepts, measurable, pair_scores, threshold_at_far

DEFAULT_FARS: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)


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
    """The lowest threshold accepting (``score >= t``) at most ``floor(rate · n)`` negatives; ``None`` when fewer
    than ``1/rate`` negatives cannot measure ``rate``."""
    return threshold_at_far(negatives, rate) if measurable(len(negatives), rate) else None


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
        tar[float(far)] = None if t is None else float(accepts(g, t).mean())
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
