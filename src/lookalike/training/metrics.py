"""Validation metric for training: MAP@R (Musgrave et al., "A Metric Learning Reality Check", 2020).

Every item is a query; the references are all *other* items. For a query of class y with R other items of
class y, MAP@R = (1/R) Σ_{i≤R} P(i)·rel(i) over the top-R neighbours. Kept here (not in evaluation, a higher
layer) because checkpoint selection needs it; computed in chunks so memory stays O(chunk·n).
"""

from __future__ import annotations

import numpy as np
import torch

from lookalike.models.distances import Distance


def map_at_r(
    embeddings: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, distance: Distance, *, chunk: int = 1024
) -> float:
    """Mean MAP@R over queries that have at least one other item of their class (others are skipped)."""
    emb = torch.as_tensor(np.asarray(embeddings) if isinstance(embeddings, np.ndarray) else embeddings).float()
    lab = torch.as_tensor(np.asarray(labels) if isinstance(labels, np.ndarray) else labels).long()
    n = len(lab)
    counts = torch.bincount(lab - lab.min()) if n else torch.zeros(0, dtype=torch.long)
    r_all = counts[lab - lab.min()] - 1 if n else lab
    max_r = int(r_all.max()) if n else 0
    if max_r <= 0:
        return float("nan")
    total, used = 0.0, 0
    for start in range(0, n, chunk):
        q = slice(start, min(n, start + chunk))
        sims = distance.scores(emb[q], emb)
        idx = torch.arange(q.start, q.stop)
        sims[torch.arange(len(idx)), idx] = -float("inf")  # the query is not its own reference
        top = sims.topk(max_r, dim=1).indices  # (b, max_r)
        rel = (lab[top] == lab[q, None]).float()
        r = r_all[q]
        ranks = torch.arange(1, max_r + 1, dtype=torch.float32)
        within = (ranks[None, :] <= r[:, None]).float()
        rel = rel * within
        prec = rel.cumsum(1) / ranks[None, :]
        ap = (prec * rel).sum(1) / r.clamp_min(1).float()
        keep = r > 0
        total += float(ap[keep].sum())
        used += int(keep.sum())
    return total / max(used, 1)


__all__ = ["map_at_r"]
