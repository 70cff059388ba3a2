"""Exact k-nearest neighbours in blocks, for any :class:`~lookalike.models.distances.Distance`.

The score matrix is never held whole: queries are processed in blocks and references in chunks, so at most
``max_memory_mb`` of scores (plus the running top-k) exist at any time. Every distance is ranked exactly
(cosine, dot, euclidean and hyperbolic).

Two implementations, one contract:

- CPU (:mod:`lookalike.evaluation._cpu_knn`): matrix-product tiles, a group-minimum filter and faiss heaps;
  with queries = references each tile of the upper triangle is computed once and used both ways.
- Other devices (GPU): whole score blocks from ``Distance.scores`` with an exact top-k selection.

Ties are broken deterministically by the lower reference index — also at the k-th place, where a plain
``torch.topk`` picks an arbitrary one of equal scores. This is the order faiss's exact indexes produce, so
results compare one-to-one with PML's ``AccuracyCalculator``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lookalike.errors import DataError, EmbeddingSizeError
from lookalike.evaluation import _cpu_knn
from lookalike.models.distances import Distance, get_distance

log = logging.getLogger(__name__)

_GROUP = 16  # columns per group in _grouped_topk


@dataclass(frozen=True)
class KNNResult:
    """The ``k`` nearest references of each query, best first.

    Attributes:
        indices: (n_queries, k) int64 row numbers into the references.
        scores: (n_queries, k) float32 similarities (``Distance.scores``: higher is closer).
        exclude_self: whether queries and references were the same set, with each query's own row left out.
        distance: name of the distance used.
    """

    indices: np.ndarray
    scores: np.ndarray
    exclude_self: bool
    distance: str

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def labels(self, reference_labels: np.ndarray) -> np.ndarray:
        """(n_queries, k) labels of the neighbours."""
        return np.asarray(reference_labels)[self.indices]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` → CUDA when available, else CPU; anything else as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise DataError(f"unknown device {device!r} ({err}); use 'cpu', 'cuda', 'cuda:0' or 'auto'") from None


def as_matrix(x: Any, what: str) -> torch.Tensor:
    """A float32 (n, d) CPU tensor from a numpy array or tensor, with a clear error otherwise."""
    t = x.detach().to("cpu") if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 2:
        raise EmbeddingSizeError(f"{what} must be a 2-D (items, dimensions) array; got shape {tuple(t.shape)}")
    t = t.to(torch.float32)
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).any(dim=1).sum())
        raise DataError(f"{what} has {bad} rows with NaN or infinite values; fix the model or drop those rows")
    return t


def _ordered(values: torch.Tensor, indices: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First ``k`` candidates per row by (score descending, index ascending)."""
    by_index = torch.argsort(indices, dim=1)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    by_score = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
    return values.gather(1, by_score), indices.gather(1, by_score)


def _block_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` columns per row with ties at the k-th place resolved towards lower column numbers."""
    width = scores.shape[1]
    if k >= width:
        return _ordered(scores, torch.arange(width, device=scores.device).expand_as(scores), width)
    if k * _GROUP * 4 <= width:
        return _grouped_topk(scores, k)
    values, cols = torch.topk(scores, k + 1, dim=1)
    tied = torch.nonzero(values[:, k - 1] == values[:, k]).flatten()
    values, cols = values[:, :k], cols[:, :k]
    if len(tied):  # rare: a stable full sort of the affected rows only
        exact = torch.sort(scores[tied], dim=1, descending=True, stable=True).indices[:, :k]
        cols[tied] = exact
        values[tied] = scores[tied].gather(1, exact)
    return _ordered(values, cols, k)


def _grouped_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` via group maxima: cut each row into groups of ``_GROUP`` columns; the top-k elements
    all lie in the ``k`` groups with the best maxima (under the order score desc, index asc, any element
    outside them would have k better group maxima above it), so only k·_GROUP candidates are ranked fully."""
    rows, width = scores.shape
    full = width // _GROUP * _GROUP
    maxima = scores[:, :full].view(rows, full // _GROUP, _GROUP).amax(dim=2)
    if full < width:
        maxima = torch.cat([maxima, scores[:, full:].amax(dim=1, keepdim=True)], dim=1)
    _, groups = _block_topk(maxima, k)
    groups = torch.sort(groups, dim=1).values  # candidates in increasing column order keep the tie rule
    cols = (groups[:, :, None] * _GROUP + torch.arange(_GROUP, device=scores.device)).flatten(1)
    inside = cols < width
    cols = cols.clamp_max(width - 1)
    cand = scores.gather(1, cols).masked_fill(~inside, float("-inf"))
    values, pos = _block_topk(cand, k)
    return values, cols.gather(1, pos)


def _plan(n_queries: int, n_refs: int, k: int, bytes_per_pair: int, max_memory_mb: float) -> tuple[int, int]:
    """(query block rows, reference chunk columns) so one score block fits ``max_memory_mb``.

    Whole rows where they fit (one selection per query, no merging): measured faster on CPU than narrow
    cache-sized tiles, whose per-chunk merges cost more than they save.
    """
    pairs = max(1, int(max_memory_mb * 2**20 / bytes_per_pair))
    ref_chunk = min(n_refs, max(k + 1, pairs // 64))
    query_block = max(1, min(n_queries, pairs // ref_chunk))
    return query_block, ref_chunk


@torch.no_grad()
def exact_knn(
    queries: Any,
    references: Any | None = None,
    *,
    k: int,
    distance: str | dict[str, Any] | Distance = "cosine",
    max_memory_mb: float = 512.0,
    device: str | torch.device | None = None,
) -> KNNResult:
    """The exact ``k`` nearest references of every query.

    Args:
        queries: (n, d) embeddings, already in the distance's space (``EmbeddingModel.embed`` output).
        references: (m, d) embeddings; ``None`` searches the queries themselves, each query's own row excluded.
        k: neighbours per query; at most the number of references (minus one when searching the queries).
        distance: a :class:`Distance`, its name or its ``to_dict()``.
        max_memory_mb: budget for the blocks of scores held at once; the work is split so they fit in it.
        device: ``"cpu"``, ``"cuda"``; ``None``/``"auto"`` uses CUDA when available. On CPU the search runs
            ``torch.get_num_threads()`` worker threads (torch and faiss are set to one thread each meanwhile and
            restored afterwards; one CPU search runs at a time).
    """
    dist = get_distance(distance)
    q = as_matrix(queries, "queries")
    exclude_self = references is None
    r = q if exclude_self else as_matrix(references, "references")
    if q.shape[1] != r.shape[1]:
        raise EmbeddingSizeError(
            f"queries have {q.shape[1]} dimensions but references have {r.shape[1]}; embed both with the same model"
        )
    available = r.shape[0] - int(exclude_self)
    if not isinstance(k, int) or k < 1 or k > available:
        raise DataError(
            f"k must be an integer in [1, {available}] ({r.shape[0]} references"
            f"{', minus each query itself' if exclude_self else ''}); got {k!r}"
        )
    dev = resolve_device(device)
    log.debug("exact_knn: %d queries x %d references, k=%d on %s", len(q), len(r), k, dev)
    if dev.type == "cpu":
        out_idx, out_val = _cpu_knn.search(q, None if exclude_self else r, k, dist, max_memory_mb)
    else:
        out_idx, out_val = _blocked_topk_knn(q, r, exclude_self, k, dist, max_memory_mb, dev)
    return KNNResult(indices=out_idx, scores=out_val, exclude_self=exclude_self, distance=dist.name)


def _blocked_topk_knn(
    q: torch.Tensor,
    r: torch.Tensor,
    exclude_self: bool,
    k: int,
    dist: Distance,
    max_memory_mb: float,
    dev: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Whole score blocks with exact top-k selection: the GPU path (also runs on CPU, for tests)."""
    qb, rc = _plan(q.shape[0], r.shape[0], k, dist.blocked_bytes_per_pair, max_memory_mb)
    r_dev = r.to(dev)
    out_idx = np.empty((q.shape[0], k), dtype=np.int64)
    out_val = np.empty((q.shape[0], k), dtype=np.float32)
    for q0 in range(0, q.shape[0], qb):
        qblock = q[q0 : q0 + qb].to(dev)
        best_v: torch.Tensor | None = None
        best_i: torch.Tensor | None = None
        for r0 in range(0, r.shape[0], rc):
            s = dist.scores(qblock, r_dev[r0 : r0 + rc]).float()
            if exclude_self:
                rows = torch.arange(len(qblock), device=dev)
                cols = rows + q0 - r0
                inside = (cols >= 0) & (cols < s.shape[1])
                s[rows[inside], cols[inside]] = float("-inf")
            v, i = _block_topk(s, min(k, s.shape[1]))
            i = i + r0
            if best_v is None or best_i is None:
                best_v, best_i = v, i
            else:
                best_v, best_i = _ordered(torch.cat([best_v, v], 1), torch.cat([best_i, i], 1), k)
        assert best_v is not None and best_i is not None  # at least one reference chunk ran
        out_val[q0 : q0 + len(qblock)] = best_v.cpu().numpy()
        out_idx[q0 : q0 + len(qblock)] = best_i.cpu().numpy()
    return out_idx, out_val


__all__ = ["KNNResult", "as_matrix", "exact_knn", "resolve_device"]
