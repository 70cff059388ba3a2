"""The distances, one class each, usable by PML losses/miners, evaluation and the gallery.

A :class:`Distance` is a small frozen value object, recorded in exported models and galleries as
``to_dict()`` (``name`` + ``params``) and rebuilt by name through the ``DISTANCES`` registry
(:func:`get_distance`). Each subclass owns everything that depends on which distance it is:

- ``embed(x)`` maps raw head outputs into the space the distance lives in (L2-normalise for cosine and
  euclidean, identity for dot, clip + exponential map onto the Poincaré ball for hyperbolic);
- ``pml()`` returns the matching ``pytorch_metric_learning.distances`` object for losses and miners;
- ``scores(q, r)`` / ``pair_scores(a, b)`` return *similarities* — higher is closer, for every distance
  (cosine/dot: the similarity itself; euclidean/hyperbolic: minus the distance), so evaluation and the
  gallery rank and threshold one way;
- ``mean_point(x)`` turns an arithmetic mean of points back into a point of the space (centroids, prototypes);
- ``check_vectors(v, what)`` refuses vectors that do not lie in the space (unit-norm band, ball radius);
- ``faiss_metric`` says how faiss (and pgvector) can search it exactly (``"ip"``, ``"l2"``) or ``None``
  (hyperbolic: exact torch search); ``faiss_scores`` turns faiss's answers into similarities;
- ``knn_operands`` / ``knn_ranking`` / ``knn_scores`` are the CPU kNN's matrix-product form of the ranking,
  and ``knn_bytes_per_pair`` / ``blocked_bytes_per_pair`` its memory per (query, reference) pair.

A new distance is one subclass plus ``DISTANCES.register(name)``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances as pml_distances

from lookalike.errors import ConfigError, DataError
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


#: how far from 1 the norm of a vector for a normalised distance (cosine, euclidean) may be
NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Distance(ABC):
    """Base class of the distances; see the module docstring. Subclasses are frozen dataclasses whose fields
    are the distance's parameters (so equality and ``to_dict`` follow from them)."""

    name: ClassVar[str]
    #: faiss/pgvector metric that searches this distance exactly, or None (exact torch search)
    faiss_metric: ClassVar[Literal["ip", "l2"] | None] = None
    #: bytes per (query, reference) pair: the CPU kNN's tiles, and the blocked (GPU) kNN's score blocks (the
    #: scores, the intermediates of ``scores`` and the working copy ``torch.topk`` makes)
    knn_bytes_per_pair: ClassVar[int] = 48
    blocked_bytes_per_pair: ClassVar[int] = 48

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params}

    # -- geometry -------------------------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Map raw features into this distance's space."""
        return x

    def mean_point(self, x: torch.Tensor) -> torch.Tensor:
        """A point of the space from an arithmetic mean of points (a centroid, a prototype)."""
        return x

    @abstractmethod
    def pml(self) -> pml_distances.BaseDistance:
        """The PML distance object for losses and miners (inputs already passed through :meth:`embed`)."""

    @abstractmethod
    def scores(self, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """(n, m) similarity: higher is closer."""

    @abstractmethod
    def pair_scores(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Row-wise similarity of aligned pairs (a[i], b[i])."""

    def best_score(self, self_similarities: np.ndarray | None = None) -> float:
        """The highest similarity this distance gives (dot: the largest self-similarity among those given)."""
        return 0.0

    # -- the vectors a gallery may store ----------------------------------------------------------------------
    def sq_norm_band(self) -> tuple[float, float]:
        """``[lo, hi)`` for the squared norms of vectors in this space."""
        return 0.0, float("inf")

    def check_vectors(self, v: np.ndarray, what: str = "vectors") -> None:
        """Raise :class:`DataError` unless every row of ``v`` (float32, 2-D) is finite and in this space.

        Fast on the identify hot path: every squared norm inside the band accepts (NaN and inf never are);
        anything else goes to the exact check, which raises or (for huge finite vectors) accepts.
        """
        sq = np.einsum("ij,ij->i", v, v)
        lo, hi = self.sq_norm_band()
        short = len(sq) <= 64  # then a Python loop over a list beats three numpy reductions
        ok = all(lo <= x < hi for x in sq.tolist()) if short else bool(((sq >= lo) & (sq < hi)).all())
        if ok:
            return
        if not np.isfinite(v).all():
            raise DataError(f"{what} contain NaN or infinite values; check the model's output")
        norms = np.linalg.norm(v.astype(np.float64), axis=1)
        if not self._norms_ok(norms):
            raise DataError(
                f"{what} do not lie in the {self.name} space (norms {norms.min():.3g}-{norms.max():.3g}); pass "
                "vectors as the model's embed() returns them, or raw items to the methods that embed"
            )

    def _norms_ok(self, norms: np.ndarray) -> bool:
        """The exact (float64) check behind :meth:`check_vectors`."""
        return True

    # -- search ---------------------------------------------------------------------------------------------
    def faiss_metric_type(self) -> int:
        """faiss's metric constant for :attr:`faiss_metric`."""
        import faiss

        if self.faiss_metric is None:
            raise ConfigError(f"faiss has no metric for the {self.name} distance; search it with torch")
        return int(faiss.METRIC_INNER_PRODUCT if self.faiss_metric == "ip" else faiss.METRIC_L2)

    def faiss_scores(self, d: np.ndarray) -> np.ndarray:
        """Similarities from what a faiss index of :meth:`faiss_metric_type` returns."""
        return d

    def knn_operands(self, q: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(left, right)`` whose product ``left @ right.T`` ranks like ``-scores(q, r)`` (lower = closer),
        or ``None`` when the ranking is ``-scores`` itself."""
        return None

    def knn_ranking(self, product: torch.Tensor) -> torch.Tensor:
        """The ranking distances from ``left @ right.T`` (in place where it changes them)."""
        return product

    def knn_scores(self, ranking: np.ndarray) -> np.ndarray:
        """:meth:`scores` values from ranking distances."""
        return -ranking


@dataclass(frozen=True)
class _InnerProduct(Distance):
    """Similarity = inner product (cosine on the unit sphere, dot anywhere)."""

    faiss_metric: ClassVar[Literal["ip", "l2"] | None] = "ip"
    knn_bytes_per_pair: ClassVar[int] = 12
    blocked_bytes_per_pair: ClassVar[int] = 12

    def scores(self, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return q @ r.T

    def pair_scores(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(-1)

    def knn_operands(self, q: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        return (-q).contiguous(), r.contiguous()


@dataclass(frozen=True)
class _OnUnitSphere(Distance):
    """Embeddings L2-normalised: unit norm (within :data:`NORM_TOLERANCE`), means re-normalised."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)

    def mean_point(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)

    def sq_norm_band(self) -> tuple[float, float]:
        return (1 - NORM_TOLERANCE) ** 2, (1 + NORM_TOLERANCE) ** 2

    def _norms_ok(self, norms: np.ndarray) -> bool:
        return not bool(np.any(np.abs(norms - 1) > NORM_TOLERANCE))


@dataclass(frozen=True)
class CosineDistance(_OnUnitSphere, _InnerProduct):
    """Cosine similarity of L2-normalised embeddings."""

    name: ClassVar[str] = "cosine"

    def pml(self) -> pml_distances.BaseDistance:
        return pml_distances.CosineSimilarity()

    def best_score(self, self_similarities: np.ndarray | None = None) -> float:
        return 1.0


@dataclass(frozen=True)
class DotDistance(_InnerProduct):
    """Dot-product similarity of unnormalised embeddings."""

    name: ClassVar[str] = "dot"

    def pml(self) -> pml_distances.BaseDistance:
        return pml_distances.DotProductSimilarity(normalize_embeddings=False)

    def best_score(self, self_similarities: np.ndarray | None = None) -> float:
        if self_similarities is None or self_similarities.size == 0:
            return 0.0
        return float(np.max(np.diag(self_similarities)))


@dataclass(frozen=True)
class EuclideanDistance(_OnUnitSphere):
    """Euclidean distance between L2-normalised embeddings (similarity: minus the distance)."""

    name: ClassVar[str] = "euclidean"
    faiss_metric: ClassVar[Literal["ip", "l2"] | None] = "l2"
    knn_bytes_per_pair: ClassVar[int] = 12
    blocked_bytes_per_pair: ClassVar[int] = 20

    def pml(self) -> pml_distances.BaseDistance:
        return pml_distances.LpDistance(normalize_embeddings=True, p=2, power=1)

    def scores(self, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(q, r).clamp_min(0)

    def pair_scores(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return -(a - b).norm(dim=-1)

    def faiss_scores(self, d: np.ndarray) -> np.ndarray:
        return -np.sqrt(np.maximum(d, 0))

    def knn_operands(self, q: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        # [-2q, |q|², 1] · [r, 1, |r|²] = |q - r|²: one product, the way faiss and torch.cdist compute it
        ones_q, ones_r = torch.ones(len(q), 1), torch.ones(len(r), 1)
        left = torch.cat([-2 * q, (q * q).sum(1, keepdim=True), ones_q], 1)
        right = torch.cat([r, ones_r, (r * r).sum(1, keepdim=True)], 1)
        return left, right

    def knn_ranking(self, product: torch.Tensor) -> torch.Tensor:
        return product.clamp_min_(0)

    def knn_scores(self, ranking: np.ndarray) -> np.ndarray:
        return -np.sqrt(ranking)


@dataclass(frozen=True)
class HyperbolicDistance(Distance):
    """Geodesic distance on the Poincaré ball of curvature ``c`` (radius ``1/sqrt(c)``); raw features are
    clipped to norm ``clip_r`` before the exponential map (Ermolov et al., CVPR 2022)."""

    name: ClassVar[str] = "hyperbolic"
    c: float = 0.1
    clip_r: float = 2.3

    def __post_init__(self) -> None:
        if not self.c > 0:
            raise ConfigError(f"hyperbolic curvature c must be > 0, got {self.c}; Ermolov et al. use c=0.1")
        object.__setattr__(self, "c", float(self.c))
        object.__setattr__(self, "clip_r", float(self.clip_r))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return hyperbolic.to_ball(x, self.c, self.clip_r)

    def pml(self) -> pml_distances.BaseDistance:
        return PoincareDistance(c=self.c)

    def scores(self, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return -hyperbolic.dist_matrix(q, r, self.c)

    def pair_scores(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return -hyperbolic.dist(a, b, self.c)

    def sq_norm_band(self) -> tuple[float, float]:
        return 0.0, 1 / self.c

    def _norms_ok(self, norms: np.ndarray) -> bool:
        return not bool(np.any(norms >= 1 / np.sqrt(self.c)))


DISTANCES: Registry[Distance] = Registry("distance")
for _cls in (CosineDistance, EuclideanDistance, DotDistance, HyperbolicDistance):
    DISTANCES.register(_cls.name)(_cls)


def get_distance(spec: str | dict[str, Any] | Distance) -> Distance:
    """A :class:`Distance` from a name (``"cosine"``), a dict (``{"name": ..., "params": {...}}``) or itself."""
    if isinstance(spec, Distance):
        return spec
    if isinstance(spec, str):
        return DISTANCES.create(spec)
    try:
        return DISTANCES.create(spec["name"], **spec.get("params", {}))
    except TypeError as err:  # an unknown parameter name
        raise ConfigError(f"bad parameters for distance {spec.get('name')!r}: {err}") from None


__all__ = [
    "DISTANCES",
    "NORM_TOLERANCE",
    "CosineDistance",
    "Distance",
    "DotDistance",
    "EuclideanDistance",
    "HyperbolicDistance",
    "PoincareDistance",
    "get_distance",
]
