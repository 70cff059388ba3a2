"""Frozen-backbone mode: encoder features computed once and cached on disk (quaterion's idea).

The cache key covers everything that changes the features: the encoder's weights fingerprint, its spec and
preprocessing, the items (arrays by content; files by path, size and modification time; crop boxes), the
view index and the augmentation settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from lookalike.data.types import LabeledDataset
from lookalike.models.card import compute_fingerprint
from lookalike.models.encoders import Encoder, HFTextEncoder
from lookalike.training.config import AugmentConfig
from lookalike.training.datasets import ItemDataset, collate_text, train_image_transform

log = logging.getLogger(__name__)


def _items_digest(ds: LabeledDataset) -> str:
    """What the items' pixels depend on: arrays by content; files by path, size and modification time (a file
    replaced in place gets new features); zip members by the archive's; and every item's crop box."""
    h = hashlib.sha256()
    if isinstance(ds.items, np.ndarray):
        h.update(np.ascontiguousarray(ds.items).tobytes())
    else:
        files = ds.kind == "image"
        for it in ds.items:
            h.update(it.tobytes() if isinstance(it, np.ndarray) else str(it).encode())
            if files:
                h.update(_file_stamp(it))
            h.update(b"\0")
    h.update(ds.labels.tobytes())
    boxes = [m.get("box") if isinstance(m, dict) else None for m in ds.metadata or []]
    if any(b is not None for b in boxes):
        h.update(json.dumps(boxes, default=str).encode())
    return h.hexdigest()


def _file_stamp(item: Any) -> bytes:
    """Size and modification time of the file an image item reads (nothing for in-memory items)."""
    path = getattr(item, "zip_path", None) or (item if isinstance(item, (str, Path)) else None)
    if path is None:
        return b""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # gone since the scan: loading it will say so
        return b""
    return f"|{st.st_size}|{st.st_mtime_ns}".encode()


def cache_key(
    encoder: Encoder, ds: LabeledDataset, view: int, aug: AugmentConfig, seed: int, *, items: str | None = None
) -> str:
    """The cache file name of one view; ``items``: ``_items_digest(ds)`` when the caller already has it (it stats
    every file, so a caller keying several views computes it once)."""
    enc_fp = getattr(encoder, "_lookalike_fp", None)
    if enc_fp is None:
        enc_fp = compute_fingerprint_of(encoder)
        encoder._lookalike_fp = enc_fp  # type: ignore[attr-defined,assignment]
    meta = {
        "encoder": encoder.spec,
        "weights": enc_fp,
        "pre": encoder.preprocessing(),
        "config": encoder.config(),
        "items": items if items is not None else _items_digest(ds),
        "view": view,
        "aug": aug.model_dump() if view else None,
        "seed": seed if view else None,
    }
    return hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()[:32]


def compute_fingerprint_of(encoder: Encoder) -> str:
    from lookalike.models.card import ModelCard

    card = ModelCard(encoder=encoder.spec, kind=encoder.kind, embedding_size=encoder.feature_dim, distance={})
    return compute_fingerprint(card, encoder.state_dict())


@torch.no_grad()
def _extract(encoder: Encoder, ds: LabeledDataset, transform: Any, batch_size: int, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    data = ItemDataset(ds, transform=transform, keep_decoded=False)
    collate = collate_text(encoder.tokenize) if isinstance(encoder, HFTextEncoder) else None
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate)
    out = [encoder(x).float().cpu() for x, _ in loader]
    return torch.cat(out).numpy()


def cached_features(
    encoder: Encoder,
    ds: LabeledDataset,
    *,
    cache_dir: str | Path,
    views: int = 1,
    aug: AugmentConfig | None = None,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """(views, n, feature_dim) float32 features; view 0 uses eval preprocessing, others the augmentations."""
    aug = aug or AugmentConfig()
    folder = Path(cache_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    was_training = encoder.training
    encoder.eval()
    pre = encoder.preprocessing()
    digest = _items_digest(ds)  # once for every view: it stats each file
    result = []
    try:
        for view in range(views):
            path = folder / f"{cache_key(encoder, ds, view, aug, seed, items=digest)}.npy"
            if path.is_file():
                feats = np.load(path, allow_pickle=False)
                if feats.shape == (len(ds), encoder.feature_dim):
                    result.append(feats)
                    continue
            from lookalike.models.preprocess import image_transform

            tf = None
            if ds.kind == "image":
                tf = image_transform(pre) if view == 0 else train_image_transform(pre, aug)
            log.info("computing %s features of %s (view %d, %d items)", encoder.spec, ds.name, view, len(ds))
            feats = _extract(encoder, ds, tf, batch_size, seed + view)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, feats)
            tmp.replace(path)
            result.append(feats)
    finally:
        encoder.train(was_training)
    return np.stack(result)


__all__ = ["cache_key", "cached_features"]
