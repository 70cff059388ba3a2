"""Torch datasets for training: decoded items with transforms, or cached backbone features."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lookalike.data.types import LabeledDataset
from lookalike.models.preprocess import to_pil
from lookalike.training.config import AugmentConfig


def affine_per_batch(pre: dict[str, Any], aug: AugmentConfig) -> bool:
    """Whether the rotation / shift / zoom runs on whole batches (:class:`BatchAffine` in the loader's collate)
    instead of per item: when it moves the squashed input (it would come right after the resize anyway), where
    a batch draws the same transforms as items do at a fraction of the cost."""
    squash_first = pre.get("resize") == "squash" and not aug.random_resized_crop
    return squash_first and bool(aug.rotation or aug.translate or aug.scale) and pre.get("face") is None


def train_image_transform(pre: dict[str, Any], aug: AugmentConfig, *, batch_affine: bool = False) -> Any:
    """Eval preprocessing plus the configured augmentations (random crop replaces the deterministic resize).
    ``batch_affine``: leave out the rotation / shift / zoom, which the loader then applies per batch
    (:func:`affine_per_batch`)."""
    from torchvision import transforms as T

    from lookalike.models.preprocess import gaussian_blur

    if pre.get("face") is not None:
        from lookalike.errors import ConfigError

        raise ConfigError(
            "image augmentations are not supported for face encoders (their input is a detected, aligned chip): "
            "use model.backbone: frozen with data.feature_views: 1 and train the head on the cached features"
        )
    size = int(pre.get("input_size", 224))
    steps: list[Any] = []
    affine = None if batch_affine else RandomAffineFill.from_config(aug)
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
    steps += gaussian_blur(pre)
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


class BatchAffine(torch.nn.Module):
    """:class:`RandomAffineFill` for whole (N, C, H, W) batches, a new draw per image from the same distribution
    (torchvision's: angle and zoom uniform, shifts in whole pixels) and the same fill, in one ``grid_sample`` call:
    about 0.04 ms an image at 28 px against 0.56 ms for one torchvision call per item, which made augmentation a
    quarter of a small CNN's training time. Written here because kornia's batched ``RandomAffine`` draws sub-pixel
    shifts (every shifted image blurred, unlike the per-item path and unlike the sharp images it is tested on)
    and has no per-image fill."""

    def __init__(self, *, degrees: float, translate: float, scale: float, fill: str) -> None:
        super().__init__()
        self.degrees, self.translate, self.scale, self.fill = degrees, translate, scale, fill

    @classmethod
    def from_config(cls, aug: AugmentConfig) -> BatchAffine | None:
        if not (aug.rotation or aug.translate or aug.scale):
            return None
        return cls(degrees=aug.rotation, translate=aug.translate, scale=aug.scale, fill=aug.fill)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        uniform = lambda: torch.rand(n, dtype=torch.float64) * 2 - 1  # noqa: E731
        angle = uniform() * self.degrees
        tx, ty = torch.round(uniform() * self.translate * w), torch.round(uniform() * self.translate * h)
        return self.apply_params(x, angle, tx, ty, 1 + uniform() * self.scale)

    def apply_params(
        self, x: torch.Tensor, degrees: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, zoom: torch.Tensor
    ) -> torch.Tensor:
        """Each image turned by ``degrees`` and zoomed about its centre, then shifted by (tx, ty) pixels."""
        import torch.nn.functional as F

        _, _, h, w = x.shape
        angle = torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float64))
        tx, ty = torch.as_tensor(tx, dtype=torch.float64), torch.as_tensor(ty, dtype=torch.float64)
        zoom = torch.as_tensor(zoom, dtype=torch.float64)
        # the inverse map (output pixel -> input pixel) in grid_sample's normalised coordinates, x by 2/w, y by 2/h
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([
            torch.stack([cos, sin * h / w, -(cos * tx + sin * ty) * 2 / w], 1),
            torch.stack([-sin * w / h, cos, (sin * tx - cos * ty) * 2 / h], 1),
        ], 1).to(x.dtype)  # fmt: skip
        if self.fill == "border":
            border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2)
            fill = border.median(dim=2).values[:, :, None, None]
        else:
            fill = torch.zeros_like(x[:, :, :1, :1])
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


class AugmentBatch:
    """A DataLoader ``collate_fn``: stacks (tensor, label) items and applies a batch augmentation to the images."""

    def __init__(self, augment: BatchAffine | None) -> None:
        self.augment = augment

    @torch.no_grad()
    def __call__(self, items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.stack([x for x, _ in items])
        y = torch.as_tensor([y for _, y in items], dtype=torch.long)
        return (self.augment(x) if self.augment is not None else x), y


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
    "AugmentBatch",
    "BatchAffine",
    "FeatureDataset",
    "ItemDataset",
    "RandomAffineFill",
    "RotationClasses",
    "affine_per_batch",
    "collate_text",
    "rotated_label",
    "train_image_transform",
]
