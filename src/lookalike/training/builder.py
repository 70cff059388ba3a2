"""The one place a :class:`TrainConfig` becomes objects: data, network, loss, miner, LightningModule."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from torch import nn

from lookalike.data.resolve import as_protocol
from lookalike.data.types import LabeledDataset
from lookalike.errors import ConfigError
from lookalike.models.distances import get_distance
from lookalike.models.encoders import Encoder, HFTextEncoder, build_encoder
from lookalike.models.heads import Head
from lookalike.models.network import EmbeddingNet
from lookalike.training.config import TrainConfig
from lookalike.training.losses import build_loss, build_miner
from lookalike.training.module import EmbeddingModule

log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: LabeledDataset
    val: LabeledDataset | None


@dataclass
class Built:
    """Everything a run needs, built from the config."""

    config: TrainConfig
    splits: Splits
    network: EmbeddingNet
    module: EmbeddingModule


def build_splits(cfg: TrainConfig) -> Splits:
    """Training and validation datasets; validation classes are always carved from training classes."""
    protocol = as_protocol(cfg.data.protocol, on_bad=cfg.data.on_bad)
    if cfg.data.train_classes == "all":  # the final fit: every training class, validation ones included
        return Splits(train=_without(protocol.with_val(None).dataset("train"), cfg.data.exclude_classes), val=None)
    if cfg.data.val is not None:
        protocol = protocol.with_val(cfg.data.val)
    if protocol.val is None:
        raise ConfigError(f"protocol {protocol.name!r} has no val section; set data.val.fraction (e.g. 0.2)")
    return Splits(train=_without(protocol.dataset("train"), cfg.data.exclude_classes), val=protocol.dataset("val"))


def _without(ds: LabeledDataset, excluded: list[str]) -> LabeledDataset:
    """``ds`` minus the ``data.exclude_classes`` (relabelled 0..k-1 in their order)."""
    if not excluded:
        return ds
    from lookalike.data.splits import keep_classes

    left_out = set(excluded)
    unknown = sorted(left_out - set(ds.class_names))
    if unknown:
        raise ConfigError(f"data.exclude_classes names {unknown[:10]}, which are not training classes of {ds.name}")
    kept = [c for c in ds.class_names if c not in left_out]
    if len(kept) < 2:
        raise ConfigError(f"data.exclude_classes leaves {len(kept)} training class(es); at least 2 are needed")
    return keep_classes(ds, kept, name=ds.name)


def freeze_all_but_last_blocks(encoder: Encoder, k: int) -> None:
    """Train only the last ``k`` blocks (+ the layers after them) of a timm backbone, or the last ``k``
    transformer layers of an ``hf:`` text encoder; freeze the rest."""
    if isinstance(encoder, HFTextEncoder):
        encoder.freeze_lower_layers(k)
        return
    backbone = getattr(encoder, "backbone", None)
    if backbone is None:
        raise ConfigError(f"trainable_blocks applies to timm backbones, not {encoder.spec!r}")
    seq_name = next(
        (n for n in ("blocks", "stages", "layers") if isinstance(getattr(backbone, n, None), nn.Sequential)), None
    )
    if seq_name is None:
        raise ConfigError(f"{encoder.spec}: cannot find its blocks (blocks/stages/layers) for trainable_blocks")
    backbone.requires_grad_(False)
    names = [n for n, _ in backbone.named_children()]
    blocks = getattr(backbone, seq_name)
    for block in list(blocks)[len(blocks) - k :] if k else []:
        block.requires_grad_(True)
    for later in names[names.index(seq_name) + 1 :]:  # conv_head, bn2, norms after the blocks
        getattr(backbone, later).requires_grad_(True)


def build_network(cfg: TrainConfig) -> EmbeddingNet:
    m = cfg.model
    encoder = build_encoder(m.encoder, **m.encoder_kwargs.kwargs())
    h = m.head
    head = Head(
        in_dim=encoder.feature_dim,
        type=h.type,
        out_dim=h.embedding_size,
        hidden=h.hidden,
        bn=h.bn,
        dropout=h.dropout,
        init=h.init,
    )
    net = EmbeddingNet(encoder=encoder, head=head, distance=get_distance(m.distance))
    if m.backbone == "finetune" and m.trainable_blocks is not None:
        freeze_all_but_last_blocks(encoder, m.trainable_blocks)
    return net


def build(cfg: TrainConfig) -> Built:
    """Datasets, network, loss, miner and the LightningModule for ``cfg``."""
    splits = build_splits(cfg)
    num_classes = len(splits.train.class_names)
    network = build_network(cfg)
    if splits.train.kind != network.encoder.kind:
        raise ConfigError(
            f"the data holds {splits.train.kind} items but encoder {cfg.model.encoder!r} takes {network.encoder.kind}"
        )
    if cfg.data.rotation_classes:  # every class's rotations are classes of their own (proxy losses count them)
        from lookalike.training.datasets import ROTATIONS

        num_classes *= ROTATIONS
    loss = build_loss(
        cfg.loss.name,
        distance=network.distance,
        num_classes=num_classes,
        embedding_size=network.embedding_size,
        **cfg.loss.params,
    )
    miner = build_miner(cfg.loss.miner, distance=network.distance, **cfg.loss.miner_params)
    module = EmbeddingModule(
        network=network,
        loss=loss,
        miner=miner,
        optim=cfg.optim,
        frozen_backbone=cfg.model.backbone == "frozen",
        freeze_bn=cfg.model.freeze_bn,
        channels_last=cfg.trainer.channels_last,
    )
    if isinstance(network.encoder, HFTextEncoder) and cfg.trainer.channels_last:
        raise ConfigError("trainer.channels_last applies to image models only")
    return Built(config=cfg, splits=splits, network=network, module=module)


__all__ = ["Built", "Splits", "build", "build_network", "build_splits", "freeze_all_but_last_blocks"]
