"""`lookalike train` end to end on a tiny config, then load_model + embed + ONNX on its output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import ConfigError
from lookalike.models import load_model
from lookalike.training import load_train_config

LOOKALIKE = [sys.executable, "-m", "lookalike"]


def test_train_writes_a_loadable_model_folder(tiny_config: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [*LOOKALIKE, "train", str(tiny_config), "--set", "trainer.max_epochs=1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "best validation MAP@R" in proc.stdout
    run = tmp_path / "run"
    model = load_model(run / "model")
    assert model.kind == "image" and model.embedding_size == 16
    assert model.card.label_names == ["0", "1", "2", "3", "4"]  # val classes 5, 6 carved out of training
    score = json.loads((run / "result.json").read_text())["best_val_map_at_r"]
    assert 0 < score <= 1
    emb = model.embed([np.zeros((8, 8), np.uint8), np.full((8, 8), 200, np.uint8)])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert (run / "logs" / "metrics.csv").is_file() and any((run / "tb").iterdir())
    # embed CLI on the held-out split, and the ONNX export matches torch within 1e-4
    out = tmp_path / "e.npy"
    proc = subprocess.run(
        [*LOOKALIKE, "embed", str(run / "model"), "--data", "digits:test", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.load(out).shape[1] == 16
    from lookalike.models.onnx import OnnxEmbedder, export_onnx

    report = export_onnx(model, tmp_path / "m.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    items = [np.random.default_rng(i).integers(0, 255, (20, 30, 3), dtype=np.uint8) for i in range(3)]
    assert np.abs(OnnxEmbedder(tmp_path / "m.onnx").embed(items) - model.embed(items)).max() < 1e-4


def test_config_errors_name_the_key(tmp_path: Path, make_tiny_config) -> None:
    path = make_tiny_config(tmp_path)
    with pytest.raises(ConfigError, match=r"optim.lr_hed: unknown key .*did you mean 'lr_head'"):
        load_train_config(path, ["optim.lr_hed=0.1"])
    with pytest.raises(ConfigError, match=r"multiple of data\.m_per_class"):
        load_train_config(path, ["data.batch_size=21"])
    proc = subprocess.run(
        [*LOOKALIKE, "train", str(path), "--set", "loss.name=arcface", "--set", "model.distance=dot"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "does not fit the 'dot' distance" in proc.stderr


def test_resuming_under_another_config_is_refused_more_epochs_are_not(tmp_path: Path, make_tiny_config) -> None:
    """A finished run's checkpoint is not silently continued (or re-exported) under a config that trains
    something else; extending the same run by epochs still resumes."""
    from lookalike.training import train
    from lookalike.training.train import check_resumable

    first = train(load_train_config(str(make_tiny_config(tmp_path))))
    assert first.resumed_from is None and (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    written = json.loads((tmp_path / "run" / "config.json").read_text())
    del written["data"]["on_bad"]  # as written before that setting existed: a newer schema is not a change
    (tmp_path / "run" / "config.json").write_text(json.dumps(written))
    check_resumable(load_train_config(str(make_tiny_config(tmp_path))), tmp_path / "run")
    changed = make_tiny_config(tmp_path, "other.yaml", **{"loss.name": "triplet_margin", "loss.miner": "semi_hard"})
    with pytest.raises(ConfigError, match=r"another config \(loss\.miner: .*loss\.name: 'multi_similarity' -> "):
        train(load_train_config(str(changed)))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"]["name"] == "multi_similarity"
    fresh = train(load_train_config(str(changed)), resume=False)  # --fresh starts over
    assert fresh.resumed_from is None
    longer = make_tiny_config(tmp_path, "longer.yaml", **{"loss.name": "triplet_margin", "loss.miner": "semi_hard",
                                                           "trainer.max_epochs": 2})  # fmt: skip
    resumed = train(load_train_config(str(longer)))
    assert resumed.resumed_from is not None and resumed.epochs_run == 2
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"  # cut short (a full disk): was a RuntimeError from torch
    last.write_bytes(last.read_bytes()[:2000])
    with pytest.raises(ConfigError, match=r"last\.ckpt is damaged .*Start over with --fresh"):
        train(load_train_config(str(longer)))
