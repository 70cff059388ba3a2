"""``EmbeddingModel``: a network plus its card; embeds images, texts or vectors into distance space."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lookalike.errors import ConfigError, DataError
from lookalike.models.card import ModelCard, compute_fingerprint
from lookalike.models.diffusion import check_diffusion, check_diffusion_alone, check_diffusion_distance
from lookalike.models.distances import Distance, get_distance
from lookalike.models.encoders import HFTextEncoder, IdentityEncoder
from lookalike.models.expansion import check_expansion
from lookalike.models.heads import Head
from lookalike.models.network import EmbeddingNet
from lookalike.models.preprocess import image_batch, image_transform, vector_batch

if TYPE_CHECKING:
    from lookalike.data.types import LabeledDataset
    from lookalike.models.faces.detect import FaceEmbedding

log = logging.getLogger(__name__)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def check_texts(items: Sequence[Any] | np.ndarray) -> list[str]:
    """``items`` as a list of strings a tokenizer can take, or :class:`DataError` naming the first bad one."""
    texts = list(items)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"this is a text model; items must be strings, got {type(text).__name__} (item {i})")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise DataError(
                f"text {i} is not valid Unicode: character {err.start} is a lone surrogate "
                f"U+{ord(text[err.start]):04X} (a broken \\u escape, or bytes decoded with errors='surrogateescape'); "
                "send valid UTF-8 text"
            ) from None
    return texts


class EmbeddingModel:
    """A ready-to-use embedder: ``embed(items)`` → float32 (n, d) already in the distance's space.

    Build one with :func:`~lookalike.models.export.load_model`, :meth:`from_network` or :meth:`for_vectors`.
    """

    def __init__(self, *, network: EmbeddingNet, card: ModelCard) -> None:
        self.network = network.eval()
        self.card = card
        self._transform: Any = None

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def from_network(
        cls,
        network: EmbeddingNet,
        *,
        label_names: Sequence[str] = (),
        extra: dict[str, Any] | None = None,
        query_expansion: int = 0,
        database_augmentation: int = 0,
        diffusion: int = 0,
    ) -> EmbeddingModel:
        """Wrap a (trained) network; the card is derived from it and fingerprinted. ``query_expansion``: the
        neighbours every search with this model averages into the query; ``database_augmentation``: those each
        searched item is mixed with (:mod:`lookalike.models.expansion`); ``diffusion``: the graph neighbours of
        diffusion re-ranking (:mod:`lookalike.models.diffusion`; cosine distance only)."""
        enc = network.encoder
        check_diffusion_distance(check_diffusion(diffusion), network.distance.name)
        check_diffusion_alone(diffusion, query_expansion, database_augmentation)
        card = ModelCard(
            encoder=enc.spec,
            kind=enc.kind,
            embedding_size=network.embedding_size,
            distance=network.distance.to_dict(),
            preprocessing=enc.preprocessing(),
            architecture=network.architecture(),
            label_names=list(label_names),
            query_expansion=check_expansion(query_expansion),
            database_augmentation=check_expansion(database_augmentation, "database_augmentation"),
            diffusion=int(diffusion),
            extra=dict(extra or {}),
        )
        card.fingerprint = compute_fingerprint(card, network.state_dict())
        return cls(network=network, card=card)

    @classmethod
    def for_vectors(cls, dim: int, distance: str | dict[str, Any] | Distance = "cosine") -> EmbeddingModel:
        """The identity model for vectors embedded elsewhere: checks width, applies ``distance.embed``."""
        if int(dim) <= 0:
            raise DataError(f"for_vectors: dim must be a positive integer, got {dim}")
        net = EmbeddingNet(
            encoder=IdentityEncoder(input_dim=int(dim)),
            head=Head(in_dim=int(dim), type="none"),
            distance=get_distance(distance),
        )
        return cls.from_network(net)

    # -- properties ----------------------------------------------------------------------------------
    @property
    def distance(self) -> Distance:
        return self.network.distance

    @property
    def embedding_size(self) -> int:
        return self.card.embedding_size

    @property
    def query_expansion(self) -> int:
        """Neighbours averaged into each query before searching (0 = none)."""
        return self.card.query_expansion

    @property
    def database_augmentation(self) -> int:
        """Neighbours each searched item is mixed with before ranking (0 = none)."""
        return self.card.database_augmentation

    @property
    def diffusion(self) -> int:
        """Graph neighbours of diffusion re-ranking (0 = none; :mod:`lookalike.models.diffusion`)."""
        return self.card.diffusion

    @property
    def kind(self) -> str:
        return self.card.kind

    @property
    def fingerprint(self) -> str:
        return self.card.fingerprint

    def __repr__(self) -> str:
        return (
            f"EmbeddingModel(encoder={self.card.encoder!r}, kind={self.kind!r}, d={self.embedding_size}, "
            f"distance={self.distance.name!r}, fingerprint={self.fingerprint[:12]!r})"
        )

    @property
    def is_face_model(self) -> bool:
        """True when the card's preprocessing detects and aligns faces (``face:dlib``, ``onnx:`` with align)."""
        return self.kind == "image" and self.card.preprocessing.get("face") is not None

    @torch.no_grad()
    def embed_faces(self, image: Any, *, name: str = "image") -> list[FaceEmbedding]:
        """Every face in ``image`` with its box and embedding, largest first (face models only).

        Under the card's ``detect`` policy; raises :class:`~lookalike.errors.NoFaceError` naming ``name`` when
        there is no face to use. :meth:`embed` keeps one vector per image: the largest face's.
        """
        from lookalike.models.faces.detect import FaceEmbedding, chip_tensor, face_options, find_faces
        from lookalike.models.preprocess import chip_normalizer

        if not self.is_face_model:
            raise ConfigError(f"embed_faces needs a face model (face:dlib, or onnx: with align); this is {self!r}")
        faces = find_faces(image, face_options(self.card.preprocessing), name=name)
        norm = chip_normalizer(self.card.preprocessing)
        x = torch.stack([norm(chip_tensor(f.chip)) for f in faces])
        vecs = self.network(x).float().cpu().numpy()
        return [FaceEmbedding(f.box, v, f.detected) for f, v in zip(faces, vecs, strict=True)]

    # -- embedding -----------------------------------------------------------------------------------
    def prepare(self, items: Sequence[Any] | np.ndarray) -> Any:
        """Model inputs for a batch of raw items (tensor, or token dict for text)."""
        if self.kind == "image":
            if self._transform is None:
                self._transform = image_transform(self.card.preprocessing)
            return image_batch(items, self.card.preprocessing, self._transform)
        if self.kind == "text":
            check_texts(items)
            encoder = self.network.encoder
            assert isinstance(encoder, HFTextEncoder)
            return encoder.tokenize(list(items))
        return vector_batch(items, int(self.card.preprocessing["input_dim"]))

    @torch.no_grad()
    def embed(self, items: Sequence[Any] | np.ndarray, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``items`` (images: PIL/paths/uint8 arrays; texts: strings; vectors: rows) → float32 (n, d)."""
        if isinstance(items, (str, bytes)):
            raise DataError("embed() takes a sequence of items; wrap a single item in a list")
        if self.kind == "vector":
            items = vector_batch(items, int(self.card.preprocessing["input_dim"])).numpy()
        n = len(items)
        out = np.empty((n, self.embedding_size), dtype=np.float32)
        if self.kind == "text":
            return self._embed_texts(check_texts(items), out, batch_size=batch_size, progress=progress)
        chunks = list(_chunks(n, max(1, batch_size)))
        if progress:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, desc="embed", unit="batch")
        for sl in chunks:
            out[sl] = self.network(self.prepare(items[sl])).float().cpu().numpy()
        return out

    @torch.no_grad()
    def embed_prepared(self, inputs: torch.Tensor, *, batch_size: int = 64) -> np.ndarray:
        """Embed model inputs made by :meth:`prepare` (e.g. images prepared one by one as they are decoded, so
        that only small input tensors, never many full-size pictures, are held at once) → float32 (n, d)."""
        step = max(1, batch_size)
        out = [self.network(inputs[i : i + step]).float().cpu().numpy() for i in range(0, len(inputs), step)]
        return np.concatenate(out) if out else np.zeros((0, self.embedding_size), np.float32)

    def _embed_texts(self, items: Sequence[Any], out: np.ndarray, *, batch_size: int, progress: bool) -> np.ndarray:
        """Texts sorted by token count and batched by length: padding only to each batch's longest text."""
        encoder = self.network.encoder
        if not isinstance(encoder, HFTextEncoder):
            raise DataError(f"this text model's encoder {encoder.spec!r} cannot tokenize")
        texts = list(items)
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise DataError(f"this is a text model; items must be strings, got {bad[0]}")
        batches: Any = encoder.length_batches(texts, batch_size=max(1, batch_size))
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="embed", unit="batch", total=-(-len(texts) // max(1, batch_size)))
        with torch.inference_mode():
            for positions, tokens in batches:
                out[positions] = self.network(tokens).float().cpu().numpy()
        return out

    def embed_dataset(self, ds: LabeledDataset, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed every item of a :class:`~lookalike.data.types.LabeledDataset` (kinds must agree)."""
        if ds.kind != self.kind:
            raise DataError(f"dataset {ds.name!r} holds {ds.kind} items but this model embeds {self.kind} items")
        if ds.kind == "vector":
            return self.embed(np.asarray(ds.items, dtype=np.float32), batch_size=batch_size, progress=progress)
        if ds.kind == "text":
            return self.embed([str(t) for t in ds.items], batch_size=batch_size, progress=progress)
        return self.embed(_LazyImages(ds), batch_size=batch_size, progress=progress)


class _LazyImages(Sequence):
    """Decodes dataset images on access (keeps memory flat)."""

    def __init__(self, ds: LabeledDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.ds.load(k) for k in range(*i.indices(len(self.ds)))]
        return self.ds.load(i)


__all__ = ["EmbeddingModel"]
