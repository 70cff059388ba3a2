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
    if aug.rotation:
        steps.append(T.RandomRotation(aug.rotation, fill=128))
    if aug.random_resized_crop:
        steps.append(T.RandomResizedCrop(size, scale=(aug.random_resized_crop, 1.0), antialias=True))
    elif pre.get("resize") == "squash":
        steps.append(T.Resize((size, size), antialias=True))
    else:
        steps += [T.Resize(int(size / float(pre.get("crop_pct", 0.875))), antialias=True), T.CenterCrop(size)]
    if aug.hflip:
        steps.append(T.RandomHorizontalFlip())
    if aug.color_jitter:
        j = aug.color_jitter
        steps.append(T.ColorJitter(brightness=j, contrast=j, saturation=j, hue=min(0.5, j / 4)))
    if aug.grayscale:
        steps.append(T.RandomGrayscale(aug.grayscale))
    steps += [T.ToTensor(), T.Normalize(pre.get("mean", [0.5] * 3), pre.get("std", [0.5] * 3))]
    return T.Compose(steps)


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


__all__ = ["FeatureDataset", "ItemDataset", "collate_text", "train_image_transform"]
