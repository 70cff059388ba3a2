"""One pair scoring and one acceptance convention (score >= threshold), shared by calibration and evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.evaluation.verification import threshold_at_rate, verification_metrics
from lookalike.gallery.calibration import choose_threshold
from lookalike.models.pair_scoring import accepts, measurable, pair_scores, threshold_at_far


def test_threshold_accepts_at_most_the_allowed_impostors_and_never_splits_ties() -> None:
    imp = np.array([0.9, 0.8, 0.8, 0.5, 0.1])
    t = threshold_at_far(imp, 0.2)  # one of five may pass: only 0.9
    assert accepts(imp, t).sum() == 1 and accepts(0.9, t) and not accepts(0.8, t)
    assert accepts(imp, threshold_at_far(imp, 0.4)).sum() == 1  # two may pass, but 0.8 is tied: neither
    assert accepts(imp, threshold_at_far(imp, 0.6)).sum() == 3
    assert accepts(imp, threshold_at_far(imp, 1.0)).all()
    assert accepts(0.5, 0.5)  # the convention: a score equal to the threshold is accepted


def test_calibration_and_evaluation_choose_the_same_threshold() -> None:
    rng = np.random.default_rng(0)
    genuine, impostor = rng.normal(1, 0.5, 300), rng.normal(0, 0.5, 5000)
    for far in (1e-1, 1e-2, 1e-3):
        calibrated = choose_threshold(genuine, impostor, target_far=far)
        evaluated = verification_metrics(genuine, impostor, fars=(far,))
        assert calibrated.threshold == evaluated.threshold_at_far[far] == threshold_at_rate(impostor, far)
        assert calibrated.frr == pytest.approx(1 - evaluated.tar_at_far[far])
        assert calibrated.far <= far


def test_measurable_needs_one_allowed_false_accept() -> None:
    assert measurable(1000, 1e-3) and not measurable(999, 1e-3) and not measurable(0, 0.5)


def test_unknown_items_are_dropped_or_impostors() -> None:
    x = np.eye(4, dtype=np.float32)
    y = np.array([0, 0, -1, -1])
    dropped = pair_scores(x, y)
    assert len(dropped.genuine) == 1 and len(dropped.impostor) == 0
    kept = pair_scores(x, y, unknown_impostors=True)
    assert len(kept.genuine) == 1 and len(kept.impostor) == 4  # each unknown vs each labelled; never each other
