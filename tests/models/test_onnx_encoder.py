"""``onnx:PATH``: a tiny torch module exported in the test, run through the encoder with declared preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from _extras import require_extra
from lookalike.errors import ConfigError, DataError, ModelMismatchError
from lookalike.models import build_encoder, load_model, save_model

require_extra("onnxruntime", "onnx")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2)
        self.fc = nn.Linear(6 * 15 * 15, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> tuple[Path, nn.Module]:
    torch.manual_seed(0)
    module = Tiny().eval()
    path = tmp_path / "tiny.onnx"
    torch.onnx.export(
        module,
        (torch.zeros(1, 3, 32, 32),),
        str(path),
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return path, module


def test_wrong_declared_size_names_the_expected_shape(tiny_onnx: tuple[Path, nn.Module]) -> None:
    path, _ = tiny_onnx
    with pytest.raises(ConfigError, match=r"expects input of shape \(N, 3, 32, 32\) but input_size=48"):
        build_encoder(f"onnx:{path}", input_size=48)


def test_wrong_input_tensor_names_the_expected_shape(tiny_onnx: tuple[Path, nn.Module]) -> None:
    path, _ = tiny_onnx
    enc = build_encoder(f"onnx:{path}", input_size=32)
    assert enc.feature_dim == 8
    with pytest.raises(DataError, match=r"expects input of shape \(N, 3, 32, 32\); got \(2, 3, 40, 40\)"):
        enc(torch.zeros(2, 3, 40, 40))


def test_embeds_with_declared_preprocessing_like_the_module(tiny_onnx: tuple[Path, nn.Module]) -> None:
    path, module = tiny_onnx
    mean, std = [0.2, 0.4, 0.6], [0.5, 0.25, 0.5]
    model = load_model(f"onnx:{path}", input_size=32, mean=mean, std=std, channel_order="bgr")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    x = torch.stack([torch.from_numpy(im).permute(2, 0, 1).float() / 255 for im in images])
    x = ((x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]).flip(1)  # BGR last
    with torch.no_grad():
        ref = torch.nn.functional.normalize(module(x), dim=1).numpy()
    np.testing.assert_allclose(model.embed(images), ref, atol=1e-4)


def test_model_folder_refuses_a_changed_file(tiny_onnx: tuple[Path, nn.Module], tmp_path: Path) -> None:
    path, _ = tiny_onnx
    model = load_model(f"onnx:{path}", input_size=32)
    save_model(model, tmp_path / "m")
    items = [np.full((32, 32, 3), 100, np.uint8)]
    np.testing.assert_allclose(load_model(tmp_path / "m").embed(items), model.embed(items), atol=1e-6)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelMismatchError, match="changed since this model was exported"):
        load_model(tmp_path / "m")


def test_missing_file_and_bad_option_are_clear(tmp_path: Path, tiny_onnx: tuple[Path, nn.Module]) -> None:
    from lookalike.errors import NotFoundError

    with pytest.raises(NotFoundError, match="does not exist"):
        build_encoder(f"onnx:{tmp_path / 'nope.onnx'}")
    with pytest.raises(ConfigError, match="channel_order"):
        build_encoder(f"onnx:{tiny_onnx[0]}", input_size=32, channel_order="gbr")


def test_an_onnx_encoder_is_not_exported_again(tiny_onnx: tuple[Path, nn.Module], tmp_path: Path) -> None:
    """Its forward runs onnxruntime on numpy: traced, it would give a graph with no input and one fixed output."""
    from lookalike.models.onnx import export_onnx

    model = load_model(f"onnx:{tiny_onnx[0]}", input_size=32)
    with pytest.raises(ConfigError, match=r"cannot export onnx:.* runs its \.onnx file with onnxruntime"):
        export_onnx(model, tmp_path / "again.onnx")
    assert not (tmp_path / "again.onnx").exists()
