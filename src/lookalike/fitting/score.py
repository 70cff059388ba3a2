"""Score one candidate on one class carve-out: fit or train its head on the fold's training classes, then
MAP@R on the fold's validation classes (classes the head never saw), all on cached features.

Trained heads follow ``lookalike train``'s frozen-backbone loop (same head, loss, miner, m-per-class
batches, AdamW with warm-up and cosine decay, gradient clipping) without Lightning's overhead, so a fold costs
seconds. The final model is then trained by ``lookalike train`` itself from the chosen recipe.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from lookalike.data.samplers import DistributedMPerClassSampler
from lookalike.fitting.space import Candidate, Family, TrainingSpace
from lookalike.models.distances import Distance, get_distance
from lookalike.models.heads import Head
from lookalike.models.network import EmbeddingNet
from lookalike.training.losses import build_loss, build_miner
from lookalike.training.metrics import map_at_r
from lookalike.training.module import warmup_cosine
from lookalike.training.whitening import fit_whitening


def batch_size_for(n_classes: int, training: TrainingSpace) -> int:
    """m-per-class batches with at most ``classes_per_batch`` classes, never more than a fold has."""
    return training.m_per_class * max(2, min(training.classes_per_batch, n_classes))


def embed_fold(
    cand: Candidate, x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, training: TrainingSpace,
    *, batch_size: int, seed: int
) -> tuple[torch.Tensor, Distance]:  # fmt: skip
    """Validation embeddings after fitting/training the candidate's head on the fold's training items."""
    dist = get_distance(cand.distance)
    kind = cand.head.kind
    if kind == "none":
        return dist.embed(torch.from_numpy(x_va)), dist
    if kind == "whiten":
        w, b = fit_whitening(x_tr, y_tr, shrink=float(cand.shrink or 0.5), dim=cand.head.head.embedding_size)
        return dist.embed(torch.from_numpy(x_va @ w.T + b)), dist
    head = _train_head(cand, x_tr, y_tr, training, dist, batch_size=batch_size, seed=seed)
    with torch.no_grad():
        return dist.embed(head(torch.from_numpy(x_va)).float()), dist


def _train_head(
    cand: Candidate, x: np.ndarray, y: np.ndarray, t: TrainingSpace, dist: Distance, *, batch_size: int, seed: int
) -> Head:
    torch.manual_seed(seed)
    h = cand.head.head
    head = Head(in_dim=x.shape[1], type=h.type, out_dim=h.embedding_size, hidden=h.hidden, bn=h.bn,
                dropout=h.dropout)  # fmt: skip
    _, labels = np.unique(y, return_inverse=True)
    assert cand.loss is not None
    loss = build_loss(cand.loss.name, distance=dist, num_classes=int(labels.max()) + 1,
                      embedding_size=head.out_dim, **cand.loss.params)  # fmt: skip
    miner = build_miner(cand.loss.miner, distance=dist)
    lr = float(cand.lr_head or 1e-3)
    groups = [{"params": list(head.parameters()), "lr": lr}]
    if any(p.requires_grad for p in loss.parameters()):
        groups.append({"params": list(loss.parameters()), "lr": 1e-2, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4)
    # the seeded m-per-class batch sampler (PML's draws from numpy's global state): folds are reproducible
    sampler = DistributedMPerClassSampler(labels, m=t.m_per_class, batch_size=batch_size, seed=seed)
    data = TensorDataset(torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64)))
    loader = DataLoader(data, batch_sampler=sampler)
    per_epoch = max(1, len(loader))
    total, warmup = per_epoch * cand.epochs, round(t.warmup_epochs * per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, warmup=warmup, total=total, cosine=True))
    head.train()
    for epoch in range(cand.epochs):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            emb = dist.embed(head(xb).float())
            value = loss(emb, yb, miner(emb, yb) if miner is not None else None)
            opt.zero_grad(set_to_none=True)
            value.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            opt.step()
            sched.step()
    return head.eval()


class FoldResult(NamedTuple):
    """A fold's validation MAP@R, and the network trained on the fold (families trained on every fold)."""

    score: float
    net: EmbeddingNet | None = None
    #: seconds per validation item that embedding with ``net`` took (0 for cached features)
    embed_seconds_per_item: float = 0.0
    #: validation MAP@R per (query expansion, database augmentation, diffusion) neighbours; (0, 0, 0) is ``score``
    by_expansion: Mapping[tuple[int, int, int], float] = MappingProxyType({})


def expansion_scores(
    emb: torch.Tensor, labels: np.ndarray, dist: Distance, expansions: Sequence[int],
    augmentations: Sequence[int] = (0,), diffusions: Sequence[int] = (0,),
) -> dict[tuple[int, int, int], float]:  # fmt: skip
    """MAP@R of the validation embeddings searched with each pair of query expansion and database-side
    augmentation, and ranked by each diffusion graph (cosine only) instead: keys ``(expansion, augmentation,
    diffusion)``, ``(0, 0, 0)`` = plain; as evaluate and the gallery search (same depth caps and leave-query-out:
    :mod:`lookalike.models.expansion`, :mod:`lookalike.models.diffusion`)."""
    from lookalike.evaluation.retrieval import diffusion_grid, expansion_grid

    out = {(0, 0, 0): float(map_at_r(emb, torch.from_numpy(labels), dist))}
    if not np.isfinite(out[0, 0, 0]):
        return out
    x = emb.detach().float().numpy()
    if any(expansions) or any(augmentations):
        grid = expansion_grid(x, labels, distance=dist, expansions=[0, *expansions], augmentations=[0, *augmentations])
        out.update({(e, a, 0): float(m.map_at_r) for (e, a), m in grid.items() if (e, a) != (0, 0)})
    if any(diffusions) and dist.name == "cosine":
        graphs = diffusion_grid(x, labels, graphs=[g for g in diffusions if g])
        out.update({(0, 0, g): float(m.map_at_r) for g, m in graphs.items()})
    return out


def fold_score(
    cand: Candidate, feats: np.ndarray, labels: np.ndarray, fold: tuple[np.ndarray, np.ndarray],
    training: TrainingSpace, *, batch_size: int, seed: int, family: Family | None = None, option: int = 0,
    expansions: Sequence[int] = (0,), augmentations: Sequence[int] = (0,), diffusions: Sequence[int] = (0,),
) -> FoldResult:  # fmt: skip
    """MAP@R on the fold's validation classes. With a ``family`` trained on every fold, ``feats`` are its
    prepared inputs (images or texts) and the whole network trains on the fold (:mod:`lookalike.fitting.scratch`)."""
    tr, va = fold
    net = None
    if family is not None and family.is_scratch:
        from lookalike.fitting.scratch import embed_inputs, train_scratch

        dist = get_distance(cand.distance)
        net = train_scratch(cand, family, option, feats[tr], labels[tr], training, dist, batch_size=batch_size,
                            seed=seed)  # fmt: skip
        t0 = time.perf_counter()
        emb = embed_inputs(net, feats[va])
        rate = (time.perf_counter() - t0) / max(1, len(va))
    else:
        emb, dist = embed_fold(cand, feats[tr], labels[tr], feats[va], training, batch_size=batch_size, seed=seed)
        rate = 0.0
    by_k = expansion_scores(emb, labels[va], dist, expansions, augmentations, diffusions)
    return FoldResult(by_k[0, 0, 0], net, rate, by_k)


__all__ = ["FoldResult", "batch_size_for", "embed_fold", "expansion_scores", "fold_score"]
