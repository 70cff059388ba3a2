"""Image preprocessing: timm-compatible eval transforms, and training augmentation on the *batch* tensor.

- :class:`Preprocess` holds what a model needs (input size, mean, std, interpolation, crop_pct, resize mode);
  :meth:`Preprocess.from_dict` accepts timm's data config (``input_size=(3, H, W)``) or a model card's
  ``preprocessing`` dict (``input_size=224``).
- :func:`eval_transform`: PIL image → normalised float tensor, built with ``timm.data.create_transform``.
- :func:`resize_uint8`: the geometry alone (resize + centre crop, or squash) to a uint8 CHW array; the decoded
  cache stores this, so epochs after the first never decode a JPEG.
- :class:`BatchAugment`: random resized crop, horizontal flip and colour jitter applied to a whole uint8 or
  float batch with one ``grid_sample`` - on the GPU when the batch is there - then normalisation.
- :class:`BatchNormalize`: uint8 batch → normalised float (eval on cached images).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from lookalike.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos")


@dataclass(frozen=True)
class Preprocess:
    """Eval preprocessing of an image model (timm semantics: resize to ``size / crop_pct``, centre crop)."""

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    resize: Literal["crop", "squash"] = "crop"

    def __post_init__(self) -> None:
        if self.input_size < 8:
            raise DataError(f"input_size must be at least 8 pixels; got {self.input_size}")
        if not 0.1 <= self.crop_pct <= 1.0:
            raise DataError(f"crop_pct must lie in [0.1, 1]; got {self.crop_pct}")
        if self.interpolation not in _INTERPOLATIONS:
            raise DataError(f"interpolation must be one of {_INTERPOLATIONS}; got {self.interpolation!r}")
        if self.resize not in ("crop", "squash"):
            raise DataError(f"resize must be 'crop' (timm eval) or 'squash'; got {self.resize!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise DataError(f"mean and std need 3 values each, std > 0; got {self.mean}, {self.std}")

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> Preprocess:
        """From timm's ``resolve_data_config`` output or a model card's ``preprocessing`` (unknown keys refused)."""
        known = {"input_size", "mean", "std", "interpolation", "crop_pct", "resize", "crop_mode"}
        extra = sorted(set(cfg) - known)
        if extra:
            raise DataError(f"unknown preprocessing keys {extra}; allowed: {sorted(known)}")
        size = cfg.get("input_size", 224)
        if isinstance(size, Sequence):
            if len(size) != 3 or size[1] != size[2]:
                raise DataError(f"input_size must be square (3, S, S); got {tuple(size)}")
            size = size[-1]
        return cls(
            input_size=int(size),
            mean=tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
            std=tuple(float(v) for v in cfg.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
            interpolation=str(cfg.get("interpolation", "bicubic")),
            crop_pct=float(cfg.get("crop_pct", 0.875)),
            resize=cfg.get("resize", "crop"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    def to_timm(self) -> dict[str, Any]:
        """Keyword arguments for ``timm.data.create_transform``."""
        return {
            "input_size": (3, self.input_size, self.input_size),
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
            "crop_pct": 1.0 if self.resize == "squash" else self.crop_pct,
        }


def eval_transform(pre: Preprocess | Mapping[str, Any]) -> Any:
    """PIL image → normalised float CHW tensor, as timm evaluates (or squashed to a square)."""
    p = pre if isinstance(pre, Preprocess) else Preprocess.from_dict(pre)
    from timm.data import create_transform

    kwargs = p.to_timm()
    if p.resize == "squash":
        kwargs["crop_mode"] = "squash"
    return create_transform(is_training=False, **kwargs)


def resize_uint8(image: Any, pre: Preprocess, *, size: int | None = None) -> np.ndarray:
    """Only the geometry of ``pre`` (no normalisation): an RGB PIL image → uint8 array (3, size, size)."""
    from PIL import Image

    s = size or pre.input_size
    method = {
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "nearest": Image.Resampling.NEAREST,
        "lanczos": Image.Resampling.LANCZOS,
    }[pre.interpolation]
    if pre.resize == "squash":
        out = image.resize((s, s), method)
    else:
        w, h = image.size
        short = math.floor(s / pre.crop_pct)
        scale = short / min(w, h)
        nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
        resized = image.resize((nw, nh), method)
        left, top = (nw - s) // 2, (nh - s) // 2
        out = resized.crop((left, top, left + s, top + s))
    return np.ascontiguousarray(np.asarray(out.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1))


def _to_unit_float(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4 or x.shape[1] != 3:
        raise DataError(f"expected a batch (B, 3, H, W); got shape {tuple(x.shape)}")
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


class BatchNormalize(nn.Module):
    """uint8 (or [0, 1] float) batch → ``(x - mean) / std`` on the batch's device."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, *, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise DataError(f"expected a batch (B, 3, H, W); got shape {tuple(x.shape)}")
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        scale = 1.0 / (std * 255.0) if x.dtype == torch.uint8 else 1.0 / std
        return torch.addcmul(-mean / std, x.float(), scale)  # one fused pass: x * scale + shift


class BatchAugment(nn.Module):
    """Random resized crop + horizontal flip + colour jitter on a whole batch, then normalisation.

    Each image gets its own crop (area fraction in ``scale``, aspect ratio in ``ratio``), flip and jitter
    factors; all of it is one ``affine_grid``/``grid_sample`` and a few element-wise ops, so it runs wherever
    the batch lives (GPU in training). Input: uint8 (0..255) or float (0..1) ``(B, 3, H, W)``.
    """

    def __init__(
        self,
        *,
        output_size: int,
        scale: tuple[float, float] = (0.35, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: float = 0.5,
        brightness: float = 0.3,
        contrast: float = 0.3,
        saturation: float = 0.3,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]) or not 0 <= hflip <= 1:
            raise DataError(f"need 0 < scale <= 1, 0 < ratio, 0 <= hflip <= 1; got {scale}, {ratio}, {hflip}")
        self.output_size = output_size
        self.scale, self.ratio, self.hflip = scale, ratio, hflip
        self.jitter = (brightness, contrast, saturation)
        self.normalize = BatchNormalize(mean=mean, std=std)

    def _uniform(self, n: int, lo: float, hi: float, like: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=like.device) * (hi - lo) + lo

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = _to_unit_float(x)
        b = x.shape[0]
        area = self._uniform(b, *self.scale, x, generator)
        log_r = self._uniform(b, math.log(self.ratio[0]), math.log(self.ratio[1]), x, generator)
        w = torch.sqrt(area * torch.exp(log_r)).clamp(max=1.0)
        h = torch.sqrt(area / torch.exp(log_r)).clamp(max=1.0)
        cx = (torch.rand(b, generator=generator, device=x.device) * 2 - 1) * (1 - w)
        cy = (torch.rand(b, generator=generator, device=x.device) * 2 - 1) * (1 - h)
        flip = torch.where(torch.rand(b, generator=generator, device=x.device) < self.hflip, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * flip, cx, h, cy
        grid = nn.functional.affine_grid(theta, [b, 3, self.output_size, self.output_size], align_corners=False)
        out = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        out = self._color_jitter(out, generator)
        return self.normalize(out)

    def _color_jitter(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b = x.shape[0]
        bri, con, sat = self.jitter
        gray_w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        if bri:
            x = x * self._uniform(b, 1 - bri, 1 + bri, x, gen).view(b, 1, 1, 1)
        if con:
            mean_gray = (x * gray_w).sum(1, keepdim=True).mean((2, 3), keepdim=True)
            x = (x - mean_gray) * self._uniform(b, 1 - con, 1 + con, x, gen).view(b, 1, 1, 1) + mean_gray
        if sat:
            gray = (x * gray_w).sum(1, keepdim=True)
            x = (x - gray) * self._uniform(b, 1 - sat, 1 + sat, x, gen).view(b, 1, 1, 1) + gray
        return x.clamp_(0.0, 1.0)


__all__ = ["BatchAugment", "BatchNormalize", "Preprocess", "eval_transform", "resize_uint8"]
