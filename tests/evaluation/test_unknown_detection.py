"""Out-of-scope detection by max similarity: hand-computed values, and metrics.json's ``unknown_detection``."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import DataError
from lookalike.evaluation.evaluate import evaluate_embeddings, open_set_split
from lookalike.evaluation.openset import open_set_metrics, unknown_detection


def _unit(deg: float) -> list[float]:
    return [float(np.cos(np.radians(deg))), float(np.sin(np.radians(deg)))]


def test_unknown_detection_on_hand_made_scores() -> None:
    det = unknown_detection([0.9, 0.8, 0.7, 0.4], [0.5, 0.3, 0.6])
    # AUROC = P(known > unknown) = (3 + 3 + 3 + 1) / 12
    assert det.auroc == pytest.approx(10 / 12)
    # keeping 95 % of 4 known probes needs all 4: threshold 0.4, which lets 0.5 and 0.6 through
    assert det.threshold_at_95_tpr == pytest.approx(0.4)
    assert det.fpr_at_95_tpr == pytest.approx(2 / 3)
    assert det.num_known_probes == 4 and det.num_unknown_probes == 3
    # unknown found by low score: ranking -s puts 0.3 first (hit), then 0.4 (miss), 0.5, 0.6 (hits): AP
    assert det.aupr_unknown == pytest.approx((1 / 1 + 2 / 3 + 3 / 4) / 3)


def test_unknown_detection_needs_both_kinds() -> None:
    with pytest.raises(DataError, match="known and unknown"):
        unknown_detection([0.9], [])


def test_open_set_metrics_detects_unknowns_by_best_cosine() -> None:
    gallery = np.array([_unit(0), _unit(90)], dtype=np.float32)  # class 0 at 0°, class 1 at 90°
    probes = np.array([_unit(a) for a in (10, 60, 40, 45, 180, 70)], dtype=np.float32)
    labels = np.array([0, 1, 0, -1, -1, -1])
    m = open_set_metrics(gallery, [0, 1], probes, labels, distance="cosine")
    assert m.rank1_accuracy == 1.0
    det = m.unknown_detection
    assert det is not None
    # best cosines: known cos10 0.985, cos30 0.866, cos40 0.766; unknown cos45 0.707, cos90 0, cos20 0.940
    assert det.auroc == pytest.approx(7 / 9)
    assert det.threshold_at_95_tpr == pytest.approx(np.cos(np.radians(40)), abs=1e-6)
    assert det.fpr_at_95_tpr == pytest.approx(1 / 3)


def test_metrics_json_gains_unknown_detection_per_gallery_size() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    y = np.repeat(np.arange(4), 8)
    x = centres[y] + 0.3 * rng.normal(size=(32, 16))
    x = np.vstack([x, rng.normal(size=(10, 16))])  # unknown items far from every class
    y = np.r_[y, -np.ones(10, dtype=np.int64)]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    result = evaluate_embeddings(x.astype(np.float32), y, shots=(1, 5), clustering=False, verification=False)
    out = result.to_dict()["unknown_detection"]
    assert set(out) == {"1-shot", "5-shot"}
    # the same numbers as detection on the k-shot split evaluate uses (one implementation of the split)
    g, p, p_labels = open_set_split(y, 5, 0)
    expected = open_set_metrics(x[g], y[g], x[p], p_labels).unknown_detection
    assert expected is not None
    assert out["5-shot"]["auroc"] == pytest.approx(expected.auroc)
    assert out["5-shot"]["num_unknown_probes"] == 10 and out["5-shot"]["num_known_probes"] == 32 - 4 * 5
    assert 0.5 < out["5-shot"]["auroc"] <= 1.0
    assert "5-shot unknown AUROC" in result.headline()


def test_no_unknown_items_means_no_unknown_detection() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 8)).astype(np.float32)
    y = np.repeat(np.arange(4), 6)
    result = evaluate_embeddings(x, y, clustering=False, verification=False)
    assert result.to_dict()["unknown_detection"] is None
