"""Turn user items into model input tensors, exactly as the model card's ``preprocessing`` says.

Images: a ``PIL.Image``, a file path or a uint8 array (H, W[, C]) → RGB → resize (``crop``: shorter side to
``input_size / crop_pct`` then centre crop, as timm evaluates; ``squash``: straight to a square, keeping
the whole object) → optional Gaussian ``blur`` (sigma in pixels at the input size) → float tensor normalised
by ``mean``/``std``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lookalike.errors import DataError, EmbeddingSizeError

_INTERP = {"bicubic": 3, "bilinear": 2, "nearest": 0, "lanczos": 1}


def to_pil(item: Any) -> Any:
    """An RGB ``PIL.Image`` from a PIL image, a path or a uint8 array."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, (str, Path)):
        from lookalike.data.images import load_image

        return load_image(str(item))
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3):
            raise DataError(f"image arrays must be uint8 (H, W) or (H, W, C); got {item.dtype} {item.shape}")
        return Image.fromarray(item).convert("RGB")
    raise DataError(f"cannot read {type(item).__name__} as an image; give a PIL image, a file path or a uint8 array")


def image_transform(pre: dict[str, Any]) -> Any:
    """The torchvision eval transform for a card's image ``preprocessing``.

    With a ``face`` entry (face models) the image is replaced by its largest face, detected and 5-point aligned
    to an ``input_size`` chip (:mod:`lookalike.models.faces`); ``channel_order: bgr`` swaps the channels last.
    """
    from torchvision import transforms as T

    if pre.get("face") is not None:
        from lookalike.models.faces.detect import FaceChipTransform, face_options

        return T.Compose([FaceChipTransform(face_options(pre)), chip_normalizer(pre)])

    size = int(pre.get("input_size", 224))
    interp = T.InterpolationMode(
        {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest"}.get(
            str(pre.get("interpolation")), "bilinear"
        )
    )
    if pre.get("resize", "crop") == "squash":
        resize = [T.Resize((size, size), interpolation=interp)]
    else:
        scaled = int(size / float(pre.get("crop_pct", 0.875)))
        resize = [T.Resize(scaled, interpolation=interp), T.CenterCrop(size)]
    steps = [
        *resize,
        *gaussian_blur(pre),
        T.ToTensor(),
        T.Normalize(pre.get("mean", [0.5] * 3), pre.get("std", [0.5] * 3)),
    ]
    if pre.get("channel_order", "rgb") == "bgr":
        steps.append(_bgr)
    return T.Compose(steps)


def gaussian_blur(pre: dict[str, Any]) -> list[Any]:
    """The preprocessing's ``blur`` step (torchvision's ``GaussianBlur``, kernel +-3 sigma), or none."""
    from torchvision import transforms as T

    sigma = float(pre.get("blur") or 0.0)
    if not sigma:
        return []
    return [T.GaussianBlur(2 * math.ceil(3 * sigma) + 1, sigma=sigma)]


def chip_normalizer(pre: dict[str, Any]) -> Any:
    """Aligned face chip tensor in [0, 1] → model input: ``mean``/``std`` (RGB), then ``channel_order``."""
    from torchvision import transforms as T

    steps: list[Any] = [T.Normalize(pre.get("mean", [0.0] * 3), pre.get("std", [1.0] * 3))]
    if pre.get("channel_order", "rgb") == "bgr":
        steps.append(_bgr)
    return T.Compose(steps)


def _bgr(x: torch.Tensor) -> torch.Tensor:
    return x.flip(0)


def image_batch(items: Sequence[Any] | np.ndarray, pre: dict[str, Any], transform: Any = None) -> torch.Tensor:
    from lookalike.errors import NoFaceError

    tf = transform or image_transform(pre)
    out = []
    for i, it in enumerate(items):
        try:
            out.append(tf(to_pil(it)))
        except NoFaceError as err:
            name = str(it) if isinstance(it, (str, Path)) else f"item {i} of the batch"
            raise NoFaceError(str(err).replace("no face found in image", f"no face found in {name}", 1)) from None
    return torch.stack(out)


def vector_batch(items: Sequence[Any] | np.ndarray, input_dim: int) -> torch.Tensor:
    """(n, input_dim) float32 from a 2-D array or a list of 1-D arrays, with a clear width check."""
    try:
        arr = np.asarray(items, dtype=np.float32)
    except (ValueError, TypeError) as err:
        raise DataError(f"vector items must be numbers of equal length; {err}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DataError(f"vector items must form a 2-D array (n, {input_dim}); got shape {arr.shape}")
    if arr.shape[1] != input_dim:
        raise EmbeddingSizeError(
            f"vectors must have {input_dim} columns for this model; got {arr.shape[1]}. "
            "Were they produced by another encoder?"
        )
    if not np.isfinite(arr).all():
        raise DataError("vector items contain NaN or infinity; clean them before embedding")
    return torch.from_numpy(np.ascontiguousarray(arr))


__all__ = ["chip_normalizer", "image_batch", "image_transform", "to_pil", "vector_batch"]
