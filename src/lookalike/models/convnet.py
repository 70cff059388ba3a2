"""``convnet``: a compact conv net trained from scratch, for small or grayscale images (digits, characters).

The classic "Conv-4" of few-shot learning (Vinyals et al. 2016; Snell et al. 2017): ``depth`` blocks of
3x3 conv → BatchNorm → ReLU → 2x2 max-pool, ``width`` channels each, on a ``size`` x ``size`` input (squashed,
grayscale by default), then global average pooling. ``shifts=s`` (test time only): the mean of the pooled
features over the (2s+1)^2 translations of the input by up to ``s`` whole pixels (edges repeated), which raised
validation one-shot accuracy on Omniglot's training characters by about a point (docs/fit.md); training sees
one view per image as before. ``members=k``: k such networks side by side (an ensemble), each one's pooled
features L2-normalised and concatenated (``feature_dim = k * width``); ``lookalike train`` trains them one by one
on class carve-outs (``trainer.ensemble``), :meth:`ConvNetEncoder.combine` joins trained networks. No pretrained
weights: where ImageNet features say little (characters, digits) the whole network learns the metric, trained by
``lookalike train`` with ``model.backbone: finetune`` (and ``freeze_bn: false``) or chosen by ``lookalike fit``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lookalike.errors import ConfigError
from lookalike.models.encoders import Encoder, Kind


class ConvNetEncoder(Encoder):
    """``depth`` x (conv3x3-BN-ReLU-maxpool2) with ``width`` channels on ``size`` px, average-pooled; ``members``
    such bodies side by side."""

    kind: Kind = "image"

    def __init__(
        self,
        *,
        size: int = 28,
        width: int = 64,
        depth: int = 4,
        grayscale: bool = True,
        shifts: int = 0,
        members: int = 1,
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
        if not 1 <= members <= 8:
            raise ConfigError(f"convnet encoder: members (networks side by side) must lie in 1..8, got {members}")
        self.spec = "convnet"
        self.size, self.width, self.depth, self.grayscale = int(size), int(width), int(depth), bool(grayscale)
        self.shifts, self.members = int(shifts), int(members)
        self.body = self._body()
        #: members 2..k (empty for one network: its weights keep the names they always had)
        self.others = nn.ModuleList([self._body() for _ in range(self.members - 1)])
        self.feature_dim = self.width * self.members

    def _body(self) -> nn.Sequential:
        layers: list[nn.Module] = []
        channels = 1 if self.grayscale else 3
        for _ in range(self.depth):
            layers += [
                nn.Conv2d(channels, self.width, 3, padding=1, bias=False),
                nn.BatchNorm2d(self.width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = self.width
        return nn.Sequential(*layers)

    @classmethod
    def combine(cls, encoders: list[ConvNetEncoder]) -> ConvNetEncoder:
        """One encoder whose members are copies of the given (one-member) encoders' networks, in order."""
        first = encoders[0]
        for e in encoders:
            if e.members != 1 or e._shape() != first._shape():
                raise ConfigError(
                    f"convnet ensemble: every member must be one {first._shape()} network; got members={e.members}, "
                    f"{e._shape()}"
                )
        out = cls(size=first.size, width=first.width, depth=first.depth, grayscale=first.grayscale,
                  shifts=first.shifts, members=len(encoders))  # fmt: skip
        for body, e in zip([out.body, *out.others], encoders, strict=True):
            body.load_state_dict(e.body.state_dict())
        return out.train(first.training)

    def _shape(self) -> dict[str, Any]:
        return {"size": self.size, "width": self.width, "depth": self.depth, "grayscale": self.grayscale}

    def preprocessing(self) -> dict[str, Any]:
        return {"input_size": self.size, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear",
                "crop_pct": 1.0, "resize": "squash"}  # fmt: skip

    def config(self) -> dict[str, Any]:
        # shifts and members only when set: earlier cards stay identical
        extra = {"shifts": self.shifts} if self.shifts else {}
        if self.members > 1:
            extra["members"] = self.members
        return {"size": self.size, "width": self.width, "depth": self.depth, "grayscale": self.grayscale, **extra}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grayscale and x.shape[1] != 1:
            x = x.mean(1, keepdim=True)
        n, views = x.shape[0], bool(self.shifts and not self.training)
        if views:
            x = _translations(x, self.shifts)
        feats = [body(x).mean((2, 3)) for body in [self.body, *self.others]]
        if views:  # the mean over the translated copies of each image
            feats = [f.unflatten(0, (-1, n)).mean(0) for f in feats]
        if len(feats) == 1:
            return feats[0]
        return torch.cat([torch.nn.functional.normalize(f, dim=1) for f in feats], 1)


def _translations(x: torch.Tensor, s: int) -> torch.Tensor:
    """The (2s+1)^2 copies of ``x`` (n, c, h, w) moved by -s..s whole pixels each way, edges repeated, stacked
    view by view: (views * n, c, h, w)."""
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (s, s, s, s), mode="replicate")
    return torch.cat([padded[..., dy : dy + h, dx : dx + w] for dy in range(2 * s + 1) for dx in range(2 * s + 1)])


__all__ = ["ConvNetEncoder"]
