"""Frozen features of the training classes for every feature option of the search space, cached on disk.

A timm family computes the pooled pieces of all its options — each (block, pooling) pair once — in one pass
over the images; an option's features are then its pieces concatenated in its own order, exactly what
:class:`~lookalike.models.encoders.TimmEncoder` with that ``out_block``/``global_pool`` returns. Other
families (pixels, text, vectors) go through :func:`lookalike.training.features.cached_features`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from lookalike.data.types import LabeledDataset
from lookalike.errors import ConfigError
from lookalike.fitting.space import Family
from lookalike.models.encoders import TimmEncoder, _grid_size, _pool, build_encoder
from lookalike.training.features import _items_digest, cached_features

log = logging.getLogger(__name__)
#: (block, pooling, test-time flip)
Piece = tuple[int, str, bool]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def option_pieces(kwargs: dict[str, Any]) -> list[Piece]:
    """The (block, pooling, flip) pieces a timm option concatenates, in order."""
    blocks = _as_list(kwargs.get("out_block", -1))
    pools = _as_list(kwargs.get("global_pool", "avg"))
    flip = bool(kwargs.get("flip", False))
    if len(pools) == 1:
        pools = pools * len(blocks)
    return [(int(b), str(p), flip) for b, p in zip(blocks, pools, strict=True)]


def _piece_name(piece: Piece) -> str:
    b, p, flip = piece
    return f"{b}_{p}_flip" if flip else f"{b}_{p}"


class FeatureBank:
    """Features of one dataset (the training classes) per ``family/option``, computed on first use."""

    def __init__(self, dataset: LabeledDataset, *, cache_dir: str | Path, batch_size: int = 64) -> None:
        self.dataset = dataset
        self.cache_dir = Path(cache_dir).expanduser() / "fit"
        self.batch_size = batch_size
        self._features: dict[str, np.ndarray] = {}
        self._timm: dict[str, dict[Piece, np.ndarray]] = {}
        self.seconds: dict[str, float] = {}

    def has(self, family: Family, option: int) -> bool:
        key = f"{family.name}/{option}"
        return key in self._features or (family.is_timm and family.name in self._timm)

    def get(self, family: Family, option: int) -> np.ndarray:
        """(n, d) float32 features of the dataset for one option; for a family trained on every fold, its
        prepared inputs: (n, 3, H, W) images, or the (n,) texts of a text dataset."""
        key = f"{family.name}/{option}"
        if key in self._features:
            return self._features[key]
        t0 = time.perf_counter()
        kwargs = family.kwargs(option)
        if family.is_scratch:  # trained on every fold: the prepared inputs (images or texts), kept in memory
            from lookalike.fitting.scratch import prepare_inputs

            feats = prepare_inputs(self.dataset, family, option)
        elif family.is_timm:
            pieces = self._timm_pieces(family)
            feats = np.concatenate([pieces[p] for p in option_pieces(kwargs)], axis=1)
        else:
            encoder = build_encoder(family.encoder, **kwargs)
            feats = cached_features(encoder, self.dataset, cache_dir=self.cache_dir.parent, batch_size=self.batch_size)[
                0
            ]
        # texts stay an object array; everything else is float32
        self._features[key] = feats if feats.dtype == object else np.ascontiguousarray(feats, dtype=np.float32)
        self.seconds[family.name] = self.seconds.get(family.name, 0.0) + time.perf_counter() - t0
        return self._features[key]

    def timm_encoder(self, family: Family) -> tuple[TimmEncoder, list[int], list[Piece], dict[str, Any]]:
        """The encoder tapping every block the family's options use, the blocks, the pieces, the base kwargs."""
        wanted = sorted({p for i in range(len(family.options)) for p in option_pieces(family.kwargs(i))})
        base = {k: v for k, v in family.encoder_kwargs.items() if k not in ("out_block", "global_pool", "flip")}
        base.setdefault("pretrained", True)
        blocks = sorted({b for b, _, _ in wanted})
        encoder = build_encoder(family.encoder, out_block=blocks, **base)
        if not isinstance(encoder, TimmEncoder):
            raise ConfigError(f"family {family.name!r}: {family.encoder!r} is not a timm encoder")
        return encoder, blocks, wanted, base

    def probe_seconds(self, family: Family) -> float:
        """Seconds to extract the features of this (small) dataset, encoder set-up and warm-up excluded."""
        if family.is_timm:
            encoder, blocks, wanted, _ = self.timm_encoder(family)
            self._extract(encoder, blocks, wanted)  # warm-up: the first passes allocate and pick kernels
            t0 = time.perf_counter()
            self._extract(encoder, blocks, wanted)
            return time.perf_counter() - t0
        from lookalike.models.preprocess import image_transform
        from lookalike.training.features import _extract

        enc = build_encoder(family.encoder, **family.kwargs(0))
        tf = image_transform(enc.preprocessing()) if self.dataset.kind == "image" else None
        with torch.no_grad():
            _extract(enc.eval(), self.dataset, tf, self.batch_size, 0)  # warm-up
        t0 = time.perf_counter()
        with torch.no_grad():
            _extract(enc.eval(), self.dataset, tf, self.batch_size, 0)
        return time.perf_counter() - t0

    def _timm_pieces(self, family: Family) -> dict[Piece, np.ndarray]:
        if family.name in self._timm:
            return self._timm[family.name]
        encoder, blocks, wanted, base = self.timm_encoder(family)
        meta = {"encoder": family.encoder, "kwargs": base, "pieces": wanted, "items": _items_digest(self.dataset)}
        key = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()[:32]
        path = self.cache_dir / f"{key}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                out = {p: z[_piece_name(p)] for p in wanted}
        else:
            out = self._extract(encoder, blocks, wanted)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            arrays: dict[str, Any] = {_piece_name(p): v for p, v in out.items()}
            np.savez(tmp, **arrays)
            tmp.replace(path)
        self._timm[family.name] = out
        return out

    def seed_training_cache(self, family: Family, option: int, cache_dir: str | Path, seed: int) -> None:
        """Store an option's features where ``lookalike train`` looks for them (same key as it computes), so the
        final training does not extract them again. The features are the very same numbers: the same maps of
        the same blocks, pooled the same way."""
        from lookalike.training.config import AugmentConfig
        from lookalike.training.features import cache_key

        if not family.is_timm:
            return  # other families go through cached_features already (or train from scratch)
        kwargs = {"pretrained": True, **family.kwargs(option)}
        encoder = build_encoder(family.encoder, **kwargs)
        folder = Path(cache_dir).expanduser()
        path = folder / f"{cache_key(encoder, self.dataset, 0, AugmentConfig(), seed)}.npy"
        feats = self.get(family, option)
        if path.is_file() or feats.shape != (len(self.dataset), encoder.feature_dim):
            return
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, feats)
        tmp.replace(path)

    @torch.no_grad()
    def _extract(self, encoder: TimmEncoder, blocks: list[int], wanted: list[Piece]) -> dict[Piece, np.ndarray]:
        from lookalike.models.preprocess import image_transform
        from lookalike.training.datasets import ItemDataset

        encoder.eval()
        data = ItemDataset(self.dataset, transform=image_transform(encoder.preprocessing()), keep_decoded=False)
        log.info("computing %s features (%d pieces) of %d items", encoder.spec, len(wanted), len(self.dataset))
        parts: dict[Piece, list[torch.Tensor]] = {p: [] for p in wanted}
        any_flip = any(f for _, _, f in wanted)
        for x, _ in DataLoader(data, batch_size=self.batch_size, shuffle=False):
            maps = dict(zip(blocks, encoder.feature_maps(x), strict=True))
            mirrored = dict(zip(blocks, encoder.feature_maps(x.flip(-1)), strict=True)) if any_flip else {}
            for b, pool, flip in wanted:
                v = _pool(maps[b], pool, _grid_size(pool)).float()
                if flip:  # what TimmEncoder(flip=True) returns: the mean over the image and its mirror
                    v = (v + _pool(mirrored[b], pool, _grid_size(pool)).float()) / 2
                parts[(b, pool, flip)].append(v)
        return {p: torch.cat(v).numpy() for p, v in parts.items()}


__all__ = ["FeatureBank", "option_pieces"]
