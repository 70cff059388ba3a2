"""SimilarityClassifier: sklearn's estimator checks, plus open-set behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from _gallery_helpers import clustered
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from lookalike.errors import ConfigError
from lookalike.gallery import SimilarityClassifier


@parametrize_with_checks([SimilarityClassifier(), SimilarityClassifier(scoring="centroid", distance="euclidean")])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_unknown_beyond_threshold_and_probabilities() -> None:
    x, y = clustered(4, 10, seed=5)
    known = y < 3
    clf = SimilarityClassifier(threshold=0.8, unknown_label="unknown").fit(
        x[known][::2], np.array(["a", "b", "c"])[y[known][::2]]
    )
    pred = clf.predict(np.concatenate([x[known][1::2], x[~known]]))
    assert list(pred[:15]) == list(np.array(["a", "b", "c"])[y[known][1::2]])
    assert (pred[15:] == "unknown").mean() >= 0.9
    proba = clf.predict_proba(x[:5])
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert proba.shape == (5, 3)


def test_calibrated_threshold_and_pipeline() -> None:
    x, y = clustered(5, 20, seed=6)
    clf = SimilarityClassifier(target_far=1e-2).fit(x, y)
    assert clf.threshold_ is not None and -1 <= clf.threshold_ <= 1
    scores = cross_val_score(make_pipeline(StandardScaler(), SimilarityClassifier(scoring="mean")), x, y, cv=3)
    assert scores.mean() > 0.9


def test_bad_params_are_refused() -> None:
    with pytest.raises(ConfigError, match="identity scoring 'median' is unknown"):
        SimilarityClassifier(scoring="median").fit(*clustered(2, 3))
