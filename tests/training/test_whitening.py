"""Learned whitening: the closed-form fit, the whitened head in `train`, and its config checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import ConfigError, DataError
from lookalike.evaluation.retrieval import retrieval_metrics
from lookalike.training import load_train_config
from lookalike.training.whitening import fit_whitening


def _nuisance_data(seed: int = 0, classes: int = 12, per: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Class means differ along 4 weak axes; 2 strong axes carry only within-class noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), per)
    means = np.zeros((classes, 8))
    means[:, :4] = rng.normal(scale=3.0, size=(classes, 4))
    x = means[y] + rng.normal(scale=0.3, size=(len(y), 8))
    x[:, 4:6] += rng.normal(scale=6.0, size=(len(y), 2))
    return x.astype(np.float32), y


def _map_at_r(x: np.ndarray, y: np.ndarray) -> float:
    return retrieval_metrics(x.astype(np.float32), y, distance="euclidean", ks=(1,), device="cpu")[0].map_at_r


def test_whitening_makes_within_class_covariance_identity() -> None:
    x, y = _nuisance_data()
    w, b = fit_whitening(x, y, shrink=0.0)
    z = x.astype(np.float64) @ w.T + b
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    within = z - np.stack([z[y == c].mean(0) for c in np.unique(y)])[y]
    np.testing.assert_allclose(within.T @ within / len(z), np.eye(8), atol=1e-3)
    between = np.var(np.stack([z[y == c].mean(0) for c in np.unique(y)]), axis=0)
    assert np.all(np.diff(between) <= 1e-6)  # largest between-class variance first


def test_whitening_helps_unseen_classes() -> None:
    x_train, y_train = _nuisance_data(seed=0)
    x_test, y_test = _nuisance_data(seed=1)  # other classes, same nuisance
    w, b = fit_whitening(x_train, y_train, shrink=0.1, dim=4)
    assert w.shape == (4, 8) and b.shape == (4,)
    before, after = _map_at_r(x_test, y_test), _map_at_r(x_test @ w.T + b, y_test)
    assert after > before + 0.3 and after > 0.8, (before, after)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": np.zeros(10)}, "at least 2 classes"),
        ({"labels": np.arange(10)}, "2\\+ items"),
        ({"shrink": 1.0}, "shrink must lie"),
        ({"dim": 9}, "dim must lie in 1..8"),
        ({"labels": np.zeros(3)}, "need features"),
    ],
)
def test_whitening_refuses_bad_input(kwargs: dict, match: str) -> None:
    args = {"features": np.ones((10, 8)), "labels": np.repeat([0, 1], 5), **kwargs}
    with pytest.raises(DataError, match=match):
        fit_whitening(**args)


def test_train_fits_a_whitened_head_without_epochs(tmp_path: Path, make_tiny_config) -> None:
    from lookalike.models import load_model
    from lookalike.training.train import train

    path = make_tiny_config(
        tmp_path,
        **{
            "model.head": {"type": "linear", "init": "whiten", "whiten_shrink": 0.5},
            "model.encoder_kwargs": {"pretrained": False, "input_size": 32, "global_pool": "grid2"},
            "trainer.max_epochs": 0,
        },
    )
    result = train(load_train_config(path))
    assert result.epochs_run == 0 and result.best_epoch is None
    assert result.best_val_map_at_r is not None and 0 < result.best_val_map_at_r <= 1
    model = load_model(result.model_dir)
    net = model.network
    assert model.embedding_size == net.encoder.feature_dim and net.encoder.feature_dim % 4 == 0  # 2x2 grid
    # the exported head is exactly the whitening of the clean training features
    from lookalike.training.builder import build
    from lookalike.training.features import cached_features

    cfg = load_train_config(path)
    train_set = build(cfg).splits.train
    feats = cached_features(net.encoder, train_set, views=1, cache_dir=cfg.data.cache_dir)[0]
    w, b = fit_whitening(feats, train_set.labels, shrink=0.5)
    lin = net.head.net[-1]
    np.testing.assert_allclose(lin.weight.detach().numpy(), w, atol=1e-5)
    np.testing.assert_allclose(lin.bias.detach().numpy(), b, atol=1e-5)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"model.head": {"type": "linear", "init": "whiten"}, "model.backbone": "finetune"}, "needs model.backbone"),
        ({"model.head": {"type": "none", "init": "whiten"}}, "head type: linear"),
        ({"model.head": {"type": "linear", "init": "whiten", "bn": True}}, "set head bn: false"),
        ({"trainer.max_epochs": 0}, "max_epochs 0 trains nothing"),
        ({"model.encoder_kwargs": {"pretrained": False, "global_pool": "grid"}}, "grid1 ... grid8"),
    ],
)
def test_whitening_config_errors(tmp_path: Path, make_tiny_config, changes: dict, match: str) -> None:
    path = make_tiny_config(tmp_path, **changes)
    with pytest.raises(ConfigError, match=match):
        cfg = load_train_config(path)
        from lookalike.training.builder import build

        build(cfg)
