"""What one running app holds: the gallery, its model, the keys, the batcher and metrics.

Built once by ``create_app`` and kept on ``app.state.service`` — no module-level globals. Blocking gallery
calls go through :meth:`ServiceState.call` (a worker thread). Writes (enroll, remove) are serialised by one
lock; embedding happens before taking it, and
identify batches run beside writes, as the gallery's stores are thread-safe.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread

from lookalike.service.auth import KeyRing
from lookalike.service.batching import Batcher
from lookalike.service.metrics import ServiceMetrics
from lookalike.service.settings import ServiceSettings

T = TypeVar("T")


def face_thumbnail(image: Any, box: Any, *, size: int) -> bytes:
    """A small JPEG of one face: its box widened by a quarter on each side, clipped to the image."""
    from lookalike.service.limits import make_thumbnail

    left, top, right, bottom = box
    mx, my = (right - left) // 4, (bottom - top) // 4
    w, h = image.size
    crop = image.crop((max(0, left - mx), max(0, top - my), min(w, right + mx), min(h, bottom + my)))
    try:
        return make_thumbnail(crop, size=size)
    finally:
        crop.close()


@dataclass(frozen=True)
class NoFace:
    """An upload to a face model in which no face was found, left out because the caller asked to skip it."""

    reason: str


@dataclass
class ServiceState:
    """The app's collaborators (see the module docstring)."""

    settings: ServiceSettings
    gallery: Any
    keys: KeyRing
    metrics: ServiceMetrics
    owns_gallery: bool = False
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    batcher: Batcher[Any] | None = None
    decode_slots: threading.Semaphore = field(init=False)
    #: the gallery's unknown pool (discovery); ``None`` when the gallery is not a folder
    pool: Any = None

    def __post_init__(self) -> None:
        self.decode_slots = threading.BoundedSemaphore(self.settings.decode_concurrency)
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

    def prepare_image(self, image: Any) -> Any:
        """A decoded upload → the model's input tensor (1, C, H, W): small, so the picture can be dropped."""
        return self.model.prepare([image])

    def embed(self, items: list[Any]) -> Any:
        """Embed items with the gallery's model; images arrive as inputs made by :meth:`prepare_image`."""
        import torch

        if items and isinstance(items[0], torch.Tensor):
            return self.model.embed_prepared(torch.cat(items), batch_size=self.settings.max_batch_size)
        return self.model.embed(items, batch_size=max(self.settings.max_batch_size, len(items)))

    def prepare_faces(
        self, *, skip_no_face: bool = False, thumbnails: list[list[bytes]] | None = None
    ) -> Callable[[Any], Any]:
        """Face models: a decoded upload → its faces (box + vector each), so the picture can be dropped.

        Images are numbered from 1 in the order they are prepared, for the no-face error's message. With
        ``skip_no_face`` an image without a face becomes a :class:`NoFace` (its reason) instead of failing the
        request; :meth:`split_no_face` then separates them. With ``thumbnails`` (a list to fill), a small picture
        of each face (its box, with a margin) is appended per image, in the faces' order, while the picture is
        still decoded: what the unknown pool keeps for discovery's contact sheets.
        """
        from lookalike.errors import NoFaceError

        count = itertools.count(1)
        size = self.settings.thumbnail_size

        def prepare(image: Any) -> Any:
            try:
                found = self.model.embed_faces(image, name=f"image {next(count)}")
            except NoFaceError as err:
                if not skip_no_face:
                    raise
                found = NoFace(str(err))
            if thumbnails is not None:
                boxes = [] if isinstance(found, NoFace) else [f.box for f in found]
                thumbnails.append([face_thumbnail(image, box, size=size) for box in boxes])
            return found

        return prepare

    @staticmethod
    def split_no_face(prepared: list[Any]) -> tuple[list[int], list[dict[str, Any]]]:
        """Indices of the images that have faces, and ``{image, reason}`` for each one left out (no face)."""
        kept = [i for i, p in enumerate(prepared) if not isinstance(p, NoFace)]
        skipped = [{"image": i, "reason": p.reason} for i, p in enumerate(prepared) if isinstance(p, NoFace)]
        return kept, skipped

    @staticmethod
    def largest_faces(prepared: list[Any], images: list[int]) -> tuple[Any, list[dict[str, Any]]]:
        """Face models: from :meth:`prepare_faces` outputs, the largest face of each image (vectors) and, per
        image (its upload index from ``images``), its box and the face count."""
        import numpy as np

        vectors = np.stack([found[0].vector for found in prepared])
        faces = [
            {"image": i, "box": list(found[0].box), "detected": found[0].detected, "faces_in_image": len(found)}
            for i, found in zip(images, prepared, strict=True)
        ]
        return vectors, faces

    def identify_faces(self, prepared: list[Any], k: int) -> list[tuple[int, Any]]:
        """Face models: (image index, FaceIdentification) for every face of every image, images in order;
        images left out by ``skip_no_face`` (:class:`NoFace`) give no result."""
        import numpy as np

        from lookalike.gallery.results import FaceIdentification

        out: list[tuple[int, Any]] = []
        for i, found in enumerate(prepared):
            if isinstance(found, NoFace):
                continue
            results = self.gallery.identify_vectors(np.stack([f.vector for f in found]), k=k)
            out += [
                (i, FaceIdentification(f.box, r, f.detected, f.vector)) for f, r in zip(found, results, strict=True)
            ]
        return out

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
        """Update the gallery-size gauges from the store's counts (no per-identity listing); returns the number
        of items."""
        items = len(self.gallery)
        self.metrics.gallery_identities.set(self.gallery.store.identity_count())
        self.metrics.gallery_items.set(items)
        return items

    async def close(self) -> None:
        """Stop the batcher; close what this app opened."""
        if self.batcher is not None:
            await self.batcher.close()
        if self.pool is not None:
            self.pool.close()
        if self.owns_gallery:
            self.gallery.close()


__all__ = ["ServiceState"]
