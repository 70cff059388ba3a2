"""Micro-batching of identify requests: many concurrent requests, one model forward per batch.

Each request puts its queries on an asyncio queue and awaits a future. One worker task takes the first
waiting request, keeps collecting for up to ``max_wait_ms`` or until ``max_batch_size`` queries are
gathered, then runs the whole batch once — ``run_batch(queries, k)``, which embeds every query in one
``model.embed`` call — in a worker thread so the event loop keeps accepting requests. Each request gets
its own slice back. If a batch fails, its requests are retried one by one, so one bad request cannot fail
its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio.to_thread

log = logging.getLogger("lookalike.service")
R = TypeVar("R")


@dataclass
class _Pending:
    queries: Sequence[Any]
    k: int
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.perf_counter)


class Batcher(Generic[R]):
    """Collects concurrent calls into batches for ``run_batch(queries, k) -> list[R]`` (one result per query).

    Args:
        run_batch: blocking function answering a batch; run in a worker thread.
        max_batch_size: most queries per batch (a single request larger than this runs alone).
        max_wait_ms: how long to wait for more requests once one arrived.
        on_batch: optional callback ``(n_queries, n_requests, seconds)`` after each batch (metrics).
    """

    def __init__(
        self,
        *,
        run_batch: Callable[[list[Any], int], list[R]],
        max_batch_size: int = 32,
        max_wait_ms: float = 4.0,
        on_batch: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._carry: _Pending | None = None

    def _ensure_worker(self) -> asyncio.Queue[_Pending]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._worker(self._queue), name="lookalike-batcher")
        return self._queue

    async def submit(self, queries: Sequence[Any], k: int) -> list[R]:
        """Answer ``queries`` (asking for ``k`` matches each) as part of the next batch."""
        queue = self._ensure_worker()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await queue.put(_Pending(queries=queries, k=k, future=future))
        return await future

    async def close(self) -> None:
        """Stop the worker (pending requests are cancelled)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._task
        self._task = None
        self._queue = None

    async def _collect(self, queue: asyncio.Queue[_Pending]) -> list[_Pending]:
        if self._carry is not None:
            first, self._carry = self._carry, None
        else:
            first = await queue.get()
        batch = [first]
        size = len(batch[0].queries)
        deadline = time.perf_counter() + self.max_wait_ms / 1000.0
        while size < self.max_batch_size:
            nxt: _Pending | None = None
            with contextlib.suppress(asyncio.QueueEmpty):
                nxt = queue.get_nowait()
            if nxt is None:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if size + len(nxt.queries) > self.max_batch_size:
                self._carry = nxt  # too big to join: it starts the next batch
                break
            batch.append(nxt)
            size += len(nxt.queries)
        return batch

    async def _worker(self, queue: asyncio.Queue[_Pending]) -> None:
        self._carry = None
        while True:
            batch = await self._collect(queue)
            batch = [p for p in batch if not p.future.cancelled()]
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[_Pending]) -> None:
        queries = [q for p in batch for q in p.queries]
        k = max(p.k for p in batch)
        started = time.perf_counter()
        try:
            results = await anyio.to_thread.run_sync(self.run_batch, queries, k)
        except Exception:
            if len(batch) == 1:
                await self._answer_alone(batch[0])
                return
            log.debug("batch of %d requests failed; answering them one by one", len(batch))
            for p in batch:
                await self._answer_alone(p)
            return
        if self.on_batch is not None:
            self.on_batch(len(queries), len(batch), time.perf_counter() - started)
        start = 0
        for p in batch:
            part = results[start : start + len(p.queries)]
            start += len(p.queries)
            if not p.future.done():
                p.future.set_result(part)

    async def _answer_alone(self, p: _Pending) -> None:
        started = time.perf_counter()
        try:
            result = await anyio.to_thread.run_sync(self.run_batch, list(p.queries), p.k)
        except Exception as err:
            if not p.future.done():
                p.future.set_exception(err)
            return
        if self.on_batch is not None:
            self.on_batch(len(p.queries), 1, time.perf_counter() - started)
        if not p.future.done():
            p.future.set_result(result)


__all__ = ["Batcher"]
