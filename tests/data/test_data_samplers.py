"""m-per-class sampling: PML's sampler for one process, the DDP-aware batch sampler for several ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lookalike.data.samplers import DistributedMPerClassSampler, m_per_class_loader_kwargs
from lookalike.errors import DataError


def toy_labels() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.repeat(np.arange(12), rng.integers(4, 15, size=12))


def assert_m_per_class(batch: list[int], labels: np.ndarray, m: int, batch_size: int) -> None:
    assert len(batch) == batch_size
    values, counts = np.unique(labels[batch], return_counts=True)
    assert (counts == m).all(), dict(zip(values.tolist(), counts.tolist(), strict=True))


def test_two_ranks_get_disjoint_items_and_m_per_class_batches() -> None:
    labels, m, bs = toy_labels(), 4, 16
    ranks = [DistributedMPerClassSampler(labels, m=m, batch_size=bs, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    seen_per_epoch = []
    for epoch in range(3):
        per_rank = []
        for s in ranks:
            s.set_epoch(epoch)
            batches = list(s)
            assert len(batches) == len(s) > 0
            for b in batches:
                assert_m_per_class(b, labels, m, bs)
            items = [i for b in batches for i in b]
            assert len(items) == len(set(items))  # no item twice within a rank's epoch
            per_rank.append(set(items))
        assert not per_rank[0] & per_rank[1]  # disjoint across ranks
        assert len(ranks[0]) == len(ranks[1])  # same number of steps, or DDP would hang
        seen_per_epoch.append(per_rank[0])
    assert seen_per_epoch[0] != seen_per_epoch[1]  # set_epoch reshuffles


def test_small_classes_replaced_or_dropped_with_warning() -> None:
    labels = np.array([0] * 8 + [1] * 8 + [2] * 2 + [3] * 8)
    with pytest.warns(UserWarning, match="1 of 4 classes have fewer than m=4 items; they are sampled with replacement"):
        DistributedMPerClassSampler(labels, m=4, batch_size=8, num_replicas=2, rank=0)
    with pytest.warns(UserWarning, match="left out"):
        dropped = DistributedMPerClassSampler(labels, m=4, batch_size=8, small_classes="drop")
    assert all(2 not in labels[b] for b in dropped)


def test_replaced_small_class_fills_whole_groups() -> None:
    labels = np.array([0] * 2 + [1] * 4)
    with pytest.warns(UserWarning):
        s = DistributedMPerClassSampler(labels, m=4, batch_size=8, seed=1)
    (batch,) = list(s)
    assert_m_per_class(batch, labels, 4, 8)
    assert {0, 1} <= set(batch)


def test_single_process_uses_pml_sampler_in_a_dataloader() -> None:
    from pytorch_metric_learning.samplers import MPerClassSampler

    labels = toy_labels()
    kwargs = m_per_class_loader_kwargs(labels, m=2, batch_size=8)
    assert isinstance(kwargs["sampler"], MPerClassSampler)
    ds = TensorDataset(torch.arange(len(labels)), torch.as_tensor(labels))
    batches = list(DataLoader(ds, **kwargs))
    assert len(batches) == len(labels) // 8
    for _, y in batches:
        assert_m_per_class(list(range(8)), y.numpy(), 2, 8)


def test_loader_kwargs_for_several_ranks_and_drop() -> None:
    labels = np.array([0] * 6 + [1] * 6 + [2] * 1 + [3] * 6)
    with pytest.warns(UserWarning):
        kw = m_per_class_loader_kwargs(labels, m=3, batch_size=6, world_size=2, rank=1)
    assert isinstance(kw["batch_sampler"], DistributedMPerClassSampler) and kw["batch_sampler"].rank == 1
    with pytest.warns(UserWarning):
        kw = m_per_class_loader_kwargs(labels, m=3, batch_size=6, small_classes="drop")
    assert 12 not in set(kw["sampler"])


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(DataError, match="multiple of m"):
        DistributedMPerClassSampler([0, 0, 1, 1], m=3, batch_size=4)
    with pytest.raises(DataError, match="needs 4 classes but only 2"):
        DistributedMPerClassSampler([0, 0, 1, 1], m=2, batch_size=8)
    with pytest.raises(DataError, match="unknown"):
        m_per_class_loader_kwargs([0, 0, -1], m=2, batch_size=2)
    with pytest.raises(DataError, match="rank"):
        DistributedMPerClassSampler([0, 0, 1, 1], m=2, batch_size=4, num_replicas=2, rank=2)
