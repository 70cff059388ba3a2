"""How many torch CPU threads a training should use, measured rather than guessed.

On an idle 2-core machine two threads train a small conv net about 1.6-2x faster than one; on a loaded one they
were 3-9x slower (docs/fit.md). ``"auto"`` times a few forward/backward passes of a copy of the network on a batch
of the training's input shape with one thread and with all of torch's, and keeps the faster.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import nn

Threads = int | Literal["auto"] | None


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` for the block (``None``: unchanged)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fastest_threads(model: nn.Module, make_batch: Callable[[], Any], *, repeats: int = 3) -> int:
    """1 or ``torch.get_num_threads()``, whichever runs forward + backward of a copy of ``model`` faster (best of
    ``repeats``, after one warm-up pass). The copy keeps the model's weights and BatchNorm statistics untouched."""
    most = torch.get_num_threads()
    if most <= 1:
        return 1
    probe = copy.deepcopy(model).train()
    batch = make_batch()
    seconds: dict[int, float] = {}
    for n in (1, most):
        with torch_threads(n):
            times = []
            for _ in range(repeats + 1):
                t0 = time.perf_counter()
                probe(batch).float().sum().backward()
                times.append(time.perf_counter() - t0)
        seconds[n] = min(times[1:])
    return min(seconds, key=lambda n: seconds[n])


def resolve_threads(threads: Threads, model: nn.Module, make_batch: Callable[[], Any] | None) -> int | None:
    """A thread count for ``torch.set_num_threads`` (``None``: torch's default): ``"auto"`` is measured when a
    batch can be made (image inputs), else torch's default."""
    if threads != "auto":
        return threads
    if torch.cuda.is_available():  # the training runs on the GPU; CPU threads hardly matter
        return None
    return fastest_threads(model, make_batch) if make_batch is not None else None


__all__ = ["Threads", "fastest_threads", "resolve_threads", "torch_threads"]
