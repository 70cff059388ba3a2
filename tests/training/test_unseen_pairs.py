"""Unseen-class pair scores of a closed-form whitening head, and `lookalike train` writing them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lookalike.models.distances import get_distance
from lookalike.models.pair_scoring import pair_scores, threshold_at_far
from lookalike.training.calibration import FILE, read_unseen_pairs, whitening_unseen_pairs
from lookalike.training.whitening import fit_whitening


def _data(classes: int = 12, per: int = 6, dims: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), per)
    x = rng.normal(scale=1.0, size=(classes, dims))[y] + rng.normal(scale=1.5, size=(len(y), dims))
    return x.astype(np.float32), y


def test_unseen_pairs_give_a_stricter_threshold_than_the_heads_own_classes() -> None:
    x, y = _data()
    dist = get_distance("cosine")
    pairs = whitening_unseen_pairs(x, y, dist, shrink=0.1, seed=0)
    assert pairs is not None and pairs.folds == 3
    assert pairs.genuine.mean() > pairs.impostor.mean()
    # the head fitted on every class, calibrated on those same classes: its impostors were pushed apart
    w, b = fit_whitening(x, y, shrink=0.1)
    own = pair_scores(dist.embed(torch.from_numpy(x @ w.T + b)).numpy(), y, dist)
    assert threshold_at_far(pairs.impostor, 0.01) > threshold_at_far(own.impostor, 0.01) + 0.05


def test_each_carve_out_is_scored_by_a_head_fitted_without_it() -> None:
    from lookalike.data.splits import class_folds

    x, y = _data()
    dist = get_distance("euclidean")
    pairs = whitening_unseen_pairs(x, y, dist, shrink=0.3, seed=4)
    assert pairs is not None
    genuine = []
    for tr, va in class_folds(y, folds=3, fraction=0.25, seed=4):
        w, b = fit_whitening(x[tr], y[tr], shrink=0.3)
        genuine.append(pair_scores(dist.embed(torch.from_numpy(x[va] @ w.T + b)).numpy(), y[va], dist).genuine)
    np.testing.assert_allclose(np.sort(pairs.genuine), np.sort(np.concatenate(genuine)), rtol=1e-5, atol=1e-5)


def test_too_few_classes_give_no_pairs() -> None:
    x, y = _data(classes=4)
    assert whitening_unseen_pairs(x, y, get_distance("cosine"), shrink=0.5) is None


def test_train_writes_unseen_pairs_for_a_whitening_head_and_drops_stale_ones(tmp_path: Path, make_tiny_config) -> None:
    from lookalike.gallery import Gallery
    from lookalike.models import load_model
    from lookalike.training import load_train_config
    from lookalike.training.train import train

    whiten = {
        "model.head": {"type": "linear", "init": "whiten", "whiten_shrink": 0.5},
        "model.encoder_kwargs": {"pretrained": False, "input_size": 32, "global_pool": "grid2"},
        "trainer.max_epochs": 0,
    }
    result = train(load_train_config(make_tiny_config(tmp_path, **whiten)))
    pairs = read_unseen_pairs(result.output_dir)
    assert pairs.folds == 3 and len(pairs.genuine) > 0 and len(pairs.impostor) > len(pairs.genuine)
    # a gallery of this model takes its threshold from them (`lookalike calibrate --from-fit RUN_DIR`)
    with Gallery.create(tmp_path / "g", load_model(result.model_dir)) as g:
        report = g.calibrate_scores(pairs.genuine, pairs.impostor, target_far=0.01)
        assert g.threshold == pytest.approx(report.threshold)
        # calibrating on the very classes the head was fitted on is flagged; on classes it never saw, not
        from lookalike.data.protocols import load_protocol
        from lookalike.gallery.calibration import CalibrationWarning

        protocol = load_protocol(load_train_config(make_tiny_config(tmp_path, **whiten)).data.protocol)
        train_set, test_set = protocol.dataset("train"), protocol.dataset("test")
        with pytest.warns(CalibrationWarning, match="were training classes of this model"):
            seen = g.calibrate(train_set.subset(np.arange(0, len(train_set), 4)), target_far=0.01)
        assert seen.warning is not None and "--from-fit" in seen.warning
        unseen = g.calibrate(test_set, target_far=0.01)
        assert unseen.warning is None or "training classes" not in unseen.warning
    # a run whose network trains (not the closed-form head) leaves no pairs behind in the same folder
    trained = make_tiny_config(tmp_path, **{"trainer.max_epochs": 1, "trainer.limit_train_batches": 2})
    cfg = load_train_config(trained)
    assert cfg.output_dir == load_train_config(make_tiny_config(tmp_path, **whiten)).output_dir
    train(cfg)
    assert not (Path(cfg.output_dir) / FILE).exists()


def test_only_a_model_that_learned_from_its_classes_flags_them() -> None:
    from types import SimpleNamespace

    from lookalike.gallery.gallery import _fitted_on

    def model(head: str, backbone: str = "frozen", names: tuple[str, ...] = ("a", "b")) -> SimpleNamespace:
        cfg = {"model": {"head": {"type": head}, "backbone": backbone}}
        return SimpleNamespace(card=SimpleNamespace(label_names=list(names), extra={"train_config": cfg}))

    assert _fitted_on(model("linear"), ["a", "c"]) == ["a"]
    assert _fitted_on(model("none", "finetune"), ["b"]) == ["b"]
    assert _fitted_on(model("none"), ["a", "b"]) == []  # a frozen backbone used as it is learned nothing
    assert _fitted_on(model("linear", names=()), ["a"]) == []  # no record of its classes
    assert _fitted_on(None, ["a"]) == []
