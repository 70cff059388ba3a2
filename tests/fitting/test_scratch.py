"""The small CNN trained from scratch (``convnet``, ``backbone: scratch``) in ``fit``, and the search's cache of
tried candidates."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_fit import _digit_folders  # type: ignore[import-not-found]

from lookalike.fitting import fit
from lookalike.fitting.space import SearchSpace, load_space
from lookalike.models.distances import get_distance
from lookalike.models.encoders import build_encoder

SCRATCH_SPACE = """
modality: small_images
folds: 2
val_fraction: 0.25
families:
  - name: pixels
    encoder: pixels
    options: [{size: 8}]
  - name: convnet
    encoder: convnet
    backbone: scratch
    options: [{size: 8, width: 8, depth: 2}]
    scratch:
      lr: [0.003, 0.003]
      epochs: [2]
      augment: {shift: {translate: 0.1, fill: border}}
      rotation_classes: [false]
      classes_per_batch: 4
heads:
  - {name: whiten, head: {type: linear, init: whiten}, shrink: [0.5, 0.5]}
distances: [cosine]
training:
  losses: [{name: multi_similarity, miner: multi_similarity}]
  m_per_class: 4
  classes_per_batch: 4
"""

CATEGORICAL_SPACE = """
modality: small_images
folds: 2
families:
  - name: pixels
    encoder: pixels
    options: [{size: 8}, {size: 6}]
heads:
  - {name: none, head: {type: none}}
distances: [cosine, euclidean]
training:
  losses: [{name: multi_similarity, miner: multi_similarity}]
"""


def _space(text: str, tmp_path: Path) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_convnet_encoder_embeds_and_rebuilds_from_its_config() -> None:
    enc = build_encoder("convnet", size=16, width=8, depth=3)
    out = enc(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, enc.feature_dim) == (2, 8)
    again = build_encoder("convnet", **enc.config())
    again.load_state_dict(enc.state_dict())
    assert torch.equal(again.eval()(torch.ones(1, 3, 16, 16)), enc.eval()(torch.ones(1, 3, 16, 16)))


def test_convnet_rejects_a_depth_that_leaves_no_pixels() -> None:
    from lookalike.errors import ConfigError

    with pytest.raises(ConfigError, match="depth"):
        build_encoder("convnet", size=8, depth=4)


def _toy_images(n_classes: int = 4, per_class: int = 8, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Each class a bright bar at its own position, with noise: (n, 3, size, size) normalised, labels."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, size=(n_classes * per_class, 3, size, size)).astype(np.float32) - 1
    y = np.repeat(np.arange(n_classes), per_class)
    for i, c in enumerate(y):
        x[i, :, :, 2 * c : 2 * c + 2] += 2
    return x, y


def test_scratch_training_lowers_the_loss(tmp_path: Path) -> None:
    from lookalike.fitting.scratch import train_scratch
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate
    from lookalike.models.heads import Head
    from lookalike.models.network import EmbeddingNet
    from lookalike.training.losses import build_loss

    space = load_space(_space(SCRATCH_SPACE, tmp_path))
    fam, option = space.family("convnet/0")
    x, y = _toy_images()
    cand = Candidate(feature="convnet/0", head=SCRATCH_HEAD, distance="cosine", loss=space.training.losses[0],
                     lr_head=0.01, epochs=30, augment="shift")  # fmt: skip
    dist = get_distance("cosine")
    loss = build_loss("multi_similarity", distance=dist, num_classes=4, embedding_size=8)

    def loss_of(net: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(loss(net.eval()(torch.from_numpy(x)), torch.from_numpy(y)))

    torch.manual_seed(0)  # the same initial weights train_scratch starts from (it seeds, then builds)
    enc = build_encoder(fam.encoder, **fam.kwargs(option))
    before = loss_of(EmbeddingNet(encoder=enc, head=Head(in_dim=8, type="none"), distance=dist))
    trained = train_scratch(cand, fam, option, x, y, space.training, dist, batch_size=16, seed=0)
    after = loss_of(trained)
    assert after < 0.7 * before, (before, after)


def test_rotation_classes_make_four_classes_of_each() -> None:
    from lookalike.fitting.scratch import rotation_classes

    x, y = _toy_images(n_classes=3, per_class=2)
    xr, yr = rotation_classes(x, y)
    assert xr.shape == (4 * len(x), *x.shape[1:])
    assert sorted(set(yr.tolist())) == list(range(12))
    assert np.array_equal(xr[len(x)], np.rot90(x[0], axes=(1, 2)))


def test_border_fill_keeps_the_background() -> None:
    from lookalike.training.datasets import RandomAffineFill

    img = torch.full((3, 16, 16), -1.0)
    img[:, 6:10, 6:10] = 1.0
    torch.manual_seed(0)
    out = RandomAffineFill(degrees=30, translate=0.2, scale=0.0, fill="border")(img)
    assert torch.allclose(out[:, 0, 0], torch.full((3,), -1.0))  # a corner uncovered by the move: background
    gray = RandomAffineFill(degrees=45, translate=0.0, scale=0.0, fill="gray")(img)
    assert float(gray[0, 0, 0]) == pytest.approx(0.0, abs=1e-6)


def test_fit_searches_trains_and_exports_the_scratch_family(tmp_path: Path) -> None:
    from lookalike.models.export import load_model

    data = _digit_folders(tmp_path / "digits", per_class=12)
    result = fit(data, tmp_path / "out", budget=5, seed=0, space=_space(SCRATCH_SPACE, tmp_path), max_trials=2,
                 cache_dir=str(tmp_path / "cache"), progress=False)  # fmt: skip
    rows = list(csv.DictReader((result.out_dir / "search.csv").open()))
    scratch = [r for r in rows if r["feature"] == "convnet/0"]
    assert len(scratch) == 1 and scratch[0]["state"] == "complete", rows
    # the recipe of a scratch candidate trains the network end to end, and `lookalike train` accepts it
    SearchSpace.model_validate(yaml.safe_load(SCRATCH_SPACE))
    fam, option = load_space(_space(SCRATCH_SPACE, tmp_path)).family("convnet/0")
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate
    from lookalike.training.config import TrainConfig

    cand = Candidate(feature="convnet/0", head=SCRATCH_HEAD, distance="cosine", lr_head=0.003, epochs=2,
                     augment="shift", loss=load_space(_space(SCRATCH_SPACE, tmp_path)).training.losses[0])  # fmt: skip
    cfg = TrainConfig.model_validate(cand.train_config(
        load_space(_space(SCRATCH_SPACE, tmp_path)), protocol=str(result.protocol_path), output_dir=str(tmp_path),
        seed=0, batch_size=16, cache_dir=str(tmp_path), n_classes=3,
    ))  # fmt: skip
    assert cfg.model.backbone == "finetune" and not cfg.model.freeze_bn and cfg.data.batch_size == 12
    assert cfg.model.encoder == "convnet" and cfg.model.encoder_kwargs.kwargs() == {
        "grayscale": True,
        **fam.kwargs(option),
    }
    model = load_model(result.model_dir)  # whichever won, the exported folder loads and embeds
    assert model.embed([np.zeros((8, 8), dtype=np.uint8)]).shape[0] == 1


def test_repeated_proposals_are_answered_from_the_cache(tmp_path: Path) -> None:
    data = _digit_folders(tmp_path / "digits", per_class=10)
    result = fit(data, tmp_path / "out", budget=5, seed=0, space=_space(CATEGORICAL_SPACE, tmp_path),
                 max_trials=12, cache_dir=str(tmp_path / "cache"), progress=False)  # fmt: skip
    rows = list(csv.DictReader((result.out_dir / "search.csv").open()))
    keys = [(r["feature"], r["distance"]) for r in rows]
    assert len(keys) == len(set(keys)) == result.trials <= 4  # 2 options x 2 distances, each run once


def test_grayscale_images_count_as_gray_and_colour_ones_do_not() -> None:
    from PIL import Image

    from lookalike.fitting.fit import _is_gray

    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, size=(100, 100), dtype=np.uint8)
    assert _is_gray(Image.fromarray(gray))  # mode L (an Omniglot character, a scan)
    assert _is_gray(Image.fromarray(gray).convert("RGB"))  # the same, stored as RGB
    colour = rng.integers(0, 255, size=(100, 100, 3), dtype=np.uint8)
    assert not _is_gray(Image.fromarray(colour))


def test_a_scratch_recipe_with_rotation_classes_trains_and_exports(tmp_path: Path) -> None:
    from lookalike.models.export import load_model
    from lookalike.training import train
    from lookalike.training.config import TrainConfig

    cfg = TrainConfig.model_validate({
        "name": "scratch", "seed": 0,
        "data": {"protocol": "protocol:digits", "train_classes": "all",
                 "batch_size": 16, "m_per_class": 4, "rotation_classes": True,
                 "augment": {"rotation": 10, "translate": 0.1, "fill": "border"}},
        "model": {"encoder": "convnet", "encoder_kwargs": {"size": 8, "width": 8, "depth": 2}, "head": {"type": "none"},
                  "backbone": "finetune", "freeze_bn": False},
        "loss": {"name": "proxy_anchor"},  # a proxy loss: it must get one proxy per rotated class (7 x 4)
        "optim": {"lr_backbone": 0.003, "lr_head": 0.003},
        "trainer": {"max_epochs": 1, "limit_train_batches": 3, "progress_bar": False},
        "output_dir": str(tmp_path / "run"),
    })  # fmt: skip
    result = train(cfg, resume=False)
    assert result.model_dir is not None
    model = load_model(result.model_dir)
    assert model.embed([np.zeros((8, 8), dtype=np.uint8)]).shape == (1, 8)


def test_rotation_classes_need_fine_tuning() -> None:
    from pydantic import ValidationError

    from lookalike.training.config import TrainConfig

    with pytest.raises(ValidationError, match="rotation_classes"):
        TrainConfig.model_validate({"data": {"protocol": "protocol:digits", "rotation_classes": True},
                                    "model": {"encoder": "pixels"}})  # fmt: skip


def test_scratch_pace_scales_a_measured_fold_to_other_settings() -> None:
    from lookalike.fitting.search import ScratchPace
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate

    def cand(epochs: int, rotations: bool) -> Candidate:
        return Candidate(feature="convnet/0", head=SCRATCH_HEAD, distance="cosine", epochs=epochs,
                         rotation_classes=rotations)  # fmt: skip

    pace = ScratchPace()
    assert pace.fold_seconds(cand(10, True), 100) == 0.0  # not measured yet: its first trial runs
    pace.record(cand(5, False), 100, 10.0)
    assert pace.fold_seconds(cand(10, True), 100) == pytest.approx(80.0)  # 2x the epochs, 4x the items
    assert pace.fold_seconds(cand(5, False), 50) == pytest.approx(5.0)
    pace.probe("convnet/0", lambda: 99.0)  # measured already: the fold's own pace wins
    assert pace.fold_seconds(cand(5, False), 50) == pytest.approx(5.0)
    other = Candidate(feature="convnet/1", head=SCRATCH_HEAD, distance="cosine", epochs=2)
    pace.probe("convnet/1", lambda: None)  # could not be probed (texts): its first trial runs
    assert pace.fold_seconds(other, 100) == 0.0
    pace.probe("convnet/1", lambda: 0.01)
    assert pace.fold_seconds(other, 100) == pytest.approx(2.0)


def test_the_probe_measures_images_and_leaves_texts_unmeasured(tmp_path: Path) -> None:
    from lookalike.fitting.scratch import probe_item_seconds

    fam, option = load_space(_space(SCRATCH_SPACE, tmp_path)).family("convnet/0")
    x, _ = _toy_images()
    rate = probe_item_seconds(fam, option, x)
    assert rate is not None and 0 < rate < 1  # seconds per item: a positive, finite measurement
    assert probe_item_seconds(fam, option, np.array(["a text"], dtype=object)) is None


def test_a_scratch_trial_whose_folds_cannot_fit_the_budget_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lookalike.fitting.scratch as scratch

    monkeypatch.setattr(scratch, "probe_item_seconds", lambda *a, **k: 10.0)  # 10 s an item: hours per fold
    data = _digit_folders(tmp_path / "digits", per_class=12)
    result = fit(data, tmp_path / "out", budget=5, seed=0, space=_space(SCRATCH_SPACE, tmp_path), max_trials=2,
                 cache_dir=str(tmp_path / "cache"), progress=False)  # fmt: skip
    rows = list(csv.DictReader((result.out_dir / "search.csv").open()))
    assert [r["state"] for r in rows if r["feature"] == "convnet/0"] == ["skipped"], rows


def test_first_trial_settings_replace_the_middle_of_the_ranges(tmp_path: Path) -> None:
    text = SCRATCH_SPACE.replace("lr: [0.003, 0.003]", "lr: [0.001, 0.01]").replace("epochs: [2]", "epochs: [2, 4, 8]")
    text = text.replace("distances: [cosine]", "distances: [cosine, euclidean]")
    middle = load_space(_space(text, tmp_path)).first_scratch_params()[0]
    assert (middle["distance"], middle["lr_net"], middle["net_epochs"]) == ("cosine", 0.00316, 4)
    first = "      first_trial: {distance: euclidean, lr_net: 0.002, net_epochs: 8}\n"
    chosen = load_space(_space(text.replace("      classes_per_batch: 4\n", "      classes_per_batch: 4\n" + first, 1),
                               tmp_path)).first_scratch_params()[0]  # fmt: skip
    assert (chosen["distance"], chosen["lr_net"], chosen["net_epochs"]) == ("euclidean", 0.002, 8)
    assert chosen["loss"] == middle["loss"] and chosen["augment"] == "shift"


@pytest.mark.parametrize(
    ("first", "message"),
    [
        ("{net_epochs: 3}", "first_trial net_epochs 3 is not one of [2]"),
        ("{loss: triplet_margin+semi_hard}", "is not one of ['multi_similarity+multi_similarity']"),
        ("{lr_net: 0.5}", "first_trial lr_net 0.5 is outside lr"),
        ("{width: 64}", "first_trial has no setting 'width'"),
    ],
)
def test_first_trial_settings_outside_the_space_are_refused(tmp_path: Path, first: str, message: str) -> None:
    from lookalike.errors import ConfigError

    anchor = "      classes_per_batch: 4\n"
    text = SCRATCH_SPACE.replace(anchor, f"{anchor}      first_trial: {first}\n", 1)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_space(_space(text, tmp_path))


def test_test_time_shifts_average_the_translated_views_only_in_eval_mode() -> None:
    from lookalike.models.convnet import _translations

    torch.manual_seed(0)
    enc = build_encoder("convnet", size=16, width=8, depth=3, shifts=1)
    plain = build_encoder("convnet", size=16, width=8, depth=3)
    plain.load_state_dict(enc.state_dict())
    x = torch.randn(2, 1, 16, 16)
    views = _translations(x, 1)
    assert views.shape == (18, 1, 16, 16)
    assert torch.equal(views[4 * 2 : 5 * 2], x)  # the middle view is the image itself
    assert torch.equal(views[5 * 2 : 6 * 2, :, :, :-1], x[:, :, :, 1:])  # moved one pixel left, last column repeated
    enc.eval(), plain.eval()
    expected = torch.stack([plain(views[i * 2 : (i + 1) * 2]) for i in range(9)]).mean(0)
    torch.testing.assert_close(enc(x), expected)
    assert not torch.allclose(enc(x), plain(x))
    enc.train(), plain.train()  # training sees one view per image
    torch.testing.assert_close(enc(x), plain(x))
    again = build_encoder("convnet", **enc.config())
    assert again.config()["shifts"] == 1 and "shifts" not in plain.config()


def test_test_time_shifts_must_leave_most_of_the_image() -> None:
    from lookalike.errors import ConfigError

    with pytest.raises(ConfigError, match="shifts"):
        build_encoder("convnet", size=16, depth=2, shifts=4)


def test_scratch_networks_train_channels_last_and_come_back_contiguous(tmp_path: Path) -> None:
    from lookalike.fitting.scratch import train_scratch
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate

    space = load_space(_space(SCRATCH_SPACE, tmp_path))
    fam, option = space.family("convnet/0")
    assert fam.scratch is not None and fam.scratch.channels_last
    x, y = _toy_images()
    cand = Candidate(feature="convnet/0", head=SCRATCH_HEAD, distance="cosine", loss=space.training.losses[0],
                     lr_head=0.003, epochs=1, augment="shift")  # fmt: skip
    net = train_scratch(cand, fam, option, x, y, space.training, get_distance("cosine"), batch_size=16, seed=0)
    assert all(p.is_contiguous() for p in net.parameters())
    cfg = cand.train_config(space, protocol="p.yaml", output_dir=str(tmp_path), seed=0, batch_size=16,
                            cache_dir=str(tmp_path), n_classes=4)  # fmt: skip
    assert cfg["trainer"]["channels_last"] is True


def test_a_convnet_with_test_time_shifts_exports_to_onnx(tmp_path: Path) -> None:
    from lookalike.models.export import load_model
    from lookalike.models.onnx import OnnxEmbedder, export_onnx

    torch.manual_seed(0)
    model = load_model("convnet", size=16, width=8, depth=3, shifts=2)
    report = export_onnx(model, tmp_path / "m.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    images = (np.random.default_rng(0).random((3, 20, 20)) * 255).astype(np.uint8)
    np.testing.assert_allclose(OnnxEmbedder(tmp_path / "m.onnx").embed(list(images)), model.embed(list(images)),
                               atol=1e-4)  # fmt: skip


def _ensemble_space() -> str:
    """SCRATCH_SPACE's Conv-4 alone, exported as an ensemble of its fold networks."""
    raw = yaml.safe_load(SCRATCH_SPACE)
    raw["families"] = [f for f in raw["families"] if f["name"] == "convnet"]
    raw["families"][0]["scratch"].update(epochs=[1], ensemble=True)
    return yaml.safe_dump(raw)


def test_fit_exports_the_chosen_trials_fold_networks_as_members(tmp_path: Path) -> None:
    from lookalike.data.protocols import load_protocol
    from lookalike.data.splits import class_folds
    from lookalike.fitting import fit
    from lookalike.models.export import load_model
    from lookalike.training.config import TrainConfig
    from lookalike.training.train import member_configs

    space = tmp_path / "space.yaml"
    space.write_text(_ensemble_space(), encoding="utf-8")
    data = _digit_folders(tmp_path / "digits", per_class=12)
    result = fit(data, tmp_path / "out", budget=5, seed=0, space=space, max_trials=1, cache_dir=str(tmp_path / "c"),
                 progress=False)  # fmt: skip
    assert load_model(result.model_dir).network.encoder.members == 3
    # each fold network scored the classes its fold left out: the pair scores calibration uses
    from lookalike.fitting.calibration import read_unseen_pairs

    pairs = read_unseen_pairs(result.out_dir)
    assert pairs.folds == 2 and len(pairs.genuine) and len(pairs.impostor)
    text = result.recipe_path.read_text()
    assert "the 2 fold\n# networks the search trained" in text
    assert "ensemble of 3 networks" in (result.out_dir / "report.html").read_text()
    recipe = yaml.safe_load(text)
    assert recipe["trainer"]["ensemble"] == {"folds": 2, "fraction": 0.25}
    # `lookalike train recipe.yaml` carves its members out of the same classes fit's folds left out
    train_set = load_protocol(result.protocol_path).with_val(None).dataset("train")
    folds = class_folds(train_set.labels, folds=2, fraction=0.25, seed=0)
    cfg = TrainConfig.model_validate(recipe)
    for (_, held), member in zip(folds, member_configs(cfg, train_set), strict=True):
        assert set(member.data.exclude_classes) == {train_set.class_names[c] for c in np.unique(train_set.labels[held])}


def test_scratch_ensembles_are_for_convnets_only() -> None:
    from pydantic import ValidationError

    from lookalike.fitting.space import Family

    with pytest.raises(ValidationError, match=r"scratch\.ensemble joins convnet"):
        Family.model_validate({"name": "t", "encoder": "timm:resnet18", "backbone": "finetune",
                               "scratch": {"ensemble": True}})  # fmt: skip


def test_the_final_reserve_pays_for_embedding_the_held_out_items_with_every_member(tmp_path: Path) -> None:
    from lookalike.fitting.fit import FINAL_OVERHEAD_S, _Costs
    from lookalike.fitting.search import Trial
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate

    space = load_space(_space(_ensemble_space(), tmp_path))
    costs = _Costs(space, bank=None, n_final=1000)  # type: ignore[arg-type]
    costs.per_item["convnet"] = 0.0  # measured: preparing the images costs nothing here
    cand = Candidate(feature="convnet/0", head=SCRATCH_HEAD, distance="cosine", epochs=1)
    single = Trial(number=0, candidate=cand, params={}, state="complete", fold_scores=[0.5, 0.6], seconds=20.0)
    joined = Trial(number=1, candidate=cand, params={}, state="complete", fold_scores=[0.5, 0.6], seconds=20.0,
                   nets=[object(), object()], embed_seconds_per_item=0.01)  # fmt: skip
    assert costs.final(joined) - costs.final(single) == pytest.approx(2 * 0.01 * 1000)
    assert costs.final(single) == pytest.approx(2 * 10.0 + FINAL_OVERHEAD_S)  # twice a fold's time + the overhead
    # calibration.npz: each kept fold network embeds its carve-out's validation items once more
    costs.n_val = 300
    assert costs.final(joined) - costs.final(single) == pytest.approx(2 * 0.01 * 1000 + 2 * 0.01 * 300)
