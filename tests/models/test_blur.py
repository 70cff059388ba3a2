"""``blur``: a Gaussian blur of the resized input, the same in evaluation, training and a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from lookalike.errors import ConfigError
from lookalike.models.encoders import build_encoder
from lookalike.models.export import load_model, save_model
from lookalike.models.preprocess import image_transform
from lookalike.training.config import AugmentConfig
from lookalike.training.datasets import train_image_transform


def _blocks() -> Image.Image:
    """An 8 x 8 checkerboard drawn as 4 px blocks: the block edges are what the blur removes."""
    board = (np.indices((8, 8)).sum(0) % 2 * 255).astype(np.uint8)
    return Image.fromarray(board.repeat(4, 0).repeat(4, 1)).convert("RGB")


def _roughness(x: torch.Tensor) -> float:
    return float((x[..., 1:] - x[..., :-1]).abs().mean())


def test_blur_smooths_the_input_and_is_off_by_default() -> None:
    plain = build_encoder("timm:tf_efficientnet_lite0", pretrained=False, input_size=32, resize="squash")
    blurred = build_encoder("timm:tf_efficientnet_lite0", pretrained=False, input_size=32, resize="squash", blur=2)
    assert "blur" not in plain.preprocessing() and "blur" not in plain.config()
    assert blurred.preprocessing()["blur"] == 2.0 and blurred.config()["blur"] == 2.0
    a, b = image_transform(plain.preprocessing())(_blocks()), image_transform(blurred.preprocessing())(_blocks())
    assert a.shape == b.shape == (3, 32, 32)
    assert _roughness(b) < 0.5 * _roughness(a)
    # training sees the same blur (no augmentation configured: the very same tensor)
    t = train_image_transform(blurred.preprocessing(), AugmentConfig())(_blocks())
    torch.testing.assert_close(t, b, atol=2e-2, rtol=0)


@pytest.mark.parametrize("bad", [-1, 17])
def test_blur_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError, match="blur"):
        build_encoder("timm:tf_efficientnet_lite0", pretrained=False, input_size=32, blur=bad)


@pytest.mark.parametrize("form", ["folder", "onnx"])
def test_a_saved_or_exported_model_blurs_like_the_original(tmp_path: Path, form: str) -> None:
    from lookalike.models.onnx import OnnxEmbedder, export_onnx

    torch.manual_seed(0)
    model = load_model("timm:tf_efficientnet_lite0", pretrained=False, input_size=32, resize="squash", blur=1.5)
    if form == "folder":
        save_model(model, tmp_path / "m")
        again: Any = load_model(tmp_path / "m")
    else:
        export_onnx(model, tmp_path / "m.onnx")
        again = OnnxEmbedder(tmp_path / "m.onnx")
    assert again.card.preprocessing["blur"] == 1.5
    np.testing.assert_allclose(again.embed([_blocks()]), model.embed([_blocks()]), atol=1e-4)
