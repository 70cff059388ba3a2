"""``trainer.ensemble``: convnet members trained one by one on class carve-outs, joined into one encoder
(``lookalike fit`` exporting its fold networks that way: tests/fitting/test_scratch.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from lookalike.data.splits import class_folds
from lookalike.errors import ConfigError
from lookalike.models.convnet import ConvNetEncoder
from lookalike.models.encoders import build_encoder
from lookalike.training.config import TrainConfig


def _cfg(tmp_path: Path, **trainer: object) -> TrainConfig:
    return TrainConfig.model_validate({
        "name": "ens", "seed": 0,
        "data": {"protocol": "protocol:digits", "train_classes": "all", "batch_size": 16, "m_per_class": 4},
        "model": {"encoder": "convnet", "encoder_kwargs": {"size": 8, "width": 8, "depth": 2, "shifts": 1},
                  "head": {"type": "none"}, "backbone": "finetune", "freeze_bn": False},
        "loss": {"name": "triplet_margin", "miner": "semi_hard"},
        "optim": {"lr_backbone": 0.003, "lr_head": 0.003},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "progress_bar": False, **trainer},
        "output_dir": str(tmp_path / "run"),
    })  # fmt: skip


def _bodies(encoder: ConvNetEncoder) -> list[torch.nn.Module]:
    return [encoder.body, *encoder.others]


def test_members_are_each_networks_normalised_features_side_by_side() -> None:
    torch.manual_seed(0)
    a, b = (build_encoder("convnet", size=16, width=8, depth=3, shifts=1).eval() for _ in range(2))
    joined = ConvNetEncoder.combine([a, b])
    assert joined.members == 2 and joined.feature_dim == 16 and not joined.training
    x = torch.randn(3, 1, 16, 16)
    expected = torch.cat([torch.nn.functional.normalize(e(x), dim=1) for e in (a, b)], 1)
    torch.testing.assert_close(joined(x), expected)
    again = build_encoder("convnet", **joined.config())
    again.load_state_dict(joined.state_dict())
    torch.testing.assert_close(again.eval()(x), expected)
    assert joined.config()["members"] == 2 and "members" not in a.config()
    assert not any(k.startswith("others") for k in a.state_dict())  # one network: its weight names are unchanged


def test_only_networks_of_one_shape_join() -> None:
    a = build_encoder("convnet", size=16, width=8, depth=3)
    with pytest.raises(ConfigError, match="every member"):
        ConvNetEncoder.combine([a, build_encoder("convnet", size=16, width=16, depth=3)])
    with pytest.raises(ConfigError, match="members"):
        build_encoder("convnet", size=16, width=8, depth=3, members=9)


def test_training_an_ensemble_trains_each_member_on_its_carve_out_and_joins_them(tmp_path: Path) -> None:
    from lookalike.models.export import load_model
    from lookalike.training import train
    from lookalike.training.builder import build_splits
    from lookalike.training.train import member_configs

    cfg = _cfg(tmp_path, ensemble={"folds": 2})
    result = train(cfg, resume=False)
    model = load_model(result.model_dir)
    encoder = model.network.encoder
    assert isinstance(encoder, ConvNetEncoder) and encoder.members == 3 and model.card.embedding_size == 24
    train_set = build_splits(cfg).train
    folds = class_folds(train_set.labels, folds=2, fraction=0.25, seed=0)
    for f, member in enumerate(member_configs(cfg, train_set)):
        held = {train_set.class_names[c] for c in np.unique(train_set.labels[folds[f][1]])}
        assert set(member.data.exclude_classes) == held and member.seed == f
        saved = json.loads((tmp_path / "run" / "members" / str(f + 1) / "config.json").read_text())
        assert set(saved["data"]["exclude_classes"]) == held
        trained = load_model(tmp_path / "run" / "members" / str(f + 1) / "model").network.encoder
        for p, q in zip(_bodies(encoder)[f + 1].parameters(), trained.body.parameters(), strict=True):
            torch.testing.assert_close(p, q)  # member f+1 is the network trained without fold f's classes
    images = [(np.random.default_rng(i).random((8, 8)) * 255).astype(np.uint8) for i in range(4)]
    emb = model.embed(images)
    assert emb.shape == (4, 24)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_an_ensemble_takes_members_already_trained(tmp_path: Path) -> None:
    from lookalike.models.distances import get_distance
    from lookalike.models.export import load_model
    from lookalike.models.heads import Head
    from lookalike.models.network import EmbeddingNet
    from lookalike.training import train

    torch.manual_seed(1)
    cosine = get_distance("cosine")
    encoders = [build_encoder("convnet", size=8, width=8, depth=2, shifts=1) for _ in range(2)]
    given = [EmbeddingNet(encoder=e, head=Head(in_dim=8, type="none"), distance=cosine) for e in encoders]
    with pytest.raises(ConfigError, match="give one per fold"):
        train(_cfg(tmp_path, ensemble={"folds": 3}), resume=False, members=given)
    with pytest.raises(ConfigError, match="no ensemble"):
        train(_cfg(tmp_path), resume=False, members=given)
    result = train(_cfg(tmp_path, ensemble={"folds": 2}), resume=False, members=given)
    encoder = load_model(result.model_dir).network.encoder
    assert encoder.members == 3 and not (tmp_path / "run" / "members").exists()  # nothing trained again
    for body, net in zip(encoder.others, given, strict=True):
        for p, q in zip(body.parameters(), net.encoder.body.parameters(), strict=True):
            torch.testing.assert_close(p, q)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"encoder": "pixels", "encoder_kwargs": {}, "backbone": "frozen"}}, "needs model.encoder: convnet"),
        ({"model": {"encoder_kwargs": {"size": 8, "members": 2}}}, "remove model.encoder_kwargs.members"),
        ({"data": {"train_classes": "carve", "val": {"fraction": 0.3}}}, "data.train_classes: all"),
        ({"trainer": {"devices": 2, "strategy": "ddp"}}, "trainer.devices: 1"),
    ],
)
def test_bad_ensemble_configs_name_the_fix(tmp_path: Path, change: dict, message: str) -> None:
    raw = _cfg(tmp_path, ensemble={"folds": 2}).model_dump(exclude_defaults=True)
    for section, values in change.items():
        raw[section] = {**raw[section], **values}
    with pytest.raises(ValidationError, match=message):
        TrainConfig.model_validate(raw)


def test_excluded_classes_leave_training_and_unknown_ones_are_named(tmp_path: Path) -> None:
    from lookalike.training.builder import build_splits

    raw = _cfg(tmp_path).model_dump()
    raw["data"]["exclude_classes"] = ["0", "5"]
    train_set = build_splits(TrainConfig.model_validate(raw)).train
    assert train_set.class_names == ["1", "2", "3", "4", "6"] and set(np.unique(train_set.labels)) == set(range(5))
    raw["data"]["exclude_classes"] = ["7"]  # a held-out digit, not a training class
    with pytest.raises(ConfigError, match=r"not training classes"):
        build_splits(TrainConfig.model_validate(raw))


def test_an_ensemble_exports_to_onnx(tmp_path: Path) -> None:
    from lookalike.models.export import load_model
    from lookalike.models.onnx import OnnxEmbedder, export_onnx

    torch.manual_seed(0)
    model = load_model("convnet", size=16, width=8, depth=3, shifts=1, members=3)
    report = export_onnx(model, tmp_path / "m.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    images = (np.random.default_rng(0).random((3, 20, 20)) * 255).astype(np.uint8)
    np.testing.assert_allclose(OnnxEmbedder(tmp_path / "m.onnx").embed(list(images)), model.embed(list(images)),
                               atol=1e-4)  # fmt: skip


def test_a_stopped_ensemble_run_resumes_without_retraining_finished_members(tmp_path: Path) -> None:
    from lookalike.models.export import load_model
    from lookalike.training import train

    cfg = _cfg(tmp_path, ensemble={"folds": 2})
    first = load_model(train(cfg, resume=False).model_dir).network.encoder
    result = train(cfg, resume=True)  # e.g. after a crash while the last member exported
    assert result.resumed_from is not None
    for f in (1, 2):  # every member came back from its own last checkpoint
        run = json.loads((tmp_path / "run" / "members" / str(f) / "result.json").read_text())
        assert run["resumed_from"] is not None and run["epochs_run"] == 1
    again = load_model(result.model_dir).network.encoder
    for p, q in zip(first.parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(p, q)
