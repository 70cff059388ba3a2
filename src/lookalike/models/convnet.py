"""``convnet``: a compact conv net trained from scratch, for small or grayscale images (digits, characters).

The classic "Conv-4" of few-shot learning (Vinyals et al. 2016; Snell et al. 2017): ``depth`` blocks of
3x3 conv → BatchNorm → ReLU → 2x2 max-pool, ``width`` channels each, on a ``size`` x ``size`` input (squashed,
grayscale by default), then global average pooling. ``shifts=s`` (test time only): the mean of the pooled
features over the (2s+1)^2 translations of the input by up to ``s`` whole pixels (edges repeated), which raised
validation one-shot accuracy on Omniglot's training characters by about a point (docs/fit.md); training sees
one view per image as before. No pretrained weights: where ImageNet features say little
(characters, digits) the whole network learns the metric, trained by ``lookalike train`` with
``model.backbone: finetune`` (and ``freeze_bn: false``) or chosen by ``lookalike fit``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lookalike.errors import ConfigError
from lookalike.models.encoders import Encoder, Kind


class ConvNetEncoder(Encoder):
    """``depth`` x (conv3x3-BN-ReLU-maxpool2) with ``width`` channels on ``size`` px, average-pooled."""

    kind: Kind = "image"

    def __init__(
        self, *, size: int = 28, width: int = 64, depth: int = 4, grayscale: bool = True, shifts: int = 0
    ) -> None:
        super().__init__()
        if not 8 <= size <= 128:
            raise ConfigError(f"convnet encoder: size must lie in 8..128 px, got {size}")
        if not 1 <= depth <= 6 or size >> depth < 1:
            raise ConfigError(
                f"convnet encoder: depth must lie in 1..6 and leave at least 1 px after {depth} halvings of "
                f"{size} px; got depth {depth}"
            )
        if not 8 <= width <= 512:
            raise ConfigError(f"convnet encoder: width must lie in 8..512 channels, got {width}")
        if not 0 <= shifts <= 4 or shifts >= size // 4:
            raise ConfigError(
                f"convnet encoder: shifts (test-time translations, px) must lie in 0..4 and below a quarter of the "
                f"{size} px input; got {shifts}"
            )
        self.spec = "convnet"
        self.size, self.width, self.depth, self.grayscale = int(size), int(width), int(depth), bool(grayscale)
        self.shifts = int(shifts)
        layers: list[nn.Module] = []
        channels = 1 if grayscale else 3
        for _ in range(depth):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.body = nn.Sequential(*layers)
        self.feature_dim = self.width

    def preprocessing(self) -> dict[str, Any]:
        return {"input_size": self.size, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear",
                "crop_pct": 1.0, "resize": "squash"}  # fmt: skip

    def config(self) -> dict[str, Any]:
        shifts = {"shifts": self.shifts} if self.shifts else {}  # only when set: earlier cards stay identical
        return {"size": self.size, "width": self.width, "depth": self.depth, "grayscale": self.grayscale, **shifts}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grayscale and x.shape[1] != 1:
            x = x.mean(1, keepdim=True)
        if self.shifts and not self.training:
            views = _translations(x, self.shifts)
            return self.body(views).mean((2, 3)).unflatten(0, (-1, x.shape[0])).mean(0)
        return self.body(x).mean((2, 3))


def _translations(x: torch.Tensor, s: int) -> torch.Tensor:
    """The (2s+1)^2 copies of ``x`` (n, c, h, w) moved by -s..s whole pixels each way, edges repeated, stacked
    view by view: (views * n, c, h, w)."""
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (s, s, s, s), mode="replicate")
    return torch.cat([padded[..., dy : dy + h, dx : dx + w] for dy in range(2 * s + 1) for dx in range(2 * s + 1)])


__all__ = ["ConvNetEncoder"]
