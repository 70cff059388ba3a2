"""What one running app holds: the gallery, its model, the keys, the batcher, thumbnails and metrics.

Built once by ``create_app`` and kept on ``app.state.service`` — no module-level globals. Blocking gallery
calls go through :meth:`ServiceState.call` (a worker thread). Writes (enroll, remove) are serialised by one
lock so the gallery and the thumbnail table change together; embedding happens before taking it, and
identify batches run beside writes, as the gallery's stores are thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread

from lookalike.service.auth import KeyRing
from lookalike.service.batching import Batcher
from lookalike.service.metrics import ServiceMetrics
from lookalike.service.settings import ServiceSettings
from lookalike.service.thumbnails import ThumbnailStore

T = TypeVar("T")


@dataclass
class ServiceState:
    """The app's collaborators (see the module docstring)."""

    settings: ServiceSettings
    gallery: Any
    keys: KeyRing
    metrics: ServiceMetrics
    thumbnails: ThumbnailStore
    owns_gallery: bool = False
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    batcher: Batcher[Any] | None = None
    #: the gallery's unknown pool (discovery); ``None`` when the gallery is not a folder
    pool: Any = None

    def __post_init__(self) -> None:
        self.batcher = Batcher(
            run_batch=self._identify_batch,
            max_batch_size=self.settings.max_batch_size,
            max_wait_ms=self.settings.batch_wait_ms,
            on_batch=self.metrics.observe_batch,
        )

    @property
    def model(self) -> Any:
        """The gallery's :class:`~lookalike.models.embedder.EmbeddingModel`."""
        return self.gallery.model

    @property
    def model_kind(self) -> str:
        return str(self.model.kind)

    @property
    def input_dim(self) -> int | None:
        """Width of the vectors a vector model takes (``None`` for image and text models)."""
        if self.model_kind != "vector":
            return None
        return int(self.model.card.preprocessing.get("input_dim", self.model.embedding_size))

    def embed(self, items: list[Any]) -> Any:
        """Embed items with the gallery's model (one forward per ``max_batch_size`` items)."""
        return self.model.embed(items, batch_size=max(self.settings.max_batch_size, len(items)))

    def _identify_batch(self, queries: list[Any], k: int) -> list[Any]:
        """One ``model.embed`` call for the whole batch, then one gallery search for all of its vectors."""
        return list(self.gallery.identify_vectors(self.embed(queries), k=k))

    async def call(self, fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
        """Run a blocking gallery call in a worker thread (under the write lock when ``write``)."""

        def run() -> T:
            if write:
                with self.write_lock:
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)

        return await anyio.to_thread.run_sync(run)

    def refresh_gauges(self) -> int:
        """Update the gallery-size gauges (cheap store counts); returns the number of items."""
        sizes = self.gallery.identities()
        items = int(sum(sizes.values()))
        self.metrics.gallery_identities.set(len(sizes))
        self.metrics.gallery_items.set(items)
        return items

    async def close(self) -> None:
        """Stop the batcher; close what this app opened."""
        if self.batcher is not None:
            await self.batcher.close()
        self.thumbnails.close()
        if self.pool is not None:
            self.pool.close()
        if self.owns_gallery:
            self.gallery.close()


__all__ = ["ServiceState"]
