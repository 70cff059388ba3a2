"""``SimilarityClassifier``: "to which class is this most similar?" as a scikit-learn classifier.

Fit stores the (embedded) training vectors; predict scores each class from its vectors like a gallery
(``max``, ``mean`` or ``centroid``) and answers the best class, or ``unknown_label`` when the best score is
below ``threshold`` (set by hand, or calibrated on the training data when ``target_far`` is given).
``predict_proba`` is a softmax of the class scores at ``temperature``. Works inside sklearn pipelines,
``cross_val_score`` and ``GridSearchCV``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from lookalike.gallery import scoring as sc
from lookalike.gallery.calibration import calibrate_embeddings
from lookalike.models.distances import get_distance
from lookalike.models.pair_scoring import accepts


class SimilarityClassifier(ClassifierMixin, BaseEstimator):
    """Nearest-class classifier over embeddings with an open-set "unknown".

    Args:
        distance: a distance name ("cosine", "euclidean", "dot", "hyperbolic"); inputs are mapped into its
            space with ``Distance.embed`` (L2-normalised for cosine/euclidean).
        scoring: how a class scores from its vectors: "max", "mean" or "centroid".
        threshold: similarity below which the answer is ``unknown_label``; ``None``: never unknown.
        target_far: if set, ``fit`` calibrates ``threshold_`` on the training pairs at this false-accept rate.
        unknown_label: the label predicted for "none of the classes".
        temperature: softmax temperature of ``predict_proba``.
    """

    def __init__(
        self,
        *,
        distance: str = "cosine",
        scoring: str = "max",
        threshold: float | None = None,
        target_far: float | None = None,
        unknown_label: Any = -1,
        temperature: float = 0.05,
    ) -> None:
        self.distance = distance
        self.scoring = scoring
        self.threshold = threshold
        self.target_far = target_far
        self.unknown_label = unknown_label
        self.temperature = temperature

    def _embed(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.distance_.embed(torch.tensor(np.asarray(X), dtype=torch.float64)).numpy()

    def fit(self, X: Any, y: Any) -> SimilarityClassifier:
        """Store the training vectors and their classes (and calibrate ``threshold_`` if ``target_far``)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        sc.check_scoring(self.scoring)
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        self.distance_ = get_distance(self.distance)
        self.classes_, self.codes_ = np.unique(y, return_inverse=True)
        self.vectors_ = self._embed(X)
        self.threshold_ = self.threshold
        if self.target_far is not None:
            self.threshold_ = calibrate_embeddings(
                self.vectors_, self.codes_, self.distance_, target_far=self.target_far
            ).threshold
        return self

    def class_scores(self, X: Any) -> np.ndarray:
        """(n_samples, n_classes) similarity of each sample to each class (higher is closer)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return sc.identity_score_matrix(
            self._embed(X),
            self.vectors_,
            self.codes_,
            len(self.classes_),
            self.distance_,
            self.scoring,  # type: ignore[arg-type]
            dtype=np.float64,
        )

    def decision_function(self, X: Any) -> np.ndarray:
        s = self.class_scores(X)
        return s[:, 1] - s[:, 0] if len(self.classes_) == 2 else s

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the class scores; rows sum to 1 over ``classes_`` (unknown has no column)."""
        s = torch.from_numpy(self.class_scores(X)).double() / self.temperature
        return torch.softmax(s, dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most similar class, or ``unknown_label`` where the best score is below ``threshold_``."""
        s = self.class_scores(X)
        best = s.argmax(axis=1)
        pred = self.classes_[best]
        if self.threshold_ is not None:
            unknown = ~accepts(s[np.arange(len(s)), best], self.threshold_)
            if unknown.any():
                try:  # widen e.g. '<U1' to hold 'unknown'; mixed kinds (int classes, str label) become object
                    dtype = np.result_type(pred.dtype, np.asarray([self.unknown_label]).dtype)
                except TypeError:
                    dtype = np.dtype(object)
                pred = pred.astype(dtype)
                pred[unknown] = self.unknown_label
        return pred

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


__all__ = ["SimilarityClassifier"]
