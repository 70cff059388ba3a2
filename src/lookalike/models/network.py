"""The embedding network: encoder → head → distance.embed."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lookalike.models.distances import Distance
from lookalike.models.encoders import Encoder
from lookalike.models.heads import Head


class EmbeddingNet(nn.Module):
    """``forward(x)`` = ``distance.embed(head(encoder(x)))``; ``head_only(f)`` for cached features."""

    def __init__(self, *, encoder: Encoder, head: Head, distance: Distance) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.distance = distance

    @property
    def embedding_size(self) -> int:
        return self.head.out_dim

    def head_only(self, features: torch.Tensor) -> torch.Tensor:
        """Embeddings from precomputed encoder features (frozen-backbone mode)."""
        return self.distance.embed(self.head(features).float())

    def forward(self, x: Any) -> torch.Tensor:
        return self.head_only(self.encoder(x))

    def architecture(self) -> dict[str, Any]:
        """What a model card needs to rebuild this network without weights."""
        return {
            "encoder_kwargs": self.encoder.config(),
            "feature_dim": self.encoder.feature_dim,
            "head": self.head.config(),
        }


__all__ = ["EmbeddingNet"]
