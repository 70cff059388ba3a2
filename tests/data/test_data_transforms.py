"""Preprocessing: timm-compatible eval transform, cache geometry, batch augmentation on tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lookalike.data.transforms import BatchAugment, BatchNormalize, Preprocess, eval_transform, resize_uint8
from lookalike.errors import DataError


def image(w: int = 90, h: int = 60) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(arr)


def test_preprocess_from_timm_and_card_dicts() -> None:
    timm_cfg = {
        "input_size": (3, 32, 32),
        "interpolation": "bilinear",
        "mean": (0.5,) * 3,
        "std": (0.5,) * 3,
        "crop_pct": 1.0,
        "crop_mode": "center",
    }
    p = Preprocess.from_dict(timm_cfg)
    assert p.input_size == 32 and p.crop_pct == 1.0 and p.mean == (0.5, 0.5, 0.5)
    assert Preprocess.from_dict(p.to_dict()) == p
    with pytest.raises(DataError, match="unknown preprocessing keys"):
        Preprocess.from_dict({"input_sise": 3})
    with pytest.raises(DataError, match="crop_pct"):
        Preprocess(crop_pct=2.0)


@pytest.mark.parametrize("resize", ["crop", "squash"])
def test_cached_geometry_matches_the_timm_eval_transform(resize: str) -> None:
    pre = Preprocess(input_size=32, crop_pct=0.875, interpolation="bilinear", resize=resize)  # type: ignore[arg-type]
    expected = eval_transform(pre)(image())
    cached = BatchNormalize(mean=pre.mean, std=pre.std)(torch.from_numpy(resize_uint8(image(), pre))[None])[0]
    assert expected.shape == cached.shape == (3, 32, 32)
    assert (expected - cached).abs().mean() < 0.02  # same geometry; uint8 rounding only


def test_batch_augment_identity_settings_reproduce_the_input() -> None:
    x = torch.from_numpy(np.stack([resize_uint8(image(), Preprocess(input_size=24))] * 2))
    same = BatchAugment(output_size=24, scale=(1, 1), ratio=(1, 1), hflip=0, brightness=0, contrast=0, saturation=0)
    assert torch.allclose(same(x), BatchNormalize()(x), atol=1e-5)
    flip = BatchAugment(output_size=24, scale=(1, 1), ratio=(1, 1), hflip=1, brightness=0, contrast=0, saturation=0)
    assert torch.allclose(flip(x), BatchNormalize()(x).flip(-1), atol=1e-5)


def test_batch_augment_is_random_per_image_and_seedable() -> None:
    x = torch.from_numpy(np.stack([resize_uint8(image(), Preprocess(input_size=40))] * 4))
    aug = BatchAugment(output_size=32)
    a = aug(x, generator=torch.Generator().manual_seed(0))
    b = aug(x.float() / 255, generator=torch.Generator().manual_seed(0))  # uint8 and float inputs agree
    assert a.shape == (4, 3, 32, 32) and a.dtype == torch.float32
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a[0], a[1])  # each image its own crop/flip/jitter
    with pytest.raises(DataError, match="expected a batch"):
        aug(torch.zeros(3, 8, 8))
