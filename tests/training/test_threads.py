"""`threads: auto` measures instead of guessing, and leaves the model it measures untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lookalike.training.config import TrainerConfig
from lookalike.training.threads import fastest_threads, resolve_threads


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_fastest_threads_picks_one_or_all_and_leaves_the_model_alone() -> None:
    net = _net().eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    threads = torch.get_num_threads()
    n = fastest_threads(net, lambda: torch.randn(8, 3, 16, 16))
    assert n in (1, threads)
    assert torch.get_num_threads() == threads  # restored
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics included
    assert not net.training and all(p.grad is None for p in net.parameters())


def test_resolve_threads_passes_numbers_and_none_through(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net()
    assert resolve_threads(3, net, None) == 3
    assert resolve_threads(None, net, None) is None
    assert resolve_threads("auto", net, None) is None  # nothing to measure on (text): torch's default
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_threads("auto", net, lambda: torch.randn(2, 3, 8, 8)) is None  # trains on the GPU


def test_trainer_config_takes_auto_and_refuses_nonsense() -> None:
    assert TrainerConfig(threads="auto").threads == "auto"
    assert TrainerConfig(threads=2).threads == 2
    with pytest.raises(ValueError):
        TrainerConfig(threads=0)
    with pytest.raises(ValueError):
        TrainerConfig(threads="many")
