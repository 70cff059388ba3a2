"""Learned whitening: a linear head fitted in closed form from labelled training features.

Radenović et al. ("Fine-tuning CNN image retrieval with no human annotation", TPAMI 2018, "Lw"): centre the
features, whiten them by the *within-class* covariance (so the directions in which images of one class vary
count little), then rotate onto the principal axes of the between-class scatter. It is the classic LDA-style
metric for unseen classes (Fisherfaces, PLDA in face verification) and needs no gradient steps, which is why it
generalises well from a handful of training classes where a fine-tuned network overfits them (docs/training.md).

Written here because no maintained library offers it as a torch module: sklearn's LDA keeps at most
``n_classes - 1`` directions and has no within-class whitening with shrinkage towards the identity.
"""

from __future__ import annotations

import numpy as np

from lookalike.errors import DataError


def fit_whitening(
    features: np.ndarray, labels: np.ndarray, *, shrink: float = 0.5, dim: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, bias)`` of a Linear layer ``y = x @ weight.T + bias`` that whitens ``features``.

    ``shrink`` in [0, 1) blends the within-class covariance with a multiple of the identity (needed when
    there are fewer items than feature dimensions); ``dim`` keeps the first ``dim`` output directions
    (largest between-class variance first; ``None`` keeps all).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y):
        raise DataError(f"fit_whitening: need features (n, d) and n labels; got {x.shape} and {y.shape}")
    if not 0.0 <= shrink < 1.0:
        raise DataError(f"fit_whitening: shrink must lie in [0, 1), got {shrink}")
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2 or counts.max() < 2:
        raise DataError(
            "fit_whitening: needs at least 2 classes and a class with 2+ items "
            f"(got {len(classes)} classes, largest {counts.max() if len(counts) else 0}); add labelled data"
        )
    d = x.shape[1]
    if dim is not None and not 0 < dim <= d:
        raise DataError(f"fit_whitening: dim must lie in 1..{d}, got {dim}")
    mean = x.mean(0)
    xc = x - mean
    sums = np.zeros((len(classes), d))
    np.add.at(sums, inverse, xc)
    within = xc - (sums / counts[:, None])[inverse]
    sw = within.T @ within / len(x)
    sw = (1.0 - shrink) * sw + shrink * (np.trace(sw) / d) * np.eye(d)
    ev, vecs = np.linalg.eigh(sw)
    whiten = (vecs * np.clip(ev, 1e-12, None) ** -0.5) @ vecs.T
    xw = xc @ whiten
    ev_b, vecs_b = np.linalg.eigh(np.cov(xw.T))
    proj = whiten @ vecs_b[:, np.argsort(ev_b)[::-1]]
    if dim is not None:
        proj = proj[:, :dim]
    weight = proj.T.astype(np.float32)
    bias = (-(mean @ proj)).astype(np.float32)
    return weight, bias


__all__ = ["fit_whitening"]
