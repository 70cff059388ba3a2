"""Families whose network trains on every fold inside the search: from scratch (``backbone: scratch``, e.g. the
``convnet`` encoder) or fine-tuned (``backbone: finetune``: a pretrained timm backbone's or ``hf:`` sentence
encoder's last blocks).

Their "features" in the :class:`~lookalike.fitting.features.FeatureBank` are the prepared model inputs: each
image decoded, squashed to the encoder's input size and normalised once, (n, 3, H, W) float32; for a text
dataset the texts themselves, (n,) object array, tokenized per batch (padded to the batch's longest). Every fold then
trains the whole network on its training classes with the project's own training pieces — the encoder from
the registry, PML loss and miner (:mod:`lookalike.training.losses`), PML's m-per-class sampler, the
:class:`~lookalike.training.module.EmbeddingModule` under a Lightning ``Trainer`` — with the candidate's
augmentation applied per item, exactly as ``lookalike train`` then trains the chosen recipe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lookalike.data.types import LabeledDataset
from lookalike.errors import ConfigError
from lookalike.fitting.space import Candidate, Family, TrainingSpace
from lookalike.models.distances import Distance
from lookalike.models.encoders import HFTextEncoder, build_encoder
from lookalike.models.heads import Head
from lookalike.models.network import EmbeddingNet
from lookalike.training.config import OptimConfig
from lookalike.training.datasets import AugmentBatch, BatchAffine, ItemDataset
from lookalike.training.threads import resolve_threads, torch_threads

log = logging.getLogger(__name__)
EMBED_BATCH = 512


@torch.no_grad()
def prepare_images(dataset: LabeledDataset, family: Family, option: int, *, batch_size: int = 256) -> np.ndarray:
    """(n, 3, H, W) float32: the images as the family's encoder takes them (its eval preprocessing)."""
    from lookalike.models.preprocess import image_transform

    encoder = build_encoder(family.encoder, **family.kwargs(option))
    data = ItemDataset(dataset, transform=image_transform(encoder.preprocessing()), keep_decoded=False)
    return torch.cat([x for x, _ in DataLoader(data, batch_size=batch_size, shuffle=False)]).numpy()


def prepare_inputs(dataset: LabeledDataset, family: Family, option: int) -> np.ndarray:
    """The family's per-fold training inputs: prepared images, or a text dataset's texts (object array)."""
    if dataset.kind == "text":
        return np.array([dataset.load(i) for i in range(len(dataset))], dtype=object)
    if dataset.kind != "image":
        raise ConfigError(
            f"family {family.name!r} trains its network on every fold, which needs images or texts; "
            f"this dataset holds {dataset.kind}s: search a space of frozen-feature families for them"
        )
    return prepare_images(dataset, family, option)


class TextItems(Dataset):
    """(text, label) pairs; the loader's collate tokenizes each batch."""

    def __init__(self, texts: np.ndarray, labels: np.ndarray) -> None:
        self.texts = [str(t) for t in texts]
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[str, int]:
        return self.texts[i], int(self.labels[i])


class TensorImages(Dataset):
    """Prepared image tensors and labels (augmented per batch by the loader's :class:`AugmentBatch`)."""

    def __init__(self, x: np.ndarray, labels: np.ndarray) -> None:
        self.x = torch.from_numpy(x)
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.labels[i])


def rotation_classes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, C, H, W) images and labels → 4n: each class and its 90/180/270-degree rotations as 4 classes."""
    from lookalike.training.datasets import ROTATIONS, rotated_label

    xs = [np.rot90(x, k=k, axes=(2, 3)) for k in range(ROTATIONS)]
    ys = [rotated_label(np.asarray(y), k, int(np.max(y)) + 1) for k in range(ROTATIONS)]
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's per-Trainer banners (GPU available, model summary) and its note that the module's
    validation step goes unused here would drown the search's own lines."""
    import warnings

    names = ("lightning.pytorch", "lightning.fabric", "lightning")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*`validation_step` but have no `val_dataloader`")
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def train_scratch(
    cand: Candidate, family: Family, option: int, x: np.ndarray, y: np.ndarray, training: TrainingSpace,
    dist: Distance, *, batch_size: int, seed: int,
) -> EmbeddingNet:  # fmt: skip
    """The family's network trained from scratch on (x, y) with the candidate's loss, lr, epochs, augmentation."""
    import lightning as L

    from lookalike.data.samplers import m_per_class_loader_kwargs
    from lookalike.training.losses import build_loss, build_miner
    from lookalike.training.module import EmbeddingModule

    sc = family.scratch
    assert sc is not None and cand.loss is not None and cand.augment is not None
    torch.manual_seed(seed)
    np.random.seed(seed)  # PML's MPerClassSampler draws from numpy's global state
    texts = x.dtype == object
    if texts and (cand.rotation_classes or sc.augment[cand.augment].model_dump(exclude_defaults=True)):
        raise ConfigError(
            f"family {family.name!r} trains on texts: image augmentation and rotation classes do not apply; "
            "give it 'augment: {none: {}}' and 'rotation_classes: [false]'"
        )
    if cand.rotation_classes:
        x, y = rotation_classes(x, y)
    encoder = build_encoder(family.encoder, **family.kwargs(option))
    net = EmbeddingNet(encoder=encoder, head=Head(in_dim=encoder.feature_dim, type="none"), distance=dist)
    if family.is_finetune:  # as `lookalike train` does for the exported recipe (model.trainable_blocks)
        from lookalike.training.builder import freeze_all_but_last_blocks

        assert cand.trainable_blocks is not None
        freeze_all_but_last_blocks(encoder, cand.trainable_blocks)
    _, labels = np.unique(y, return_inverse=True)
    loss = build_loss(cand.loss.name, distance=dist, num_classes=int(labels.max()) + 1,
                      embedding_size=net.embedding_size, **cand.loss.params)  # fmt: skip
    miner = build_miner(cand.loss.miner, distance=dist)
    lr = float(cand.lr_head or 1e-3)
    optim = OptimConfig(lr_backbone=lr, lr_head=lr, weight_decay=sc.weight_decay, warmup_epochs=sc.warmup_epochs)
    channels_last = sc.channels_last and not texts
    if channels_last:
        net.to(memory_format=torch.channels_last)
    module = EmbeddingModule(network=net, loss=loss, miner=miner, optim=optim, frozen_backbone=False,
                             freeze_bn=family.is_finetune, channels_last=channels_last)  # fmt: skip
    kw = m_per_class_loader_kwargs(labels, m=training.m_per_class, batch_size=batch_size, seed=seed)
    if texts:
        from lookalike.training.datasets import collate_text

        loader = DataLoader(TextItems(x, labels), collate_fn=collate_text(encoder.tokenize), **kw)
    else:
        augment = BatchAffine.from_config(sc.augment[cand.augment])
        loader = DataLoader(TensorImages(x, labels), collate_fn=AugmentBatch(augment), **kw)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    probe = None if texts else (lambda: torch.from_numpy(x[:batch_size]).contiguous(memory_format=fmt))
    threads = resolve_threads(sc.threads, net, probe)
    with _quiet_lightning(), torch_threads(threads):
        trainer = L.Trainer(
            max_epochs=cand.epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, gradient_clip_val=1.0, num_sanity_val_steps=0, limit_val_batches=0,
            use_distributed_sampler=False, accelerator="auto", devices=1,
        )  # fmt: skip
        trainer.fit(module, train_dataloaders=loader)
    return net.cpu().to(memory_format=torch.contiguous_format).eval()


#: a fold's seconds per trained item over one forward + backward pass's: loss, miner, optimiser step, loader and
#: augmentation (measured 1.45 for the 64-channel Conv-4 on Omniglot, 2026-12-02)
PROBE_OVERHEAD = 1.5


def probe_item_seconds(family: Family, option: int, x: np.ndarray, *, batch_size: int = 64) -> float | None:
    """Seconds per trained item-epoch of the family's network, estimated before its first fold: a fresh network's
    forward + backward passes on one batch of ``x`` at the thread count a fold would use (best of 2 after a warm-up),
    times :data:`PROBE_OVERHEAD`. ``None`` for texts (their cost depends on the batch's lengths) and on a GPU."""
    import time

    if x.dtype == object or torch.cuda.is_available() or family.scratch is None:
        return None
    encoder = build_encoder(family.encoder, **family.kwargs(option)).train()
    xb = torch.from_numpy(x[:batch_size])
    if family.scratch.channels_last:  # as the folds will train
        encoder.to(memory_format=torch.channels_last)
        xb = xb.contiguous(memory_format=torch.channels_last)
    with torch_threads(resolve_threads(family.scratch.threads, encoder, lambda: xb)):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            encoder(xb).float().sum().backward()
            times.append(time.perf_counter() - t0)
    return PROBE_OVERHEAD * min(times[1:]) / len(xb)


@torch.no_grad()
def embed_images(net: EmbeddingNet, x: np.ndarray) -> torch.Tensor:
    """Embeddings (on the net's distance) of prepared images, in batches."""
    from lookalike.evaluation.knn import resolve_device

    device = resolve_device(None)
    net = net.to(device).eval()
    parts = [
        net(torch.from_numpy(x[i : i + EMBED_BATCH]).to(device)).float().cpu() for i in range(0, len(x), EMBED_BATCH)
    ]
    net.cpu()
    return torch.cat(parts)


@torch.no_grad()
def embed_texts(net: EmbeddingNet, texts: np.ndarray, *, batch_size: int = 64) -> torch.Tensor:
    """Embeddings (on the net's distance) of texts, in length-sorted batches padded to their longest text."""
    from lookalike.evaluation.knn import resolve_device

    encoder = net.encoder
    if not isinstance(encoder, HFTextEncoder):
        raise ConfigError(f"embedding texts needs an hf: text encoder, not {type(encoder).__name__}")
    device = resolve_device(None)
    net = net.to(device).eval()
    out = torch.empty(len(texts), net.embedding_size)
    for sel, tokens in encoder.length_batches([str(t) for t in texts], batch_size=batch_size):
        out[torch.as_tensor(sel)] = net({k: v.to(device) for k, v in tokens.items()}).float().cpu()
    net.cpu()
    return out


def embed_inputs(net: EmbeddingNet, x: np.ndarray) -> torch.Tensor:
    """Embeddings of a family's prepared inputs: texts (object array) or images."""
    return embed_texts(net, x) if x.dtype == object else embed_images(net, x)


__all__ = ["PROBE_OVERHEAD", "TensorImages", "TextItems", "embed_images", "embed_inputs", "embed_texts",
           "prepare_images", "prepare_inputs", "probe_item_seconds", "rotation_classes", "train_scratch"]  # fmt: skip
