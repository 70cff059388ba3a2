"""N-way K-shot classification accuracy over episodes (e.g. Omniglot's 20 official 20-way one-shot runs).

An episode holds N classes with K labelled support items each and some query items; a query is assigned the
class of its nearest support item (``rule="nearest"``) or of the nearest class mean (``rule="prototype"``,
Snell et al. 2017; the mean is mapped back through ``Distance.embed``). Accuracy is averaged over all queries
of all episodes; the per-episode accuracies are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from lookalike.errors import DataError
from lookalike.evaluation.knn import as_matrix, exact_knn
from lookalike.models.distances import Distance, get_distance

if TYPE_CHECKING:
    from lookalike.data.types import LabeledDataset


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot task, already embedded."""

    support: np.ndarray
    support_labels: np.ndarray
    queries: np.ndarray
    query_labels: np.ndarray
    name: str = "episode"


@dataclass(frozen=True)
class FewShotMetrics:
    """Accuracy over all queries of all episodes, with the per-episode values."""

    accuracy: float
    ways: int
    shots: int
    num_episodes: int
    num_queries: int
    per_episode: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "ways": self.ways,
            "shots": self.shots,
            "num_episodes": self.num_episodes,
            "num_queries": self.num_queries,
            "per_episode": dict(self.per_episode),
        }


def _predict(ep: Episode, dist: Distance, rule: str) -> np.ndarray:
    if rule == "nearest":
        knn = exact_knn(ep.queries, ep.support, k=1, distance=dist)
        return np.asarray(ep.support_labels)[knn.indices[:, 0]]
    classes = np.unique(ep.support_labels)
    s = as_matrix(ep.support, "support")
    means = torch.stack([s[torch.from_numpy(np.asarray(ep.support_labels) == c)].mean(0) for c in classes])
    protos = dist.mean_point(means)
    knn = exact_knn(ep.queries, protos, k=1, distance=dist)
    return classes[knn.indices[:, 0]]


def few_shot_accuracy(
    episodes: Sequence[Episode],
    *,
    distance: str | dict[str, Any] | Distance = "cosine",
    rule: Literal["nearest", "prototype"] = "nearest",
) -> FewShotMetrics:
    """Nearest-support (or nearest-prototype) accuracy over ``episodes``."""
    if rule not in ("nearest", "prototype"):
        raise DataError(f"rule must be 'nearest' or 'prototype'; got {rule!r}")
    if not episodes:
        raise DataError("few-shot evaluation needs at least one episode")
    dist = get_distance(distance)
    per: dict[str, float] = {}
    right = total = 0
    ways = shots = 0
    for ep in episodes:
        labels, counts = np.unique(ep.support_labels, return_counts=True)
        if len(ep.query_labels) == 0 or not np.isin(ep.query_labels, labels).all():
            raise DataError(f"{ep.name}: every query's class must have support items (and there must be queries)")
        ways, shots = max(ways, len(labels)), max(shots, int(counts.max()))
        pred = _predict(ep, dist, rule)
        ok = pred == np.asarray(ep.query_labels)
        per[ep.name] = float(ok.mean())
        right += int(ok.sum())
        total += len(ok)
    return FewShotMetrics(
        accuracy=right / total, ways=ways, shots=shots, num_episodes=len(episodes), num_queries=total, per_episode=per
    )


def embed_episodes(runs: Sequence[Any], embed: Callable[[LabeledDataset], np.ndarray]) -> list[Episode]:
    """Episodes from runs with ``gallery``/``queries`` datasets (e.g. ``lookalike.data.omniglot.omniglot_runs``),
    embedding both with ``embed`` (e.g. ``model.embed_dataset``)."""
    return [
        Episode(
            support=embed(run.gallery),
            support_labels=np.asarray(run.gallery.labels),
            queries=embed(run.queries),
            query_labels=np.asarray(run.queries.labels),
            name=str(getattr(run, "name", f"run{i + 1:02d}")),
        )
        for i, run in enumerate(runs)
    ]


__all__ = ["Episode", "FewShotMetrics", "embed_episodes", "few_shot_accuracy"]
