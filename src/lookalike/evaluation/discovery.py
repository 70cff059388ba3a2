"""Discovery quality: how well grouping the unknowns recovers the never-enrolled classes.

BCubed (Bagga & Baldwin, 1998; Amigó et al., 2009) scores every item: its precision is the share of the
items in its proposed group that have its true class, its recall the share of its true class that is in its
group; both are averaged over items and F1 is their harmonic mean. Items in no proposal (a group below the
minimum size, or accepted as someone known) count as singleton groups: precision 1, recall ``1 / class size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.errors import DataError
from lookalike.models.distances import Distance, get_distance
from lookalike.models.grouping import GroupingParams, group_embeddings
from lookalike.models.pair_scoring import accepts

#: label of an item in no proposed group
UNGROUPED = -1


@dataclass(frozen=True)
class DiscoveryMetrics:
    """BCubed precision / recall / F1 of the proposals and their count against the true number of new classes."""

    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    num_proposals: int
    num_true_classes: int
    num_items: int
    num_grouped: int
    threshold: float | None = None
    params: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bcubed_precision": self.bcubed_precision, "bcubed_recall": self.bcubed_recall,
            "bcubed_f1": self.bcubed_f1, "num_proposals": self.num_proposals,
            "num_true_classes": self.num_true_classes, "num_items": self.num_items,
            "num_grouped": self.num_grouped, "threshold": self.threshold, "params": self.params,
        }  # fmt: skip


def bcubed(predicted: Any, truth: Any) -> tuple[float, float, float]:
    """(precision, recall, F1) of ``predicted`` group labels (``-1``: in no group) against ``truth`` labels."""
    pred = np.asarray(predicted, dtype=np.int64)
    true = np.asarray(truth, dtype=np.int64)
    if pred.shape != true.shape or pred.ndim != 1:
        raise DataError(f"predicted {pred.shape} and truth {true.shape} must be 1-d with one label per item")
    n = len(pred)
    if n == 0:
        raise DataError("BCubed needs at least one item")
    # give every ungrouped item a group of its own
    pred = pred.copy()
    lone = pred == UNGROUPED
    pred[lone] = pred.max(initial=0) + 1 + np.arange(int(lone.sum()))
    _, p_idx = np.unique(pred, return_inverse=True)
    _, t_idx = np.unique(true, return_inverse=True)
    joint = np.zeros((p_idx.max() + 1, t_idx.max() + 1), np.int64)
    np.add.at(joint, (p_idx, t_idx), 1)
    same = joint[p_idx, t_idx].astype(np.float64)  # items sharing both my group and my class (me included)
    precision = float(np.mean(same / joint.sum(axis=1)[p_idx]))
    recall = float(np.mean(same / joint.sum(axis=0)[t_idx]))
    f1 = 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def discovery_from_groups(group_labels: Any, truth: Any, **extra: Any) -> DiscoveryMetrics:
    """:class:`DiscoveryMetrics` of group labels (``-1``: ungrouped) against the true classes."""
    g = np.asarray(group_labels, dtype=np.int64)
    p, r, f = bcubed(g, truth)
    return DiscoveryMetrics(
        bcubed_precision=p, bcubed_recall=r, bcubed_f1=f,
        num_proposals=len(np.unique(g[g != UNGROUPED])), num_true_classes=len(np.unique(np.asarray(truth))),
        num_items=len(g), num_grouped=int((g != UNGROUPED).sum()), **extra,
    )  # fmt: skip


def discovery_metrics(
    embeddings: Any,
    labels: Any,
    *,
    distance: str | dict[str, Any] | Distance = "cosine",
    threshold: float,
    params: GroupingParams | None = None,
) -> DiscoveryMetrics:
    """Group the unknown ``embeddings`` as the gallery's discovery does and score the groups against ``labels``."""
    p = params or GroupingParams()
    x = np.asarray(embeddings, dtype=np.float32)
    groups = group_embeddings(x, distance=get_distance(distance), threshold=threshold, params=p)
    assigned = np.full(len(x), UNGROUPED, np.int64)
    for i, g in enumerate(groups):
        assigned[list(g.members)] = i
    return discovery_from_groups(assigned, labels, threshold=float(threshold), params=p.to_dict())


def stream_discovery(
    stream: Any,
    stream_labels: Any,
    enrolled: Any,
    *,
    distance: str | dict[str, Any] | Distance = "cosine",
    threshold: float,
    params: GroupingParams | None = None,
) -> DiscoveryMetrics:
    """Discovery as a gallery runs it: the ``stream`` items whose best ``enrolled`` item scores below
    ``threshold`` come out unknown and are grouped; BCubed is over the whole stream (the rest are singletons)."""
    from lookalike.evaluation.knn import exact_knn

    dist = get_distance(distance)
    x = np.asarray(stream, dtype=np.float32)
    e = np.asarray(enrolled, dtype=np.float32)
    if len(e):
        best = exact_knn(x, e, k=1, distance=dist).scores[:, 0]
        unknown = np.nonzero(~accepts(best, threshold))[0]
    else:
        unknown = np.arange(len(x))
    p = params or GroupingParams()
    assigned = np.full(len(x), UNGROUPED, np.int64)
    for i, g in enumerate(group_embeddings(x[unknown], distance=dist, threshold=threshold, params=p)):
        assigned[unknown[list(g.members)]] = i
    return discovery_from_groups(assigned, stream_labels, threshold=float(threshold), params=p.to_dict())


__all__ = ["UNGROUPED", "DiscoveryMetrics", "bcubed", "discovery_from_groups", "discovery_metrics", "stream_discovery"]
