"""BCubed and the discovery metric of ``evaluate``, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import DataError
from lookalike.evaluation.discovery import bcubed, discovery_from_groups, stream_discovery
from lookalike.evaluation.evaluate import evaluate_embeddings
from lookalike.models.grouping import GroupingParams


def test_bcubed_by_hand() -> None:
    # groups {0,1} and {2,3,4}; classes {0,1,2} and {3,4}:
    # precision per item 1, 1, 1/3, 2/3, 2/3; recall 2/3, 2/3, 1/3, 1, 1 -> both 11/15
    p, r, f = bcubed([0, 0, 1, 1, 1], [0, 0, 0, 1, 1])
    assert (p, r, f) == pytest.approx((11 / 15, 11 / 15, 11 / 15))


def test_ungrouped_items_are_singletons_and_one_big_group_loses_precision() -> None:
    assert bcubed([-1, -1, -1], [0, 0, 1]) == pytest.approx((1.0, 2 / 3, 0.8))
    assert bcubed([0, 0, 0], [0, 0, 1]) == pytest.approx((5 / 9, 1.0, 10 / 14))
    assert bcubed([3, 3, 7], [5, 5, 9]) == pytest.approx((1.0, 1.0, 1.0))  # label values do not matter


def test_bcubed_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="one label per item"):
        bcubed([0, 1], [0])
    with pytest.raises(DataError, match="at least one item"):
        bcubed([], [])


def test_proposal_counts() -> None:
    m = discovery_from_groups([0, 0, -1, 1, 1], [0, 0, 0, 1, 1])
    assert (m.num_proposals, m.num_true_classes, m.num_grouped, m.num_items) == (2, 2, 4, 5)


def test_stream_discovery_keeps_known_looking_items_out() -> None:
    # two new classes on the axes e2, e3; one stream item sits on the enrolled e0 and comes out "known"
    stream = np.array([[0, 0, 1, 0], [0, 0.05, 1, 0], [0, 0, 0, 1], [0, 0, 0.05, 1], [1, 0, 0, 0]], np.float32)
    stream /= np.linalg.norm(stream, axis=1, keepdims=True)
    labels = np.array([2, 2, 3, 3, 3])
    pairs = GroupingParams(min_size=2)  # the default drops groups of 2
    m = stream_discovery(stream, labels, np.eye(4, dtype=np.float32)[:1], threshold=0.9, params=pairs)
    assert m.num_proposals == 2 and m.num_grouped == 4
    # item 4 is a singleton of class 3 (size 3): recall 1/3, others recall 1 (class 2) or 2/3 (class 3)
    assert m.bcubed_precision == pytest.approx(1.0)
    assert m.bcubed_recall == pytest.approx((1 + 1 + 2 / 3 + 2 / 3 + 1 / 3) / 5)


def test_evaluate_reports_discovery_when_classes_are_never_enrolled() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(16)[:8]  # orthogonal classes
    x = np.repeat(centres, 24, axis=0) + 0.05 * rng.normal(size=(192, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    y = np.repeat(np.arange(8), 24)
    result = evaluate_embeddings(x, y, clustering=False, verification=False)
    d = result.discovery
    assert d is not None and d.num_true_classes == 4  # half of the 8 classes are never enrolled
    assert d.num_proposals == 4 and d.bcubed_f1 == pytest.approx(1.0)
    assert result.to_dict()["discovery"]["bcubed_f1"] == pytest.approx(1.0)
    assert result.headline()["discovery BCubed F1"] == pytest.approx(1.0)
    with_unknowns = evaluate_embeddings(x, np.where(y < 4, y, -1), clustering=False, verification=False)
    assert with_unknowns.discovery is None  # unknown items have no classes to discover
