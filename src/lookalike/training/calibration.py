"""Pair scores of classes a model never saw: the honest basis for a gallery's accept threshold.

A threshold calibrated on the classes a head was fitted on is far too lenient for new identities: the fit pushed
those very classes' impostor pairs apart, so strangers score higher than they did. Measured on FlickrLogos-27's
training brands (docs/benchmarks.md, "Discovery", 2026-12-03): a FAR-1e-3 threshold from the head's own classes
let 68-96 % of 5 new brands' crops through as one of 3 enrolled brands (4 seeded trials); from pairs of classes
unseen by the head that scored them, 78-100 % came out unknown (8 trials). On digits (docs/fit.md) the same
switch took the strangers rejected from 25.6 % to 98.9 %.

Such pairs come from carve-outs of the training classes, each scored by a model fitted without it:

* ``lookalike fit`` scores each fold's validation classes with that fold's model
  (:mod:`lookalike.fitting.calibration`);
* ``lookalike train`` of a closed-form whitening head (``head.init: whiten``, ``max_epochs: 0``) refits the
  whitening without each of 3 class carve-outs (:func:`whitening_unseen_pairs`).

Both write ``DIR/calibration.npz``; :meth:`lookalike.gallery.Gallery.calibrate_scores` (``lookalike calibrate
GALLERY --from-fit DIR``) chooses a threshold from it. The exported model is fitted on every training class, so
these scores are a cross-fitted estimate for it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lookalike.errors import DataError
from lookalike.models.distances import Distance
from lookalike.models.pair_scoring import accepts, pair_scores, threshold_at_far

log = logging.getLogger(__name__)
FILE = "calibration.npz"
#: class carve-outs of a whitening head's training classes (as ``lookalike fit``'s default folds)
FOLDS, FRACTION = 3, 0.25


@dataclass(frozen=True)
class UnseenPairs:
    """Pooled pair scores of carved-out classes, each scored by a model that never saw them; ``grouping``: the
    discovery grouping chosen for the model on its training classes (``GroupingChoice.to_dict()``,
    :mod:`lookalike.training.grouping`), when the run chose one."""

    genuine: np.ndarray
    impostor: np.ndarray
    folds: int
    grouping: dict[str, Any] | None = None

    def operating_points(self, fars: tuple[float, ...] = (1e-2, 1e-3, 1e-4)) -> str:
        """Threshold and FRR at each target FAR the impostor pairs can measure (at least ``3 / FAR`` of them, the
        rule of three), as one line: ``FAR 0.01: threshold 0.2105, FRR 4.1%; ...``."""
        parts = []
        for far in fars:
            if len(self.impostor) < 3 / far:
                continue
            t = threshold_at_far(self.impostor, far)
            parts.append(f"FAR {far:g}: threshold {t:.4f}, FRR {float((~accepts(self.genuine, t)).mean()):.1%}")
        return "; ".join(parts) or "too few impostor pairs to measure FAR 0.01"

    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / FILE
        arrays: dict[str, Any] = {"genuine": self.genuine, "impostor": self.impostor, "folds": np.int64(self.folds)}
        if self.grouping is not None:
            arrays["grouping"] = np.array(json.dumps(self.grouping))
        np.savez_compressed(path, **arrays)
        return path


def read_unseen_pairs(fit_dir: str | Path) -> UnseenPairs:
    """The pair scores ``lookalike fit`` or ``lookalike train`` wrote to ``fit_dir``; a clear error when none."""
    path = Path(fit_dir) / FILE
    if not path.is_file():
        raise DataError(
            f"{path} does not exist: give the output folder of `lookalike fit` (it writes {FILE}, except for "
            "networks trained from scratch without fold networks) or of `lookalike train` with a closed-form "
            "whitening head, or calibrate on labelled data of classes the model was not trained on instead"
        )
    from lookalike.training.grouping import GroupingChoice

    with np.load(path, allow_pickle=False) as z:
        grouping = None
        if "grouping" in z.files:
            try:
                grouping = GroupingChoice.from_dict(json.loads(str(z["grouping"]))).to_dict()
            except (ValueError, AttributeError) as e:  # DataError is a ValueError; so is bad JSON
                raise DataError(
                    f"{path}: its grouping choice is unreadable ({e}); rerun the `lookalike train` that wrote it"
                ) from e
        return UnseenPairs(np.asarray(z["genuine"]), np.asarray(z["impostor"]), int(z["folds"]), grouping)


def whitening_unseen_pairs(
    features: np.ndarray, labels: np.ndarray, distance: Distance, *, shrink: float, dim: int | None = None,
    seed: int = 0, max_pairs: int = 2_000_000,
) -> UnseenPairs | None:  # fmt: skip
    """Pair scores of ``FOLDS`` class carve-outs of (features, labels), each scored by a whitening head (same
    ``shrink`` and ``dim``) fitted on the other classes; ``None`` with fewer than 5 classes (a carve-out of 3 needs
    2 classes left to fit on)."""
    from lookalike.data.splits import class_folds
    from lookalike.training.whitening import fit_whitening

    y = np.asarray(labels)
    if len(np.unique(y)) < 5:
        log.info("no unseen-class pair scores: %d classes (need 5 for 3-class carve-outs)", len(np.unique(y)))
        return None
    f = np.asarray(features, dtype=np.float32)
    genuine, impostor = [], []
    folds = class_folds(y, folds=FOLDS, fraction=FRACTION, seed=seed)
    for tr, va in folds:
        w, b = fit_whitening(f[tr], y[tr], shrink=shrink, dim=dim)
        x = distance.embed(torch.from_numpy((f[va] @ w.T + b).astype(np.float32))).numpy()
        pairs = pair_scores(x, y[va], distance, max_pairs=max_pairs // len(folds), seed=seed)
        genuine.append(pairs.genuine)
        impostor.append(pairs.impostor)
    return UnseenPairs(
        np.concatenate(genuine).astype(np.float32), np.concatenate(impostor).astype(np.float32), len(folds)
    )


__all__ = ["FILE", "UnseenPairs", "read_unseen_pairs", "whitening_unseen_pairs"]
