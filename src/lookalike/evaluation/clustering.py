"""Clustering quality: NMI and AMI of k-means clusters against the labels (Musgrave et al., 2020).

k-means is faiss's (20 iterations, faiss's fixed default seed 1234), run on the embeddings with as many clusters
as there are classes — the same clustering PML's ``AccuracyCalculator`` uses, so the numbers agree with it.
Items labelled -1 (unknown) are left out: they belong to no class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import DataError


@dataclass(frozen=True)
class ClusteringMetrics:
    """Normalised and adjusted mutual information between k-means clusters and the true classes."""

    nmi: float
    ami: float
    num_items: int
    num_clusters: int

    def to_dict(self) -> dict[str, Any]:
        return {"nmi": self.nmi, "ami": self.ami, "num_items": self.num_items, "num_clusters": self.num_clusters}


def kmeans_labels(embeddings: np.ndarray, n_clusters: int, *, niter: int = 20, seed: int = 1234) -> np.ndarray:
    """Cluster index of every row after faiss k-means."""
    import faiss

    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if n_clusters < 1 or n_clusters > len(x):
        raise DataError(f"k-means needs 1 <= clusters <= items; got {n_clusters} clusters for {len(x)} items")
    # min_points_per_centroid=1: a held-out set has few items per class by nature; faiss would print a warning
    # to stderr for fewer than 39 per cluster (it only warns; the clustering is the same)
    km = faiss.Kmeans(x.shape[1], int(n_clusters), niter=niter, seed=seed, verbose=False, min_points_per_centroid=1)
    km.train(x)
    _, assign = km.index.search(x, 1)
    return assign[:, 0].astype(np.int64)


def clustering_metrics(embeddings: Any, labels: Any, *, niter: int = 20, seed: int = 1234) -> ClusteringMetrics:
    """NMI and AMI (scikit-learn's) of k-means with one cluster per class."""
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    x = np.asarray(embeddings, dtype=np.float32)
    y = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y):
        raise DataError(f"embeddings {x.shape} and labels {y.shape} must have one row per item")
    keep = y != UNKNOWN_LABEL
    x, y = x[keep], y[keep]
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise DataError(f"clustering metrics need at least two classes; got {n_classes}")
    clusters = kmeans_labels(x, n_classes, niter=niter, seed=seed)
    return ClusteringMetrics(
        nmi=float(normalized_mutual_info_score(y, clusters)),
        ami=float(adjusted_mutual_info_score(y, clusters)),
        num_items=len(y),
        num_clusters=n_classes,
    )


__all__ = ["ClusteringMetrics", "clustering_metrics", "kmeans_labels"]
