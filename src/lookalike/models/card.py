"""The model card: what an exported model folder says about itself (``lookalike.json``).

A card is enough to rebuild the network's architecture (encoder spec + ``architecture``), to prepare
inputs the way the model was trained (``preprocessing``) and to compare embeddings the right way
(``distance``). ``fingerprint`` identifies the exact weights + card; galleries record it and refuse others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lookalike._version import __version__
from lookalike.config import StrictModel

CARD_FILE = "lookalike.json"
WEIGHTS_FILE = "model.safetensors"
#: fields left out of the fingerprint (they change without changing what the model computes)
_NOT_FINGERPRINTED = {"fingerprint", "created", "lookalike_version", "label_names", "extra"}


class ModelCard(StrictModel):
    """Self-description of an embedding model."""

    encoder: str = Field(description="encoder spec: 'timm:<model>', 'hf:<folder>', 'mlp', 'identity'")
    kind: Literal["image", "text", "vector"]
    embedding_size: int = Field(gt=0)
    distance: dict[str, Any]
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    #: how to rebuild the network without weights: encoder kwargs, feature_dim, head config
    architecture: dict[str, Any] = Field(default_factory=dict)
    label_names: list[str] = Field(default_factory=list)
    #: neighbours of query expansion in every search with this model (0 = none; models.expansion)
    query_expansion: int = Field(default=0, ge=0, le=100)
    #: neighbours each stored item is mixed with before searches rank them (0 = none; models.expansion)
    database_augmentation: int = Field(default=0, ge=0, le=100)
    #: graph neighbours of diffusion re-ranking in every search with this model (0 = none; models.diffusion)
    diffusion: int = Field(default=0, ge=0, le=100)
    fingerprint: str = ""
    lookalike_version: str = __version__
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    extra: dict[str, Any] = Field(default_factory=dict)


def compute_fingerprint(card: ModelCard, tensors: Mapping[str, Any]) -> str:
    """sha256 (hex) over the card's defining fields and every tensor (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    fields = card.model_dump(exclude=_NOT_FINGERPRINTED)
    for name in ("query_expansion", "database_augmentation", "diffusion"):
        if not fields[name]:  # cards from before the field fingerprint as they did
            del fields[name]
    h.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for name in sorted(tensors):
        t = tensors[name]
        arr = t.detach().cpu().contiguous().numpy() if hasattr(t, "detach") else np.ascontiguousarray(t)
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(tuple(arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


__all__ = ["CARD_FILE", "WEIGHTS_FILE", "ModelCard", "compute_fingerprint"]
