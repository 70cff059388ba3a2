"""Torch datasets for training: decoded items with transforms, or cached backbone features."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lookalike.data.types import LabeledDataset
from lookalike.models.preprocess import to_pil
from lookalike.training.config import AugmentConfig


def train_image_transform(pre: dict[str, Any], aug: AugmentConfig) -> Any:
    """Eval preprocessing plus the configured augmentations (random crop replaces the deterministic resize)."""
    from torchvision import transforms as T

    if pre.get("face") is not None:
        from lookalike.errors import ConfigError

        raise ConfigError(
            "image augmentations are not supported for face encoders (their input is a detected, aligned chip): "
            "use model.backbone: frozen with data.feature_views: 1 and train the head on the cached features"
        )
    size = int(pre.get("input_size", 224))
    steps: list[Any] = []
    affine = RandomAffineFill.from_config(aug)
    # squashed inputs are resized first and moved at the input size (cheaper; the fit search does the same)
    squash_first = pre.get("resize") == "squash" and not aug.random_resized_crop
    if affine is not None and not squash_first:
        steps.append(affine)
    if aug.random_resized_crop:
        steps.append(T.RandomResizedCrop(size, scale=(aug.random_resized_crop, 1.0), antialias=True))
    elif pre.get("resize") == "squash":
        steps.append(T.Resize((size, size), antialias=True))
    else:
        steps += [T.Resize(int(size / float(pre.get("crop_pct", 0.875))), antialias=True), T.CenterCrop(size)]
    if affine is not None and squash_first:
        steps.append(affine)
    if aug.hflip:
        steps.append(T.RandomHorizontalFlip())
    if aug.color_jitter:
        j = aug.color_jitter
        steps.append(T.ColorJitter(brightness=j, contrast=j, saturation=j, hue=min(0.5, j / 4)))
    if aug.grayscale:
        steps.append(T.RandomGrayscale(aug.grayscale))
    steps += [T.ToTensor(), T.Normalize(pre.get("mean", [0.5] * 3), pre.get("std", [0.5] * 3))]
    return T.Compose(steps)


class RandomAffineFill:
    """A random rotation / shift / zoom (torchvision's ``RandomAffine`` draw) of a PIL image or a (C, H, W)
    tensor, the uncovered corners filled with mid-gray or with the median of the image's border pixels."""

    def __init__(self, *, degrees: float, translate: float, scale: float, fill: str) -> None:
        self.degrees, self.translate, self.scale, self.fill = degrees, translate, scale, fill

    @classmethod
    def from_config(cls, aug: AugmentConfig) -> RandomAffineFill | None:
        if not (aug.rotation or aug.translate or aug.scale):
            return None
        return cls(degrees=aug.rotation, translate=aug.translate, scale=aug.scale, fill=aug.fill)

    def _fill(self, img: Any) -> list[float]:
        x = img if isinstance(img, torch.Tensor) else torch.from_numpy(np.asarray(img, dtype=np.float32))
        if not isinstance(img, torch.Tensor):  # PIL: (H, W[, C]) → (C, H, W)
            x = x.unsqueeze(-1) if x.ndim == 2 else x
            x = x.permute(2, 0, 1)
        if self.fill != "border":
            return [0.0 if isinstance(img, torch.Tensor) else 128.0] * x.shape[0]
        border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], dim=1)
        return [float(v) for v in border.median(dim=1).values]

    def __call__(self, img: Any) -> Any:
        from torchvision.transforms import InterpolationMode, RandomAffine
        from torchvision.transforms import functional as F

        size = list(img.shape[-2:][::-1]) if isinstance(img, torch.Tensor) else list(img.size)
        translate = (self.translate, self.translate) if self.translate else None
        scale = (1 - self.scale, 1 + self.scale) if self.scale else None
        angle, shift, zoom, shear = RandomAffine.get_params([-self.degrees, self.degrees], translate, scale, None, size)
        fill = self._fill(img)
        return F.affine(img, angle=angle, translate=list(shift), scale=zoom, shear=list(shear),
                        interpolation=InterpolationMode.BILINEAR,
                        fill=fill if isinstance(img, torch.Tensor) else [round(v) for v in fill])  # fmt: skip


ROTATIONS = 4


def rotated_label(labels: Any, k: int, num_classes: int) -> Any:
    """The label of class ``labels`` rotated by ``k`` x 90 degrees, as a class of its own."""
    return labels + k * num_classes


class RotationClasses(Dataset):
    """Every item of ``base`` four times, rotated by 0/90/180/270 degrees, each rotation a class of its own
    (the "rotations as new classes" trick for characters: 4x the classes to learn a metric from)."""

    def __init__(self, base: ItemDataset, num_classes: int) -> None:
        self.base, self.num_classes = base, num_classes
        labels = np.asarray(base.ds.labels)
        self.labels = np.concatenate([rotated_label(labels, k, num_classes) for k in range(ROTATIONS)])

    def __len__(self) -> int:
        return ROTATIONS * len(self.base)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        k, j = divmod(int(i), len(self.base))
        x, _ = self.base[j]
        return torch.rot90(x, k, dims=(-2, -1)), int(self.labels[i])


class ItemDataset(Dataset):
    """(input, label) from a :class:`LabeledDataset`: images decoded once and kept, then transformed."""

    def __init__(self, ds: LabeledDataset, *, transform: Any = None, keep_decoded: bool = True) -> None:
        self.ds = ds
        self.transform = transform
        self.keep_decoded = keep_decoded
        self._decoded: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.ds)

    def _load(self, i: int) -> Any:
        if self.ds.kind != "image":
            return self.ds.load(i)
        if i in self._decoded:
            return self._decoded[i]
        # arrays (sklearn digits) go through to_pil; paths, zip members (Omniglot) and boxes through ds.load
        im = to_pil(self.ds.items[i]) if isinstance(self.ds.items[i], np.ndarray) else self.ds.load(i)
        if self.keep_decoded:
            self._decoded[i] = im
        return im

    def __getitem__(self, i: int) -> tuple[Any, int]:
        item = self._load(int(i))
        if self.ds.kind == "image":
            item = self.transform(item)
        elif self.ds.kind == "vector":
            item = torch.from_numpy(np.asarray(item, dtype=np.float32))
        return item, int(self.ds.labels[i])


class FeatureDataset(Dataset):
    """Cached backbone features (views, n, d): each access picks one view (view 0 is the clean one)."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, *, random_view: bool) -> None:
        self.features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.random_view = random_view and self.features.shape[0] > 1

    def __len__(self) -> int:
        return self.features.shape[1]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        view = int(torch.randint(self.features.shape[0], ())) if self.random_view else 0
        return self.features[view, i], int(self.labels[i])


def collate_text(tokenize: Any) -> Any:
    """A collate function turning (text, label) pairs into (token dict, labels)."""

    def collate(batch: list[tuple[str, int]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        texts, labels = zip(*batch, strict=True)
        return tokenize(list(texts)), torch.tensor(labels)

    return collate


__all__ = [
    "ROTATIONS",
    "FeatureDataset",
    "ItemDataset",
    "RandomAffineFill",
    "RotationClasses",
    "collate_text",
    "rotated_label",
    "train_image_transform",
]
