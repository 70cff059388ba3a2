"""Discovery's grouping settings chosen for one model on carve-outs of its training classes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lookalike.errors import ConfigError, DataError
from lookalike.models.distances import get_distance
from lookalike.models.grouping import GroupingParams
from lookalike.training.grouping import (
    F1_TIE,
    GroupingChoice,
    candidates,
    carveout_scores,
    choose_grouping,
    min_classes,
    pick,
)


def _blobs(classes: int = 16, per: int = 12, dims: int = 24, spread: float = 0.6, seed: int = 0):
    """Classes as tight clusters (each with two sub-modes, like a logo's variants) around random centres."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), per)
    centres = rng.normal(size=(classes, dims))
    modes = centres[:, None, :] + rng.normal(scale=0.5, size=(classes, 2, dims))
    x = modes[y, np.arange(len(y)) % 2] + rng.normal(scale=spread, size=(len(y), dims))
    return x.astype(np.float32), y


def test_candidates_start_with_the_library_default_and_hold_no_repeat() -> None:
    c = candidates()
    assert c[0] == GroupingParams()
    assert len(set(c)) == len(c) and len(c) > 50


def test_pick_asks_for_the_count_first_then_f1_and_keeps_the_first_on_ties() -> None:
    # (trials, candidates, [f1, proposals]); 5 new classes per trial
    s = np.array([[[0.80, 5], [0.95, 9], [0.85, 6], [0.85, 4]]], dtype=float)
    assert pick(s) == 2  # 0.95 is off by 4 proposals; 0.85 within +-1, the first of the tie
    off = np.array([[[0.80, 9], [0.90, 12]]], dtype=float)
    assert pick(off) == 1  # none within: the best F1


def test_pick_breaks_an_f1_tie_by_the_per_trial_count_error() -> None:
    # two trials; candidates 0 and 1 tie on F1 (within F1_TIE) and both average 5 proposals, but 0 gets 3 and 7
    s = np.array([[[0.90, 3], [0.898, 5], [0.70, 5]], [[0.90, 7], [0.898, 5], [0.70, 5]]], dtype=float)
    assert pick(s) == 1
    # outside the tie the better F1 wins, whatever its count error
    s[:, 1, 0] = 0.90 - 2 * F1_TIE
    assert pick(s) == 0


def test_the_choice_groups_new_classes_at_least_as_well_as_the_default() -> None:
    x, y = _blobs()
    dist = get_distance("cosine")
    choice = choose_grouping(x, y, dist, shrink=0.3, trials=3)
    assert choice is not None and choice.params in candidates() and choice.trials == 3
    assert 0.0 <= choice.default_f1 <= 1.0 and abs(choice.proposals - 5) <= 1
    if abs(choice.default_proposals - 5) <= 1:
        assert choice.f1 >= choice.default_f1
    # reproducible, and the round trip through calibration.npz's JSON keeps it
    again = choose_grouping(x, y, dist, shrink=0.3, trials=3)
    assert again == choice
    assert GroupingChoice.from_dict(choice.to_dict()) == choice
    assert "library default" in choice.summary()


def test_scores_follow_how_separable_the_classes_are() -> None:
    """The same draws on noisier features (classes overlapping more) must score lower."""
    x, y = _blobs(classes=12)
    dist = get_distance("euclidean")
    base = carveout_scores(x, y, dist, shrink=None, trials=2, params=[GroupingParams()])
    noisy = x + np.random.default_rng(1).normal(scale=2.0, size=x.shape).astype(np.float32)
    worse = carveout_scores(noisy, y, dist, shrink=None, trials=2, params=[GroupingParams()])
    assert base.shape == (2, 1, 2)
    assert worse[:, 0, 0].mean() < base[:, 0, 0].mean()


def test_too_few_classes_keep_the_library_default() -> None:
    x, y = _blobs(classes=min_classes(head=True) - 1)
    dist = get_distance("cosine")
    assert choose_grouping(x, y, dist, shrink=0.5) is None
    with pytest.raises(DataError, match="needs 13 training classes"):
        carveout_scores(x, y, dist, shrink=0.5)
    assert choose_grouping(x, y, dist, shrink=None, trials=1) is not None  # no head to refit: 10 are enough


@pytest.mark.parametrize("head", [{"type": "linear", "init": "whiten", "whiten_shrink": 0.4}, {"type": "none"}])
def test_train_stores_the_choice_in_calibration_npz(tmp_path: Path, make_tiny_config, head: dict) -> None:
    from lookalike.training import load_train_config
    from lookalike.training.calibration import read_unseen_pairs
    from lookalike.training.train import _write_unseen_pairs

    cfg = load_train_config(
        make_tiny_config(tmp_path, **{"model.head": head, "trainer.max_epochs": 0, "discovery": {"trials": 2}})
    )
    x, y = _blobs()
    dm = SimpleNamespace(train_set=SimpleNamespace(features=[torch.from_numpy(x)], labels=torch.from_numpy(y)))
    _write_unseen_pairs(cfg, dm, get_distance("cosine"), tmp_path)
    pairs = read_unseen_pairs(tmp_path)
    assert pairs.grouping is not None
    choice = GroupingChoice.from_dict(pairs.grouping)
    assert choice.trials == 2 and choice.params in candidates()
    assert pairs.folds == (3 if head["type"] == "linear" else 0) and len(pairs.impostor) > len(pairs.genuine)


def test_a_real_headless_run_writes_pairs_and_keeps_the_default_with_few_classes(
    tmp_path: Path, make_tiny_config
) -> None:
    from lookalike.training import load_train_config
    from lookalike.training.calibration import read_unseen_pairs
    from lookalike.training.train import train

    changes = {"model.head": {"type": "none"}, "trainer.max_epochs": 0, "discovery": {"trials": 1}}
    result = train(load_train_config(make_tiny_config(tmp_path, **changes)))
    pairs = read_unseen_pairs(result.output_dir)  # 7 training digits: every pair is unseen (nothing fitted)
    assert pairs.folds == 0 and pairs.grouping is None and len(pairs.genuine) > 0


def test_discovery_is_refused_for_a_model_trained_by_gradient(tmp_path: Path, make_tiny_config) -> None:
    from lookalike.training import load_train_config

    with pytest.raises(ConfigError, match="remove the discovery section"):
        load_train_config(make_tiny_config(tmp_path, **{"discovery": {"trials": 2}}))  # a linear head, 1 epoch


@pytest.mark.parametrize("bad", ["{not json", '{"params": {"linkage": "zigzag"}}', '{"params": {}}', "[1, 2]"])
def test_an_unreadable_grouping_in_calibration_npz_is_one_clear_error(tmp_path: Path, bad: str) -> None:
    from lookalike.training.calibration import FILE, read_unseen_pairs

    np.savez(tmp_path / FILE, genuine=np.ones(3), impostor=np.zeros(5), folds=np.int64(3), grouping=np.array(bad))
    with pytest.raises(DataError, match=r"grouping choice is unreadable.*rerun"):
        read_unseen_pairs(tmp_path)
