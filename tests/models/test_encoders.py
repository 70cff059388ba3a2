"""TimmEncoder options: several ``out_block`` taps concatenated, grid pooling, and their ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookalike.errors import ConfigError
from lookalike.models import load_model
from lookalike.models.encoders import TimmEncoder, _bin_matrix, build_encoder


def _encoder(out_block: int | list[int] | None, pool: str | list[str] = "grid3") -> TimmEncoder:
    torch.manual_seed(0)
    return TimmEncoder("test_efficientnet", out_block=out_block, global_pool=pool, input_size=64).eval()


@pytest.mark.parametrize("pool", ["grid3", "avg", "gem"])
def test_block_list_concatenates_each_blocks_pooled_features(pool: str) -> None:
    both = _encoder([2, 1], pool)
    first, second = _encoder(2, pool), _encoder(1, pool)
    for single in (first, second):
        single.load_state_dict(both.state_dict())
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        out = both(x)
        expected = torch.cat([first(x), second(x)], dim=1)
    assert both.feature_dim == first.feature_dim + second.feature_dim == out.shape[1]
    torch.testing.assert_close(out, expected)
    assert both.config()["out_block"] == [2, 1]


def test_one_pooling_per_block() -> None:
    both = _encoder([1, 2], ["grid3", "avg"])
    grid, avg = _encoder(1, "grid3"), _encoder(2, "avg")
    for single in (grid, avg):
        single.load_state_dict(both.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(both(x), torch.cat([grid(x), avg(x)], dim=1))
    assert both.feature_dim == grid.feature_dim + avg.feature_dim


@pytest.mark.parametrize("bad", [[1, 1], [], [0, 99], 99, [1.5]])
def test_bad_block_lists_are_refused(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="out_block"):
        _encoder(bad)


@pytest.mark.parametrize(("blocks", "pool"), [([1, 2], ["grid3"] * 3), (None, ["avg", "avg"]), ([1, 2], "avgmax")])
def test_bad_pooling_lists_are_refused(blocks, pool) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="global_pool"):
        _encoder(blocks, pool)


@pytest.mark.parametrize(("size", "n"), [(14, 3), (11, 3), (7, 4), (9, 3), (5, 8)])
def test_bin_matrix_matches_adaptive_average_pooling(size: int, n: int) -> None:
    x = torch.randn(2, 4, size, size + 3)
    ref = torch.nn.functional.adaptive_avg_pool2d(x, n)
    alt = torch.einsum("ih,bchw,jw->bcij", _bin_matrix(size, n), x, _bin_matrix(size + 3, n))
    torch.testing.assert_close(alt, ref)


def test_grid_pooling_exports_to_onnx_when_the_grid_does_not_divide_the_map(tmp_path) -> None:
    """A 64-px input gives 16x16 and 8x8 maps, which 3x3 does not divide: plain ONNX export refuses that."""
    from lookalike.models.onnx import OnnxEmbedder, export_onnx

    torch.manual_seed(0)
    model = load_model("timm:test_efficientnet", pretrained=False, input_size=64, out_block=[1, 2], global_pool="grid3")
    report = export_onnx(model, tmp_path / "m.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    images = (np.random.default_rng(0).random((3, 50, 70, 3)) * 255).astype(np.uint8)
    onnx_out = OnnxEmbedder(tmp_path / "m.onnx").embed(list(images))
    np.testing.assert_allclose(onnx_out, model.embed(list(images)), atol=1e-4)


def test_building_a_pooled_encoder_leaves_batchnorm_statistics_alone() -> None:
    """Finding the pooled width runs one pass; in training mode it moved every BatchNorm's running statistics
    toward a black image's (the pretrained statistics were changed by merely building the encoder)."""
    import timm

    torch.manual_seed(0)
    plain = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).state_dict()
    for kwargs in ({"out_block": [3, 5], "global_pool": ["grid2", "avg"]}, {"global_pool": "gem"}, {"flip": True}):
        torch.manual_seed(0)
        enc = build_encoder("timm:tf_efficientnet_lite0", pretrained=False, **kwargs)
        assert enc.training  # the mode it was built in is kept
        got = enc.backbone.state_dict()
        moved = [k for k in plain if not torch.equal(plain[k], got[k])]
        assert not moved, (kwargs, moved[:3])
