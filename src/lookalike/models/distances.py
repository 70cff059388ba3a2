"""The four distances, each usable by PML losses/miners and by evaluation and the gallery.

A :class:`Distance` is a small value object recorded in exported models (``name`` + ``params``):

- ``embed(x)`` maps raw head outputs into the space the distance lives in (L2-normalise for cosine and
  euclidean, identity for dot, clip + exponential map onto the Poincaré ball for hyperbolic);
- ``pml()`` returns the matching ``pytorch_metric_learning.distances`` object for losses and miners;
- ``scores(q, r)`` returns an (n, m) *similarity* matrix — higher is closer, for every distance
  (cosine/dot: the similarity itself; euclidean/hyperbolic: minus the distance), so evaluation and the
  gallery rank and threshold one way;
- ``faiss_metric`` says how faiss can search it exactly ("ip", "l2") or ``None`` (hyperbolic: torch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances as pml_distances

from lookalike.models import hyperbolic
from lookalike.registry import Registry


class PoincareDistance(pml_distances.BaseDistance):
    """Geodesic distance on the Poincaré ball of curvature ``c`` in PML's distance interface.

    Embeddings must already lie on the ball (the model's head maps them there), so no normalisation.
    """

    def __init__(self, c: float = 0.1, **kwargs: Any) -> None:
        super().__init__(normalize_embeddings=False, is_inverted=False, **kwargs)
        self.c = c

    def compute_mat(self, query_emb: torch.Tensor, ref_emb: torch.Tensor) -> torch.Tensor:
        return hyperbolic.dist_matrix(query_emb, ref_emb, self.c)

    def pairwise_distance(self, query_emb: torch.Tensor, ref_emb: torch.Tensor) -> torch.Tensor:
        return hyperbolic.dist(query_emb, ref_emb, self.c)


DistanceName = Literal["cosine", "euclidean", "dot", "hyperbolic"]


@dataclass(frozen=True)
class Distance:
    """A distance by name with its parameters (hyperbolic: ``c`` curvature, ``clip_r`` feature clipping)."""

    name: DistanceName
    params: dict[str, float] = field(default_factory=dict)

    @property
    def faiss_metric(self) -> Literal["ip", "l2"] | None:
        return {"cosine": "ip", "dot": "ip", "euclidean": "l2"}.get(self.name)  # type: ignore[return-value]

    @property
    def normalized(self) -> bool:
        """Whether embeddings have unit L2 norm after :meth:`embed`."""
        return self.name in ("cosine", "euclidean")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Map raw features into this distance's space."""
        if self.name in ("cosine", "euclidean"):
            return F.normalize(x, dim=-1)
        if self.name == "hyperbolic":
            return hyperbolic.to_ball(x, self.params.get("c", 0.1), self.params.get("clip_r", 2.3))
        return x

    def pml(self) -> pml_distances.BaseDistance:
        """The PML distance object for losses and miners (inputs already passed through :meth:`embed`)."""
        if self.name == "cosine":
            return pml_distances.CosineSimilarity()
        if self.name == "euclidean":
            return pml_distances.LpDistance(normalize_embeddings=True, p=2, power=1)
        if self.name == "dot":
            return pml_distances.DotProductSimilarity(normalize_embeddings=False)
        return PoincareDistance(c=self.params.get("c", 0.1))

    def scores(self, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """(n, m) similarity: higher is closer."""
        if self.name in ("cosine", "dot"):
            return q @ r.T
        if self.name == "euclidean":
            return -torch.cdist(q, r).clamp_min(0)
        return -hyperbolic.dist_matrix(q, r, self.params.get("c", 0.1))

    def pair_scores(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Row-wise similarity of aligned pairs (a[i], b[i])."""
        if self.name in ("cosine", "dot"):
            return (a * b).sum(-1)
        if self.name == "euclidean":
            return -(a - b).norm(dim=-1)
        return -hyperbolic.dist(a, b, self.params.get("c", 0.1))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


DISTANCES: Registry[Distance] = Registry("distance")


@DISTANCES.register("cosine")
def _cosine() -> Distance:
    return Distance("cosine")


@DISTANCES.register("euclidean")
def _euclidean() -> Distance:
    return Distance("euclidean")


@DISTANCES.register("dot")
def _dot() -> Distance:
    return Distance("dot")


@DISTANCES.register("hyperbolic")
def _hyperbolic(c: float = 0.1, clip_r: float = 2.3) -> Distance:
    if c <= 0:
        from lookalike.errors import ConfigError

        raise ConfigError(f"hyperbolic curvature c must be > 0, got {c}; Ermolov et al. use c=0.1")
    return Distance("hyperbolic", {"c": float(c), "clip_r": float(clip_r)})


def get_distance(spec: str | dict[str, Any] | Distance) -> Distance:
    """A :class:`Distance` from a name (``"cosine"``), a dict (``{"name": ..., "params": {...}}``) or itself."""
    if isinstance(spec, Distance):
        return spec
    if isinstance(spec, str):
        return DISTANCES.create(spec)
    return DISTANCES.create(spec["name"], **spec.get("params", {}))


__all__ = ["DISTANCES", "Distance", "PoincareDistance", "get_distance"]
