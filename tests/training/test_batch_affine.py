"""The batched augmentation of `fit`'s fold trainings draws and moves images as the per-item one does."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from lookalike.training.config import AugmentConfig
from lookalike.training.datasets import AugmentBatch, BatchAffine, RandomAffineFill


def _image(n: int = 2, size: int = 12) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.zeros(n, 3, size, size)
    x[:, :, 3:9, 4:7] = torch.rand(n, 3, 6, 3) + 1.0  # a shape away from the border, on a flat background
    return x


def test_whole_pixel_shifts_move_the_image_exactly() -> None:
    x = _image()
    aug = BatchAffine(degrees=0, translate=0.3, scale=0, fill="gray")
    out = aug.apply_params(x, torch.zeros(2), torch.tensor([2.0, -1.0]), torch.tensor([-3.0, 1.0]), torch.ones(2))
    want0 = torch.roll(x[0], shifts=(-3, 2), dims=(1, 2))
    want1 = torch.roll(x[1], shifts=(1, -1), dims=(1, 2))
    assert torch.allclose(out[0], want0, atol=1e-5)
    assert torch.allclose(out[1], want1, atol=1e-5)


@pytest.mark.parametrize("fill", ["gray", "border"])
def test_rotation_and_zoom_match_torchvision_per_item(fill: str) -> None:
    x = _image(size=16)
    x[1] += 0.25  # a non-zero background: the border fill must keep it
    aug = BatchAffine(degrees=30, translate=0.1, scale=0.2, fill=fill)
    item = RandomAffineFill(degrees=30, translate=0.1, scale=0.2, fill=fill)
    angles, tx, ty, zooms = [17.0, -25.0], [1.0, -2.0], [0.0, 2.0], [1.1, 0.85]
    out = aug.apply_params(x, torch.tensor(angles), torch.tensor(tx), torch.tensor(ty), torch.tensor(zooms))
    for i in range(2):

        def per_item(angle: float, i: int = i) -> torch.Tensor:
            return F.affine(x[i], angle=angle, translate=[int(tx[i]), int(ty[i])], scale=zooms[i], shear=[0.0, 0.0],
                            interpolation=InterpolationMode.BILINEAR, fill=item._fill(x[i]))  # fmt: skip

        # the same map and fill; only the one-pixel band where the image meets the fill differs (torchvision weighs
        # the fill in with its own mask there), by at most a few hundredths
        diff = (out[i] - per_item(angles[i])).abs()
        assert diff.mean() < 0.006 and diff.max() < 0.1 and (diff > 1e-4).float().mean() < 0.15
        assert (out[i] - per_item(-angles[i])).abs().mean() > 0.05  # (and the check can tell the sense of a turn)
    if fill == "border":  # corners uncovered by the turn take the background, not 0
        assert torch.allclose(out[1, :, 0, 0], torch.full((3,), 0.25), atol=1e-5)


def test_every_image_gets_its_own_draw_within_the_configured_range() -> None:
    torch.manual_seed(1)
    x = _image(n=64)
    aug = BatchAffine.from_config(AugmentConfig(translate=0.25, fill="border"))
    assert aug is not None
    out = aug(x)
    moved = [(out[i] - x[i]).abs().sum().item() > 0 for i in range(64)]
    assert 8 < sum(moved) <= 64  # most moved, by different amounts
    assert len({round((out[i] - x[i]).abs().sum().item(), 3) for i in range(64)}) > 5
    # shifts stay within 0.25 x 12 = 3 pixels: the shape's column band never leaves [1, 10)
    cols = (out.abs().sum(dim=(1, 2)) > 1e-6).nonzero()[:, 1]
    assert cols.min() >= 1 and cols.max() <= 9
    assert BatchAffine.from_config(AugmentConfig()) is None


def test_augment_batch_collates_and_augments() -> None:
    items = [(torch.ones(3, 4, 4) * i, i) for i in range(5)]
    x, y = AugmentBatch(None)(items)
    assert x.shape == (5, 3, 4, 4) and y.tolist() == [0, 1, 2, 3, 4]
    flat = AugmentBatch(BatchAffine(degrees=45, translate=0.0, scale=0.0, fill="border"))(items)[0]
    assert torch.allclose(flat, x)  # a flat image stays flat under a turn with the border fill


def test_squashed_inputs_move_per_batch_and_other_inputs_per_item() -> None:
    from lookalike.training.datasets import affine_per_batch, train_image_transform

    shift = AugmentConfig(translate=0.1, fill="border")
    squash = {"input_size": 28, "resize": "squash", "mean": [0.5] * 3, "std": [0.5] * 3}
    assert affine_per_batch(squash, shift)
    assert not affine_per_batch(squash, AugmentConfig(hflip=True))  # nothing to move
    assert not affine_per_batch(squash, AugmentConfig(translate=0.1, random_resized_crop=0.5))
    assert not affine_per_batch({"input_size": 224}, shift)  # centre-cropped: moved before the crop, per item
    per_batch = train_image_transform(squash, shift, batch_affine=True).transforms
    per_item = train_image_transform(squash, shift).transforms
    assert not any(isinstance(t, RandomAffineFill) for t in per_batch)
    assert any(isinstance(t, RandomAffineFill) for t in per_item)
