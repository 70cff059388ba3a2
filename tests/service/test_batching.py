"""The micro-batcher: concurrent requests share model calls; one bad request does not fail its neighbours."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lookalike.service.batching import Batcher


class _Recorder:
    def __init__(self, fail_on: object = None) -> None:
        self.calls: list[list[object]] = []
        self.fail_on = fail_on
        self.threads: set[int] = set()

    def __call__(self, queries: list[object], k: int) -> list[tuple[object, int]]:
        self.calls.append(list(queries))
        self.threads.add(threading.get_ident())
        if self.fail_on in queries:
            raise ValueError(f"bad query {self.fail_on}")
        return [(q, k) for q in queries]


def test_concurrent_requests_are_merged_and_answered_in_order():
    rec = _Recorder()
    batcher = Batcher(run_batch=rec, max_batch_size=64, max_wait_ms=50)

    async def main():
        answers = await asyncio.gather(*(batcher.submit([i, i + 100], k=i % 3 + 1) for i in range(20)))
        await batcher.close()
        return answers

    answers = asyncio.run(main())
    for i, got in enumerate(answers):
        assert [q for q, _ in got] == [i, i + 100]
    assert len(rec.calls) < 5  # 20 requests, 40 queries: merged into a few model calls
    assert sum(len(c) for c in rec.calls) == 40
    assert threading.get_ident() not in rec.threads  # the model ran off the event loop


def test_batches_respect_max_batch_size():
    rec = _Recorder()
    batcher = Batcher(run_batch=rec, max_batch_size=8, max_wait_ms=20)

    async def main():
        await asyncio.gather(*(batcher.submit([i, -i], k=1) for i in range(10)))
        await batcher.close()

    asyncio.run(main())
    assert all(len(c) <= 8 for c in rec.calls) and sum(len(c) for c in rec.calls) == 20


def test_a_failing_request_does_not_fail_the_others():
    rec = _Recorder(fail_on="bad")
    batcher = Batcher(run_batch=rec, max_batch_size=64, max_wait_ms=50)

    async def main():
        return await asyncio.gather(
            batcher.submit(["a"], 1), batcher.submit(["bad"], 1), batcher.submit(["b"], 1), return_exceptions=True
        )

    a, bad, b = asyncio.run(main())
    assert a == [("a", 1)] and b == [("b", 1)]
    assert isinstance(bad, ValueError) and "bad query" in str(bad)


def test_batch_metrics_callback():
    seen: list[tuple[int, int]] = []
    batcher = Batcher(
        run_batch=_Recorder(), max_batch_size=4, max_wait_ms=1, on_batch=lambda q, r, s: seen.append((q, r))
    )

    async def main():
        await batcher.submit([1, 2, 3], 1)
        await batcher.close()

    asyncio.run(main())
    assert seen == [(3, 1)]


@pytest.mark.parametrize("wait_ms", [0.0, 2.0])
def test_single_request_is_answered_without_partners(wait_ms):
    batcher = Batcher(run_batch=_Recorder(), max_batch_size=4, max_wait_ms=wait_ms)
    assert asyncio.run(batcher.submit(["x"], 2)) == [("x", 2)]
