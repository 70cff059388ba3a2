"""Encoders, heads, distances and self-describing model folders.

Public API: :class:`EmbeddingModel`, :func:`load_model`, :func:`save_model`, :class:`ModelCard`,
:class:`Distance` / :func:`get_distance`, and the registries ``ENCODERS``, ``DISTANCES``.
"""

from lookalike.models.card import ModelCard
from lookalike.models.distances import DISTANCES, Distance, get_distance
from lookalike.models.embedder import EmbeddingModel
from lookalike.models.encoders import ENCODERS, build_encoder
from lookalike.models.export import load_model, read_card, save_model

__all__ = [
    "DISTANCES",
    "ENCODERS",
    "Distance",
    "EmbeddingModel",
    "ModelCard",
    "build_encoder",
    "get_distance",
    "load_model",
    "read_card",
    "save_model",
]
