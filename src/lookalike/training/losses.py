"""PML losses and miners by name, composed with the model's distance.

Two families:

- **pair losses** (``triplet_margin``, ``contrastive``, ``multi_similarity``, ``supcon``, ``ntxent``) compare
  embeddings with each other through ``distance=Distance.pml()`` and work with every distance, hyperbolic
  included (PML flips signs for similarities vs distances).
- **proxy / classification losses** (``arcface``, ``cosface``, ``subcenter_arcface``, ``normalized_softmax``,
  ``proxy_anchor``) hold learnable class weights (their own optimizer group) and compare embeddings with
  them by *cosine* (ArcFace-style losses hard-wire it in PML; the others are given it). They are meaningful
  only where cosine ranks like the model's distance: ``cosine`` and ``euclidean`` (unit-norm embeddings),
  plus ``dot`` for ``normalized_softmax``. Any other combination is refused with a :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytorch_metric_learning import distances as pml_d
from pytorch_metric_learning import losses as L
from pytorch_metric_learning import miners as M
from torch import nn

from lookalike.errors import ConfigError
from lookalike.models.distances import Distance
from lookalike.registry import Registry

ALL_DISTANCES = ("cosine", "euclidean", "dot", "hyperbolic")


@dataclass(frozen=True)
class LossSpec:
    """How to build one loss: ``factory(pml_distance, num_classes, embedding_size, **params)``."""

    build: Callable[..., nn.Module]
    distances: tuple[str, ...]
    has_parameters: bool


LOSSES: Registry[LossSpec] = Registry("loss")
MINERS: Registry[nn.Module | None] = Registry("miner")


def _pair(build: Callable[..., nn.Module]) -> Callable[[], LossSpec]:
    return lambda: LossSpec(build, ALL_DISTANCES, False)


def _contrastive(dist: Any, n: int, d: int, **kw: Any) -> nn.Module:
    pos, neg = (1.0, 0.0) if dist.is_inverted else (0.0, 1.0)  # similarity vs distance margins
    return L.ContrastiveLoss(**{"pos_margin": pos, "neg_margin": neg, **kw}, distance=dist)


LOSSES.register("triplet_margin")(_pair(lambda dist, n, d, **kw: L.TripletMarginLoss(distance=dist, **kw)))
LOSSES.register("contrastive")(_pair(_contrastive))
LOSSES.register("multi_similarity")(_pair(lambda dist, n, d, **kw: L.MultiSimilarityLoss(distance=dist, **kw)))
LOSSES.register("supcon")(_pair(lambda dist, n, d, **kw: L.SupConLoss(distance=dist, **kw)))
LOSSES.register("ntxent")(_pair(lambda dist, n, d, **kw: L.NTXentLoss(distance=dist, **kw)))

_COS = ("cosine", "euclidean")
LOSSES.register("arcface")(
    lambda: LossSpec(lambda dist, n, d, **kw: L.ArcFaceLoss(num_classes=n, embedding_size=d, **kw), _COS, True)
)
LOSSES.register("cosface")(
    lambda: LossSpec(lambda dist, n, d, **kw: L.CosFaceLoss(num_classes=n, embedding_size=d, **kw), _COS, True)
)
LOSSES.register("subcenter_arcface")(
    lambda: LossSpec(lambda dist, n, d, **kw: L.SubCenterArcFaceLoss(num_classes=n, embedding_size=d, **kw), _COS, True)
)
LOSSES.register("proxy_anchor")(
    lambda: LossSpec(
        lambda dist, n, d, **kw: L.ProxyAnchorLoss(n, d, distance=pml_d.CosineSimilarity(), **kw), _COS, True
    )
)


def _normalized_softmax(dist: Any, n: int, d: int, **kw: Any) -> nn.Module:
    inner = pml_d.DotProductSimilarity() if isinstance(dist, pml_d.DotProductSimilarity) else pml_d.CosineSimilarity()
    return L.NormalizedSoftmaxLoss(n, d, distance=inner, **kw)


LOSSES.register("normalized_softmax")(lambda: LossSpec(_normalized_softmax, (*_COS, "dot"), True))


def build_loss(name: str, *, distance: Distance, num_classes: int, embedding_size: int, **params: Any) -> nn.Module:
    """The PML loss ``name`` for ``distance``; refuses combinations that would train a different geometry."""
    spec = LOSSES.create(name)
    if distance.name not in spec.distances:
        raise ConfigError(
            f"loss {name!r} compares embeddings by cosine and does not fit the {distance.name!r} distance; "
            f"use it with {', '.join(spec.distances)}, or pick a pair loss (triplet_margin, contrastive, "
            "multi_similarity, supcon, ntxent) which works with every distance"
        )
    try:
        return spec.build(distance.pml(), num_classes, embedding_size, **params)
    except TypeError as err:
        raise ConfigError(f"loss {name!r}: bad parameters {sorted(params)}: {err}") from None


MINERS.register("none")(lambda distance, **kw: None)
MINERS.register("batch_hard")(lambda distance, **kw: M.BatchHardMiner(distance=distance, **kw))
MINERS.register("semi_hard")(
    lambda distance, **kw: M.TripletMarginMiner(
        distance=distance, **{"margin": 0.1, "type_of_triplets": "semihard", **kw}
    )
)
MINERS.register("multi_similarity")(lambda distance, **kw: M.MultiSimilarityMiner(distance=distance, **kw))


def build_miner(name: str, *, distance: Distance, **params: Any) -> nn.Module | None:
    """The PML miner ``name`` using ``distance`` (``"none"`` → ``None``)."""
    try:
        return MINERS.create(name, distance=distance.pml(), **params)
    except TypeError as err:
        raise ConfigError(f"miner {name!r}: bad parameters {sorted(params)}: {err}") from None


def loss_has_parameters(name: str) -> bool:
    return LOSSES.create(name).has_parameters


__all__ = ["LOSSES", "MINERS", "LossSpec", "build_loss", "build_miner", "loss_has_parameters"]
