"""Open-set identification ("who is this — or nobody we know?"): DIR and FNIR at fixed FPIR.

Following ISO/IEC 19795-1 and NIST's 1:N evaluations, each probe is compared with an enrolled gallery and
its best-scoring gallery item is the candidate. With a threshold ``t`` (a candidate is returned when its
score is strictly above ``t``):

- a *known* probe (its class is enrolled) is identified when the candidate has its class and clears ``t``:
  DIR(t) = identified known probes / known probes, and FNIR(t) = 1 − DIR(t);
- an *unknown* probe (label -1, or a class not enrolled) is a false alarm when its candidate clears ``t``:
  FPIR(t) = false alarms / unknown probes.

DIR@FPIR=f uses the threshold that lets at most ``floor(f · n_unknown)`` unknown probes through; it is
``None`` when there are fewer than ``1/f`` unknown probes. Rank-1 accuracy is the closed-set identification
rate of the known probes (no threshold).

Out-of-scope (unknown) detection scores each probe by its best gallery score alone (the max similarity):
``UnknownDetection`` gives the AUROC of telling known probes (high) from unknown ones (low), the FPR at 95 %
TPR (the share of unknown probes scoring at least the threshold that keeps 95 % of the known probes) and the
average precision of finding the unknown probes by low score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import DataError
from lookalike.evaluation.knn import as_matrix, exact_knn
from lookalike.evaluation.verification import threshold_at_rate
from lookalike.models.diffusion import MIN_GRAPH, DiffusionGraph, check_diffusion_distance, diffusion_depth, ranked
from lookalike.models.distances import Distance, get_distance
from lookalike.models.expansion import augment_references, expand_queries, expansion_depth
from lookalike.models.pair_scoring import accepts

DEFAULT_FPIRS: tuple[float, ...] = (1e-1, 1e-2, 1e-3)


@dataclass(frozen=True)
class OpenSetMetrics:
    """Open-set identification results against one gallery."""

    rank1_accuracy: float
    dir_at_fpir: dict[float, float | None]
    fnir_at_fpir: dict[float, float | None]
    threshold_at_fpir: dict[float, float | None]
    num_known_probes: int
    num_unknown_probes: int
    num_gallery_items: int
    #: known-vs-unknown separation by the best score (None without unknown probes)
    unknown_detection: UnknownDetection | None = None

    def to_dict(self) -> dict[str, Any]:
        def keyed(d: dict[float, float | None]) -> dict[str, float | None]:
            return {f"{k:g}": v for k, v in d.items()}

        return {
            "rank1_accuracy": self.rank1_accuracy,
            "dir_at_fpir": keyed(self.dir_at_fpir),
            "fnir_at_fpir": keyed(self.fnir_at_fpir),
            "threshold_at_fpir": keyed(self.threshold_at_fpir),
            "num_known_probes": self.num_known_probes,
            "num_unknown_probes": self.num_unknown_probes,
            "num_gallery_items": self.num_gallery_items,
        }


@dataclass(frozen=True)
class UnknownDetection:
    """Known-vs-unknown separation by each probe's best gallery score (higher = more likely known)."""

    auroc: float
    fpr_at_95_tpr: float
    threshold_at_95_tpr: float
    aupr_unknown: float
    num_known_probes: int
    num_unknown_probes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "auroc": self.auroc,
            "fpr_at_95_tpr": self.fpr_at_95_tpr,
            "threshold_at_95_tpr": self.threshold_at_95_tpr,
            "aupr_unknown": self.aupr_unknown,
            "num_known_probes": self.num_known_probes,
            "num_unknown_probes": self.num_unknown_probes,
        }


def unknown_detection(known_scores: Any, unknown_scores: Any, *, tpr: float = 0.95) -> UnknownDetection:
    """AUROC, FPR at ``tpr`` and AUPR of separating known probes' best scores from unknown probes'."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    k = np.asarray(known_scores, dtype=np.float64).ravel()
    u = np.asarray(unknown_scores, dtype=np.float64).ravel()
    if not len(k) or not len(u):
        raise DataError(f"unknown detection needs known and unknown probes; got {len(k)} known and {len(u)} unknown")
    # the highest threshold that still accepts (score >= t) at least ``tpr`` of the known probes
    need = int(np.ceil(tpr * len(k) - 1e-9))
    t = float(np.sort(k)[::-1][max(0, need - 1)])
    y = np.r_[np.ones(len(k)), np.zeros(len(u))]
    s = np.r_[k, u]
    return UnknownDetection(
        auroc=float(roc_auc_score(y, s)),
        fpr_at_95_tpr=float(accepts(u, t).mean()),
        threshold_at_95_tpr=t,
        aupr_unknown=float(average_precision_score(1 - y, -s)),
        num_known_probes=len(k),
        num_unknown_probes=len(u),
    )


def open_set_from_candidates(
    top_scores: Any,
    top_correct: Any,
    is_known: Any,
    *,
    fpirs: Sequence[float] = DEFAULT_FPIRS,
    num_gallery_items: int = 0,
) -> OpenSetMetrics:
    """Metrics from each probe's best score, whether that candidate is right, and whether the probe is known."""
    s = np.asarray(top_scores, dtype=np.float64)
    correct = np.asarray(top_correct, dtype=bool)
    known = np.asarray(is_known, dtype=bool)
    if not (len(s) == len(correct) == len(known)):
        raise DataError(
            f"top_scores, top_correct and is_known need one entry per probe; got {len(s)}, {len(correct)}, {len(known)}"
        )
    if not known.any():
        raise DataError("open-set identification needs probes of enrolled classes; none of the probes is known")
    ks, kc = s[known], correct[known]
    unknown_scores = s[~known]
    dirs: dict[float, float | None] = {}
    fnirs: dict[float, float | None] = {}
    thresholds: dict[float, float | None] = {}
    for f in fpirs:
        t = threshold_at_rate(unknown_scores, f)
        thresholds[float(f)] = t
        dirs[float(f)] = None if t is None else float((kc & accepts(ks, t)).mean())
        fnirs[float(f)] = None if t is None else 1.0 - dirs[float(f)]  # type: ignore[operator]
    return OpenSetMetrics(
        rank1_accuracy=float(kc.mean()),
        dir_at_fpir=dirs,
        fnir_at_fpir=fnirs,
        threshold_at_fpir=thresholds,
        num_known_probes=int(known.sum()),
        num_unknown_probes=int((~known).sum()),
        num_gallery_items=num_gallery_items,
        unknown_detection=unknown_detection(ks, unknown_scores) if len(unknown_scores) else None,
    )


def open_set_metrics(
    gallery: Any,
    gallery_labels: Any,
    probes: Any,
    probe_labels: Any,
    *,
    distance: str | dict[str, Any] | Distance = "cosine",
    fpirs: Sequence[float] = DEFAULT_FPIRS,
    device: str | None = None,
    query_expansion: int = 0,
    database_augmentation: int = 0,
    diffusion: int = 0,
) -> OpenSetMetrics:
    """Identify every probe against the gallery (nearest enrolled item) and score the open-set decisions.

    Probes labelled -1 or with a class absent from the gallery are the unknown probes.
    ``query_expansion`` (as :class:`~lookalike.gallery.Gallery` identifies with such a model): the candidate class
    is the nearest item's to the probe mixed with the mean of its ``query_expansion`` nearest gallery items, and its
    score the probe's own best score against that class (what the threshold applies to); at most half the median
    items per class are averaged (:func:`~lookalike.models.expansion.expansion_depth`). ``database_augmentation``:
    the candidate is ranked against gallery items mixed with their that many nearest other gallery items.
    ``diffusion`` (instead): the candidate is the gallery item with the probe's highest diffusion score over the
    gallery's graph of that many nearest others (:mod:`lookalike.models.diffusion`; none below its ``MIN_GRAPH``
    after the same cap), the score again the probe's plain best against that class.
    """
    g_labels = np.asarray(gallery_labels, dtype=np.int64)
    p_labels = np.asarray(probe_labels, dtype=np.int64)
    if len(g_labels) != len(gallery) or len(p_labels) != len(probes):
        raise DataError("gallery and probes need one label per embedding")
    if (g_labels == UNKNOWN_LABEL).any():
        raise DataError("gallery items must have known labels; enroll only items of named classes")
    known = np.isin(p_labels, g_labels) & (p_labels != UNKNOWN_LABEL)
    if diffusion:
        top, best = _diffused_candidates(probes, gallery, g_labels, get_distance(distance), diffusion, device)
    elif query_expansion or database_augmentation:
        top, best = _expanded_candidates(probes, gallery, g_labels, get_distance(distance), query_expansion,
                                         database_augmentation, device)  # fmt: skip
    else:
        knn = exact_knn(probes, gallery, k=1, distance=distance, device=device)
        top, best = g_labels[knn.indices[:, 0]], knn.scores[:, 0]
    return open_set_from_candidates(best, top == p_labels, known, fpirs=fpirs, num_gallery_items=len(g_labels))


def _expanded_candidates(
    probes: Any, gallery: Any, g_labels: np.ndarray, dist: Distance, n_expand: int, n_augment: int,
    device: str | None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(candidate class, the probe's plain best score against it) per probe, ranked by the expanded probe
    against the augmented gallery."""
    p, g = as_matrix(probes, "probes").numpy(), as_matrix(gallery, "gallery").numpy()
    counts = np.unique(g_labels, return_counts=True)[1]
    depth, db_depth = expansion_depth(n_expand, counts), expansion_depth(n_augment, counts)
    if not depth and not db_depth:
        knn = exact_knn(p, g, k=1, distance=dist, device=device)
        return g_labels[knn.indices[:, 0]], knn.scores[:, 0]
    px, ranked = p, g
    if depth:
        px = expand_queries(p, g, exact_knn(p, g, k=depth, distance=dist, device=device).indices, dist)
    if db_depth:
        ranked = augment_references(g, exact_knn(g, None, k=db_depth, distance=dist, device=device).indices, dist)
    top_item = exact_knn(px, ranked, k=1, distance=dist, device=device).indices[:, 0]
    return _with_plain_best(p, g, g_labels, g_labels[top_item], dist)


def _diffused_candidates(
    probes: Any, gallery: Any, g_labels: np.ndarray, dist: Distance, graph: int, device: str | None
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(candidate class, the probe's plain best score against it) per probe, the candidate the gallery item with
    the highest diffusion score (the nearest where diffusion reaches none or the graph is too small)."""
    p, g = as_matrix(probes, "probes").numpy(), as_matrix(gallery, "gallery").numpy()
    depth = min(diffusion_depth(graph, np.unique(g_labels, return_counts=True)[1]), len(g) - 1)
    nearest = exact_knn(p, g, k=max(1, depth), distance=dist, device=device)
    if depth < MIN_GRAPH:
        return g_labels[nearest.indices[:, 0]], nearest.scores[:, 0]
    check_diffusion_distance(depth, dist.name)
    own = exact_knn(g, None, k=depth, distance=dist, device=device)
    net = DiffusionGraph(own.indices, own.scores, depth)
    top_item = np.array([ranked(net.diffuse(nearest.indices[i], nearest.scores[i]), nearest.indices[i], 1)[0]
                         for i in range(len(p))], np.int64)  # fmt: skip
    return _with_plain_best(p, g, g_labels, g_labels[top_item], dist)


def _with_plain_best(
    p: np.ndarray, g: np.ndarray, g_labels: np.ndarray, top: np.ndarray, dist: Distance
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``top`` (a candidate class per probe) and each probe's plain best score against its candidate."""
    best = np.empty(len(p), np.float32)
    for c in np.unique(top):
        rows = np.nonzero(top == c)[0]
        best[rows] = dist.scores(torch.from_numpy(p[rows]), torch.from_numpy(g[g_labels == c])).amax(1).numpy()
    return top, best


__all__ = [
    "DEFAULT_FPIRS",
    "OpenSetMetrics",
    "UnknownDetection",
    "open_set_from_candidates",
    "open_set_metrics",
    "unknown_detection",
]
