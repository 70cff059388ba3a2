"""LightningDataModule: m-per-class training batches (DDP-aware), validation in order.

In frozen-backbone mode the datasets are cached features; otherwise decoded items with transforms.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from lookalike.data.samplers import m_per_class_loader_kwargs
from lookalike.models.encoders import HFTextEncoder
from lookalike.models.network import EmbeddingNet
from lookalike.models.preprocess import image_transform
from lookalike.training.builder import Splits
from lookalike.training.config import DataConfig
from lookalike.training.datasets import (
    AugmentBatch,
    BatchAffine,
    FeatureDataset,
    ItemDataset,
    RotationClasses,
    affine_per_batch,
    collate_text,
    train_image_transform,
)
from lookalike.training.features import cached_features


class EmbeddingDataModule(L.LightningDataModule):
    """Builds its datasets in :meth:`setup` (features are cached on disk once, then reused)."""

    def __init__(self, *, splits: Splits, network: EmbeddingNet, data: DataConfig, frozen: bool, seed: int) -> None:
        super().__init__()
        self.splits, self.network, self.cfg, self.frozen, self.seed = splits, network, data, frozen, seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        #: the rotation / shift / zoom runs per batch in the training loader's collate (affine_per_batch)
        self.batch_affine = False

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        enc = self.network.encoder
        tr, va = self.splits.train, self.splits.val
        if self.frozen:
            kw: dict[str, Any] = {"cache_dir": self.cfg.cache_dir, "aug": self.cfg.augment, "seed": self.seed}
            feats = cached_features(enc, tr, views=self.cfg.feature_views, **kw)
            self.train_set = FeatureDataset(feats, tr.labels, random_view=True)
            if va is not None:
                self.val_set = FeatureDataset(cached_features(enc, va, views=1, **kw), va.labels, random_view=False)
            return
        pre = enc.preprocessing()
        self.batch_affine = tr.kind == "image" and affine_per_batch(pre, self.cfg.augment)
        train_tf = None
        if tr.kind == "image":
            train_tf = train_image_transform(pre, self.cfg.augment, batch_affine=self.batch_affine)
        self.train_set = ItemDataset(tr, transform=train_tf)
        if self.cfg.rotation_classes:
            if tr.kind != "image":
                from lookalike.errors import ConfigError

                raise ConfigError("data.rotation_classes rotates images; the training data holds " + tr.kind)
            self.train_set = RotationClasses(self.train_set, len(tr.class_names))
        if va is not None:
            self.val_set = ItemDataset(va, transform=image_transform(pre) if va.kind == "image" else None)

    def _collate(self, *, train: bool = False) -> Any:
        enc = self.network.encoder
        if train and self.batch_affine:
            return AugmentBatch(BatchAffine.from_config(self.cfg.augment))
        return collate_text(enc.tokenize) if isinstance(enc, HFTextEncoder) and not self.frozen else None

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup("fit")
        train_set: Any = self.train_set
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        labels = self.train_set.labels if isinstance(self.train_set, RotationClasses) else self.splits.train.labels
        kw = m_per_class_loader_kwargs(
            labels,
            m=self.cfg.m_per_class,
            batch_size=self.cfg.batch_size,
            world_size=world,
            rank=rank,
            seed=self.seed,
        )
        return DataLoader(
            train_set,
            num_workers=self.cfg.num_workers,
            collate_fn=self._collate(train=True),
            persistent_workers=self.cfg.num_workers > 0,
            **kw,
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return DataLoader(
            self.val_set,
            batch_size=max(64, self.cfg.batch_size),
            shuffle=False,
            num_workers=self.cfg.num_workers,
            collate_fn=self._collate(),
        )


__all__ = ["EmbeddingDataModule"]
