"""Choosing the accept threshold from held-out labelled data at a target false-accept rate.

Every pair of calibration items is a trial: same class → genuine, different classes → impostor (an item
labelled ``-1``, "belongs to no known class", is an impostor against every labelled item; two ``-1`` items
are not paired since they may show the same stranger). The threshold is the lowest similarity at which
the share of impostor pairs scoring ``>= threshold`` is at most ``target_far`` (the acceptance convention and
the pair scoring of :mod:`lookalike.models.pair_scoring`); the false-reject rate of the
genuine pairs there is reported with a Clopper-Pearson interval. Pairs sharing an item are not independent,
so the intervals are optimistic; the number of impostor pairs is reported so the user can judge, and a
warning is raised when it is below ``3 / target_far`` (with zero false accepts observed in ``n`` trials the
95 % upper bound is about ``3 / n`` — the "rule of three").
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

from lookalike.errors import DataError
from lookalike.gallery.results import CalibrationReport
from lookalike.models.distances import Distance
from lookalike.models.pair_scoring import accepts, pair_scores, threshold_at_far

log = logging.getLogger(__name__)


class CalibrationWarning(UserWarning):
    """The calibration data is too small to support the requested false-accept rate."""


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial confidence interval for ``k`` successes in ``n`` trials."""
    from scipy.stats import beta

    if n == 0:
        return (0.0, 1.0)
    a = 1 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return (lo, hi)


def choose_threshold(
    genuine: np.ndarray,
    impostor: np.ndarray,
    *,
    target_far: float,
    confidence: float = 0.95,
    n_items: int = 0,
    n_classes: int = 0,
    gallery_size: int = 0,
) -> CalibrationReport:
    """The lowest threshold whose impostor accept rate is ``<= target_far``, with FRR and intervals."""
    if not 0 < target_far < 1:
        raise DataError(f"target_far must lie in (0, 1), e.g. 1e-3; got {target_far}")
    if len(genuine) == 0:
        raise DataError("calibration data has no genuine pairs: give at least two items of some class")
    if len(impostor) == 0:
        raise DataError("calibration data has no impostor pairs: give items of at least two classes")
    threshold = threshold_at_far(impostor, target_far)
    fa = int(accepts(impostor, threshold).sum())
    fr = int((~accepts(genuine, threshold)).sum())
    warning = None
    need = math.ceil(3 / target_far)
    if len(impostor) < need:
        warning = (
            f"only {len(impostor):,} impostor pairs back a target FAR of {target_far:g}; at least {need:,} "
            f"(3/FAR) are needed to measure it - the true FAR may be far higher. Calibrate on more held-out "
            f"classes or items, or choose a larger target_far."
        )
        warnings.warn(warning, CalibrationWarning, stacklevel=3)
        log.warning(warning)
    return CalibrationReport(
        threshold=threshold,
        target_far=float(target_far),
        far=fa / len(impostor),
        far_ci=clopper_pearson(fa, len(impostor), confidence),
        frr=fr / len(genuine),
        frr_ci=clopper_pearson(fr, len(genuine), confidence),
        confidence=confidence,
        n_genuine=len(genuine),
        n_impostor=len(impostor),
        n_items=n_items,
        n_classes=n_classes,
        gallery_size=gallery_size,
        warning=warning,
    )


def calibrate_embeddings(
    embeddings: np.ndarray,
    labels: np.ndarray,
    distance: Distance,
    *,
    target_far: float = 1e-3,
    confidence: float = 0.95,
    max_items: int = 5000,
    gallery_size: int = 0,
    seed: int = 0,
) -> CalibrationReport:
    """Calibrate on embedded items (already in ``distance``'s space); more than ``max_items`` are subsampled."""
    emb = np.asarray(embeddings, np.float32)
    lab = np.asarray(labels, np.int64)
    if emb.ndim != 2 or len(emb) != len(lab):
        raise DataError(f"need one label per embedding row; got embeddings {emb.shape} and {lab.shape} labels")
    if len(emb) > max_items:
        keep = np.sort(np.random.default_rng(seed).choice(len(emb), max_items, replace=False))
        log.info("calibration: using %d of %d items (max_items)", max_items, len(emb))
        emb, lab = emb[keep], lab[keep]
    pairs = pair_scores(emb, lab, distance, unknown_impostors=True)
    return choose_threshold(
        pairs.genuine,
        pairs.impostor,
        target_far=target_far,
        confidence=confidence,
        n_items=len(emb),
        n_classes=len(np.unique(lab[lab >= 0])),
        gallery_size=gallery_size,
    )


__all__ = ["CalibrationWarning", "calibrate_embeddings", "choose_threshold", "clopper_pearson"]
