"""Batches with ``m`` items of each of ``batch_size / m`` classes, for one process or several (DDP).

- One process: PML's :class:`~pytorch_metric_learning.samplers.MPerClassSampler`, used as is.
- Several ranks: :class:`DistributedMPerClassSampler` (PML has none), a *batch* sampler. Every epoch all
  ranks build the same global list of batches from a generator seeded with ``(seed, epoch)`` - no
  communication needed - and rank ``r`` takes batches ``r, r + R, r + 2R, ...``. Each class's items are
  shuffled and cut into disjoint groups of ``m``, so within an epoch no item is seen by two ranks, and every
  batch holds exactly ``m`` items of each of its classes.

Classes with fewer than ``m`` items are sampled with replacement (``small_classes="replace"``) or left out
(``"drop"``), with a warning either way. :func:`m_per_class_loader_kwargs` picks the right one for a
``DataLoader``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from torch.utils.data import Sampler

from lookalike.errors import DataError

log = logging.getLogger(__name__)
SmallClasses = Literal["replace", "drop"]


def check_m_per_class(labels: Sequence[int] | np.ndarray, *, m: int, batch_size: int, small_classes: str) -> np.ndarray:
    """Validate the sampler settings against the labels; return labels as int64 (warns on small classes)."""
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1 or len(y) == 0:
        raise DataError("m-per-class sampling needs a non-empty 1-D label array")
    if (y < 0).any():
        raise DataError(f"{int((y < 0).sum())} training items are labelled unknown (-1); leave them out of training")
    if m < 1 or batch_size < m or batch_size % m:
        raise DataError(f"batch_size ({batch_size}) must be a positive multiple of m ({m}), e.g. {m * 8}")
    if small_classes not in ("replace", "drop"):
        raise DataError(f"small_classes must be 'replace' or 'drop'; got {small_classes!r}")
    counts = np.bincount(y)
    present = counts[counts > 0]
    small = int((present < m).sum())
    if small:
        what = "sampled with replacement" if small_classes == "replace" else "left out"
        msg = f"{small} of {len(present)} classes have fewer than m={m} items; they are {what}"
        log.warning(msg)
        warnings.warn(msg, stacklevel=3)
    usable = len(present) - (small if small_classes == "drop" else 0)
    if usable < batch_size // m:
        raise DataError(
            f"a batch of {batch_size} with m={m} needs {batch_size // m} classes but only {usable} are usable; "
            "lower batch_size or m"
        )
    return y


class DistributedMPerClassSampler(Sampler[list[int]]):
    """Batch sampler for DDP: per epoch, disjoint items across ranks; every batch is m-per-class.

    Call :meth:`set_epoch` at the start of every epoch. Lightning does, through ``batch_sampler.sampler``
    (never on a batch sampler itself): :attr:`sampler` is this object so that it finds it; without that every
    epoch repeated epoch 0's batches.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        *,
        m: int,
        batch_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        small_classes: SmallClasses = "replace",
    ) -> None:
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise DataError(f"rank must lie in [0, num_replicas); got rank={rank}, num_replicas={num_replicas}")
        self.labels = check_m_per_class(labels, m=m, batch_size=batch_size, small_classes=small_classes)
        self.m = m
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.small_classes = small_classes
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (same on every rank)."""
        self.epoch = int(epoch)

    @property
    def sampler(self) -> DistributedMPerClassSampler:
        """This sampler: where Lightning looks for ``set_epoch`` (``dataloader.batch_sampler.sampler``)."""
        return self

    def _global_batches(self) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, self.epoch])
        groups: dict[int, list[np.ndarray]] = {}
        for c in np.unique(self.labels):
            idx = rng.permutation(np.nonzero(self.labels == c)[0])
            if len(idx) < self.m:
                if self.small_classes == "drop":
                    continue
                idx = np.concatenate([idx, rng.choice(idx, size=self.m - len(idx), replace=True)])
            n = len(idx) // self.m
            groups[int(c)] = [idx[i * self.m : (i + 1) * self.m] for i in range(n)]
        k = self.batch_size // self.m
        classes = np.array(sorted(groups))
        remaining = np.array([len(groups[c]) for c in classes], dtype=np.float64)
        batches: list[list[int]] = []
        while (remaining > 0).sum() >= k:
            chosen = rng.choice(len(classes), size=k, replace=False, p=remaining / remaining.sum())
            batch: list[int] = []
            for j in chosen:
                batch.extend(groups[int(classes[j])][int(remaining[j]) - 1].tolist())
                remaining[j] -= 1
            batches.append(batch)
        usable = len(batches) - len(batches) % self.num_replicas
        batches = batches[:usable]
        self._cache = (self.epoch, batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._global_batches()[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        return len(self._global_batches()) // self.num_replicas


class _Remapped(Sampler[int]):
    """Indices of an inner sampler mapped through ``index`` (used to drop small classes for PML's sampler)."""

    def __init__(self, inner: Sampler[int], index: np.ndarray) -> None:
        self.inner = inner
        self.index = index

    def __iter__(self) -> Iterator[int]:
        return (int(self.index[i]) for i in self.inner)

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]


def m_per_class_loader_kwargs(
    labels: Sequence[int] | np.ndarray,
    *,
    m: int,
    batch_size: int,
    world_size: int = 1,
    rank: int = 0,
    seed: int = 0,
    small_classes: SmallClasses = "replace",
    epoch_length: int | None = None,
) -> dict[str, Any]:
    """``DataLoader`` keyword arguments for m-per-class batches.

    One process: ``{"sampler": MPerClassSampler, "batch_size": batch_size, "drop_last": True}`` with about
    ``epoch_length`` (default: number of items) items per epoch. Several ranks: ``{"batch_sampler": ...}``.
    """
    if world_size > 1:
        batch_sampler = DistributedMPerClassSampler(
            labels,
            m=m,
            batch_size=batch_size,
            num_replicas=world_size,
            rank=rank,
            seed=seed,
            small_classes=small_classes,
        )
        return {"batch_sampler": batch_sampler}
    from pytorch_metric_learning.samplers import MPerClassSampler

    y = check_m_per_class(labels, m=m, batch_size=batch_size, small_classes=small_classes)
    keep = np.arange(len(y))
    if small_classes == "drop":
        counts = np.bincount(y)
        keep = np.nonzero(counts[y] >= m)[0]
    length = max(batch_size, (epoch_length or len(keep)) // batch_size * batch_size)
    inner = MPerClassSampler(y[keep], m, batch_size=batch_size, length_before_new_iter=length)
    sampler: Sampler[int] = inner if len(keep) == len(y) else _Remapped(inner, keep)
    return {"sampler": sampler, "batch_size": batch_size, "drop_last": True}


__all__ = ["DistributedMPerClassSampler", "check_m_per_class", "m_per_class_loader_kwargs"]
