"""Threshold calibration: exact choice on hand-made scores, intervals, warnings, storage and growth warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from _gallery_helpers import clustered

from lookalike.errors import DataError
from lookalike.gallery import CalibrationWarning, Gallery
from lookalike.gallery.calibration import choose_threshold, clopper_pearson
from lookalike.models import EmbeddingModel
from lookalike.models.distances import get_distance
from lookalike.models.pair_scoring import pair_scores


def test_threshold_meets_far_exactly_on_hand_made_scores() -> None:
    impostor = np.arange(10_000) / 10_000  # 0.0000 .. 0.9999
    genuine = np.array([0.5, 0.9985, 0.9995, 1.0])
    r = choose_threshold(genuine, impostor, target_far=1e-3)
    assert 0.9989 < r.threshold <= 0.99890001  # just above the 11th-highest impostor: 10 of 10,000 accepted
    assert r.far == pytest.approx(1e-3) and r.frr == pytest.approx(0.5)  # 0.5 and 0.9985 rejected
    assert r.n_impostor == 10_000 and r.n_genuine == 4 and r.warning is None
    assert r.frr_ci[0] < 0.5 < r.frr_ci[1]
    # given pair scores (`calibrate --from-fit`) embed no items: the summary does not claim "0 items of 0 classes"
    assert r.summary().endswith("on 4 genuine pairs")
    with_items = choose_threshold(genuine, impostor, target_far=1e-3, n_items=30, n_classes=3)
    assert with_items.summary().endswith("; 30 items of 3 classes")


def test_clopper_pearson_known_values() -> None:
    lo, hi = clopper_pearson(0, 1000)
    assert lo == 0 and hi == pytest.approx(0.003682, rel=1e-3)  # ~3/n: the rule of three
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.1871, abs=1e-4) and hi == pytest.approx(0.8129, abs=1e-4)


def test_too_few_impostor_pairs_warns() -> None:
    with pytest.warns(CalibrationWarning, match=r"only 100 impostor pairs .* at least 3,000"):
        r = choose_threshold(np.ones(5), np.linspace(0, 1, 100), target_far=1e-3)
    assert r.warning and "3/FAR" in r.warning


def test_pairs_counted_and_unknown_items_are_impostors_only() -> None:
    x, _ = clustered(3, 2)
    labels = np.array([0, 0, 1, 1, -1, -1])
    pairs = pair_scores(x, labels, get_distance("cosine"), unknown_impostors=True)
    gen, imp = pairs.genuine, pairs.impostor
    assert len(gen) == 2  # (0,1) and (2,3)
    assert len(imp) == 4 + 8  # 0-vs-1 pairs + each unknown vs the 4 labelled items; unknown-unknown excluded


def test_bad_calibration_data_is_refused() -> None:
    with pytest.raises(DataError, match="genuine"):
        choose_threshold(np.array([]), np.ones(3), target_far=0.1)
    with pytest.raises(DataError, match="target_far"):
        choose_threshold(np.ones(2), np.ones(3), target_far=1.5)


def test_gallery_stores_calibration_and_warns_when_grown(tmp_path: Path) -> None:
    model = EmbeddingModel.for_vectors(8)
    x, y = clustered(40, 5, seed=3)
    with Gallery.create(tmp_path / "g", model) as g:
        g.enroll("p0", x[y == 0])
        g.enroll("p1", x[y == 1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalibrationWarning)
            report = g.calibrate(x[y >= 10], y[y >= 10], target_far=1e-2)
        assert report.n_impostor == 30 * 29 // 2 * 25 and report.n_genuine == 30 * 10
        assert g.threshold == report.threshold and g.info().calibrated_at_size == 2
        assert g.info().calibration == report and g.info().warning is None
        for c in range(2, 6):
            g.enroll(f"p{c}", x[y == c])
        assert "recalibrate" in g.info().warning  # 6 identities > 2 x 2
    with Gallery.open(tmp_path / "g", model) as g:
        assert g.threshold == report.threshold
