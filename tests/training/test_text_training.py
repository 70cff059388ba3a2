"""Fine-tuning an ``hf:`` text encoder: a tiny run lowers the loss and raises validation MAP@R; freezing,
precision 'auto', and the exported folder reloads for embedding."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from _text_data import write_text_protocol
from lookalike.data.protocols import load_protocol
from lookalike.models import load_model
from lookalike.training import load_train_config, train
from lookalike.training.builder import build_network
from lookalike.training.metrics import map_at_r
from lookalike.training.train import resolve_precision


def write_text_config(root: Path, model_folder: Path, **changes: object) -> Path:
    cfg: dict = {
        "name": "tinytext",
        "seed": 0,
        "data": {"protocol": str(write_text_protocol(root)), "batch_size": 20, "m_per_class": 4},
        "model": {
            "encoder": f"hf:{model_folder}",
            "encoder_kwargs": {"max_length": 16},
            "head": {"type": "none"},
            "backbone": "finetune",
        },
        "loss": {"name": "supcon", "params": {"temperature": 0.1}},
        "optim": {"lr_backbone": 1e-3, "warmup_epochs": 0},
        "trainer": {"max_epochs": 4, "progress_bar": False, "threads": 1, "precision": "auto"},
        "output_dir": str(root / "run"),
    }
    for key, value in changes.items():
        node = cfg
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    out = root / "text.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def test_tiny_text_run_lowers_loss_and_raises_validation_map(tmp_path: Path, tiny_text_model: Path) -> None:
    cfg = load_train_config(write_text_config(tmp_path, tiny_text_model))
    val = load_protocol(cfg.data.protocol).dataset("val")
    untrained = load_model(f"hf:{tiny_text_model}", max_length=16)
    before = map_at_r(untrained.embed_dataset(val), val.labels, untrained.distance)

    result = train(cfg, resume=False)

    rows = list(csv.DictReader((result.output_dir / "logs" / "metrics.csv").open()))
    losses = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.3
    assert result.best_val_map_at_r is not None and result.best_val_map_at_r > before + 0.02
    # the exported folder reloads (tokenizer and config saved in it) and embeds like the validation did
    model = load_model(result.model_dir)
    assert model.kind == "text" and model.card.extra["best_epoch"] == result.best_epoch
    assert map_at_r(model.embed_dataset(val), val.labels, model.distance) == pytest.approx(
        result.best_val_map_at_r, abs=1e-4
    )


def test_trainable_blocks_freezes_lower_transformer_layers(tmp_path: Path, tiny_text_model: Path) -> None:
    cfg = load_train_config(write_text_config(tmp_path, tiny_text_model, **{"model.trainable_blocks": 1}))
    net = build_network(cfg)
    bert = net.encoder.model  # type: ignore[union-attr]
    assert not any(p.requires_grad for p in bert.embeddings.parameters())
    assert not any(p.requires_grad for p in bert.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in bert.encoder.layer[1].parameters())


def test_trainable_blocks_beyond_the_layer_count_is_refused(tmp_path: Path, tiny_text_model: Path) -> None:
    from lookalike.errors import ConfigError

    cfg = load_train_config(write_text_config(tmp_path, tiny_text_model, **{"model.trainable_blocks": 5}))
    with pytest.raises(ConfigError, match="has only 2 layers"):
        build_network(cfg)


def test_precision_auto_is_fp32_without_a_bf16_gpu() -> None:
    import torch

    expected = "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32"
    assert resolve_precision("auto") == expected
    assert resolve_precision("auto", "cpu") == "32"
    assert resolve_precision("16-mixed") == "16-mixed"


def test_offline_package_name_is_an_hf_spec() -> None:
    model = load_model("hf:all-minilm-l6-v2", max_length=32)
    assert model.card.encoder == "hf:all-minilm-l6-v2" and model.embedding_size == 384
    out = model.embed(["hello there", "what is the weather like tomorrow in paris"])
    assert out.shape == (2, 384) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
