"""A tiny training config on scikit-learn digits (no download) with timm's test_efficientnet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def write_tiny_config(folder: Path, **changes: object) -> Path:
    cfg = {
        "name": "tiny",
        "seed": 0,
        "data": {
            "protocol": str(REPO / "configs" / "protocols" / "digits.yaml"),
            "batch_size": 20,
            "m_per_class": 4,
            "cache_dir": str(folder / "cache"),
        },
        "model": {
            "encoder": "timm:test_efficientnet",
            "encoder_kwargs": {"pretrained": False, "input_size": 32},
            "head": {"type": "linear", "embedding_size": 16},
            "backbone": "frozen",
        },
        "loss": {"name": "multi_similarity", "miner": "multi_similarity"},
        "trainer": {"max_epochs": 1, "progress_bar": False, "threads": 1},
        "output_dir": str(folder / "run"),
    }
    for key, value in changes.items():
        node = cfg
        *path, last = key.split(".")
        for p in path:
            node = node[p]  # type: ignore[assignment]
        node[last] = value  # type: ignore[index]
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    return write_tiny_config(tmp_path)


@pytest.fixture
def make_tiny_config():  # type: ignore[no-untyped-def]
    """The :func:`write_tiny_config` function (tests call it with dotted-key changes)."""
    return write_tiny_config
