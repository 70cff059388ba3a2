"""``Gallery``: enroll identities without retraining, identify with "unknown", verify, calibrate.

A gallery is one store (SQLite + faiss folder, or a pgvector table pair) plus a meta record
(:class:`~lookalike.gallery.meta.GalleryMeta`) saying which model built it (encoder, fingerprint, embedding
size, distance), how identities are scored from their items, and the calibrated threshold. Opening it with
another model raises :class:`ModelMismatchError`.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import DataError, EmbeddingSizeError, GalleryError, ModelMismatchError, NotFoundError
from lookalike.gallery import scoring as sc
from lookalike.gallery.calibration import CalibrationWarning, calibrate_embeddings, choose_threshold
from lookalike.gallery.meta import GalleryMeta, ModelRecord
from lookalike.gallery.mixing import ItemMixer
from lookalike.gallery.results import (
    CalibrationReport,
    FaceIdentification,
    GalleryInfo,
    Identification,
    ItemRecord,
    Match,
    Verification,
)
from lookalike.gallery.stores import STORES, VectorStore, open_store, store_kind_for
from lookalike.models.diffusion import MIN_GRAPH, DiffusionGraph, diffusion_depth
from lookalike.models.distances import Distance
from lookalike.models.expansion import expand_queries, expansion_depth
from lookalike.models.pair_scoring import accepts
from lookalike.names import normalize_name

if TYPE_CHECKING:
    from lookalike.data.types import LabeledDataset
    from lookalike.gallery.discover import DiscoveryResult
    from lookalike.gallery.unknowns import UnknownPool
    from lookalike.models.embedder import EmbeddingModel
    from lookalike.models.grouping import GroupingParams

log = logging.getLogger(__name__)

#: warn when the gallery holds this many times more identities than when it was calibrated
GROWTH_WARNING_FACTOR = 2.0


def _fitted_on(model: Any, class_names: Sequence[str]) -> list[str]:
    """The ``class_names`` ``model`` learned from: its card's training classes when training fitted anything (a
    head, or a backbone that trained); none for a model used as it is (e.g. a frozen backbone with no head)."""
    card = getattr(model, "card", None)
    trained = set(getattr(card, "label_names", None) or ())
    cfg = (getattr(card, "extra", None) or {}).get("train_config") or {}
    m = cfg.get("model") or {}
    learned = (m.get("head") or {}).get("type", "none") != "none" or m.get("backbone", "frozen") != "frozen"
    return [c for c in class_names if c in trained] if trained and learned else []


class Gallery:
    """Enrolled identities for one model. Build with :meth:`create` or :meth:`open`; use as a context manager.

    Identity scoring (``scoring``): ``"max"`` (best item; served by the store's nearest-neighbour index),
    ``"mean"`` (average score over the identity's items) or ``"centroid"`` (score against the mean vector);
    the latter two are exact over all stored vectors, cached until the gallery changes.
    """

    def __init__(self, *, store: VectorStore, model: EmbeddingModel | None) -> None:
        self.store = store
        self.model = model
        self._lock = threading.RLock()
        self._cache: tuple[int, Any] | None = None
        self._meta: tuple[dict[str, Any], GalleryMeta] | None = None  # (stored record, its parse)
        self._record: ModelRecord = self.meta.model
        self.distance: Distance = self._record.distance.build()
        self._mixer = ItemMixer(self.distance)
        self._diffusion: tuple[np.ndarray, int, DiffusionGraph] | None = None
        self._dim = self._record.embedding_size

    @property
    def meta(self) -> GalleryMeta:
        """The gallery's meta record, as stored now (another process may have calibrated it)."""
        stored = self.store.get_meta()
        cached = self._meta
        if cached is not None and cached[0] == stored:  # identify's hot path: compare, don't re-validate
            return cached[1]
        meta = GalleryMeta.read(stored, self.store.location)
        self._meta = (stored, meta)
        return meta

    # -- lifecycle --------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        location: str | Path,
        model: EmbeddingModel,
        *,
        store: str | None = None,
        scoring: str = "max",
        threshold: float | None = None,
        model_source: str | None = None,
        **store_options: Any,
    ) -> Gallery:
        """A new, empty gallery for ``model`` at a folder (``store="sqlite"``) or DSN (``"pgvector"``).

        ``model_source`` (a model folder or spec) is recorded so tools can reload the model by themselves.
        ``store_options`` go to the store (sqlite: ``ann_threshold``, ``nlist``, ``nprobe``; pgvector:
        ``name``, ``ef_search``, ``m``, ``ef_construction``).
        """
        kind = store or store_kind_for(str(location))
        meta = GalleryMeta.new(model, scoring=scoring, threshold=threshold, model_source=model_source)
        st = STORES.create(kind).create(
            str(location), dim=model.embedding_size, distance=model.distance, meta=meta.to_store(), **store_options
        )
        return cls(store=st, model=model)

    @classmethod
    def open(cls, location: str | Path, model: EmbeddingModel | None = None, **store_options: Any) -> Gallery:
        """Open an existing gallery. With ``model``, refuse it unless it is the model that built the gallery.

        Without a model the gallery can list, remove, report and search pre-embedded vectors, but not embed.
        """
        st = open_store(str(location), **store_options)
        try:
            gallery = cls(store=st, model=None)
            if model is not None:
                gallery.attach_model(model)
        except BaseException:
            st.close()
            raise
        return gallery

    @classmethod
    def open_with_model(cls, location: str | Path, model: str | None = None, **store_options: Any) -> Gallery:
        """Open an existing gallery with its model loaded: ``model`` (a model folder or spec) when given, else the
        one recorded at creation (``model_source``). :class:`GalleryError` when none is recorded,
        :class:`ModelMismatchError` when the model is not the one that built the gallery."""
        from lookalike.models import load_model

        gallery = cls.open(location, **store_options)
        try:
            source = model or gallery.model_source
            if not source:
                raise GalleryError(
                    f"the gallery at {gallery.store.location} does not record which model built it; pass it with "
                    "--model (the service: the 'model' setting)"
                )
            gallery.attach_model(load_model(source))
        except BaseException:
            gallery.close()
            raise
        return gallery

    def attach_model(self, model: EmbeddingModel) -> None:
        """Use ``model`` for embedding; :class:`ModelMismatchError` unless it built this gallery."""
        if model.fingerprint != self._record.fingerprint:
            source = self.model_source
            raise ModelMismatchError(
                f"the gallery at {self.store.location} was built with model {self._record.describe()}"
                f"{f' (from {source})' if source else ''}, {self._record.embedding_size}-d "
                f"{self._record.distance.name}; got model {ModelRecord.of(model).describe()}. "
                "Open it with the model that built it, or enroll into a new gallery."
            )
        self.model = model

    @property
    def model_source(self) -> str | None:
        """The model folder/spec recorded at creation, if any."""
        return self.meta.model_source

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- embedding at the boundary ----------------------------------------------------------------------------
    @property
    def embedding_size(self) -> int:
        return self._dim

    def _embed(self, items: Any) -> np.ndarray:
        if self.model is None:
            raise GalleryError(
                f"this gallery was opened without its model; open it with the model {self._record.describe()} "
                "to embed items, or pass already-embedded vectors to the *_vectors methods"
            )
        if isinstance(items, (str, Path)) or type(items).__name__ == "Image" or isinstance(items, bytes):
            items = [items]
        items = [str(i) if isinstance(i, Path) else i for i in items] if not isinstance(items, np.ndarray) else items
        if len(items) == 0:
            raise DataError("no items given; pass at least one image, text or vector")
        try:
            return self.model.embed(items)
        except EmbeddingSizeError as e:
            raise EmbeddingSizeError(f"{e} (gallery model: {self._record.describe()})") from e

    def _check_vectors(self, vectors: Any, what: str) -> np.ndarray:
        """``(n, dim)`` float32 vectors, finite and in the distance's space (the stores can trust them)."""
        try:
            v = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as err:  # strings, ragged rows, objects
            raise DataError(f"{what} must be numbers, one row of {self._dim} per item ({err})") from None
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self._dim:
            raise EmbeddingSizeError(
                f"{what} must have {self._dim} columns to match the gallery (built with model "
                f"{self._record.describe()}); got shape {tuple(v.shape)}. Were they embedded with another model?"
            )
        self.distance.check_vectors(v, what)
        return v

    # -- writes -----------------------------------------------------------------------------------------------
    def enroll(
        self, identity: str, items: Any, metadata: dict[str, Any] | list[dict[str, Any]] | None = None
    ) -> list[int]:
        """Embed ``items`` with the gallery's model and store them under ``identity``; returns the item ids.

        Items are image paths / PIL images / uint8 arrays, texts, or vectors, as the model takes them.
        ``metadata`` is one dict for every item or a list with one dict per item; file items also get
        ``{"source": path}``. Embedding happens before anything is written: a bad item stores nothing.
        """
        listed = [items] if isinstance(items, (str, Path)) else items
        vectors = self._embed(listed)
        metas = self._metadata(metadata, len(vectors))
        if not isinstance(listed, np.ndarray):
            for m, item in zip(metas, listed, strict=True):
                if isinstance(item, (str, Path)) and self.model is not None and self.model.kind == "image":
                    m.setdefault("source", str(item))
        return self.enroll_vectors(identity, vectors, metas)

    def enroll_vectors(
        self,
        identity: str,
        vectors: Any,
        metadata: dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        new_identity: bool = False,
    ) -> list[int]:
        """Store already-embedded ``vectors`` (in the model's distance space) under ``identity``.

        ``new_identity``: refuse (:class:`GalleryError`, nothing stored) when ``identity`` already has items, checked
        atomically with the write, so two processes cannot both create the same new identity."""
        v = self._check_vectors(vectors, "vectors")
        ids = self.store.add(identity, v, self._metadata(metadata, len(v)), new=new_identity)
        warning = self._size_warning()
        if warning:
            log.warning(warning)
        return ids

    @staticmethod
    def _metadata(metadata: dict[str, Any] | list[dict[str, Any]] | None, n: int) -> list[dict[str, Any]]:
        if metadata is None or isinstance(metadata, dict):
            return [dict(metadata or {}) for _ in range(n)]
        if len(metadata) != n:
            raise DataError(f"got {len(metadata)} metadata dicts for {n} items; give one dict, or one per item")
        wrong = [type(m).__name__ for m in metadata if not isinstance(m, dict)]
        if wrong:
            raise DataError(f"item metadata must be dicts (one per item, or one for all); got a {wrong[0]}")
        return [dict(m) for m in metadata]

    def remove(self, identity: str) -> list[int]:
        """Remove an identity and all its items (and their images); returns the removed item ids (NotFoundError
        if unknown). The name is trimmed as at enrolment."""
        return self.store.remove_identity(normalize_name(identity))

    def remove_item(self, item_id: int) -> None:
        """Remove one item by id (NotFoundError if there is none)."""
        self.store.remove_items([_item_id(item_id)])

    # -- reads ------------------------------------------------------------------------------------------------
    def identities(self) -> dict[str, int]:
        """Enrolled identity names with their number of items, sorted by name."""
        return self.store.identities()

    def items(self, identity: str | None = None) -> list[ItemRecord]:
        """Stored items (of one identity, or all)."""
        return self.store.items(None if identity is None else normalize_name(identity))

    # -- images (small pictures of enrolled items, e.g. the service's thumbnails) -----------------------------
    def put_images(self, images: dict[int, bytes]) -> list[int]:
        """Store one small image (e.g. a JPEG thumbnail) per item id; it is removed with its item, in the same
        transaction, by any process. Ids no longer in the gallery are skipped; returns the ids stored."""
        return self.store.put_images({int(i): bytes(b) for i, b in images.items()})

    def image(self, item_id: int) -> bytes | None:
        """The stored image of an item, or ``None``."""
        return self.store.image(_item_id(item_id))

    def identity_image(self, identity: str) -> bytes | None:
        """The image of the identity's earliest item that has one, or ``None``."""
        return self.store.identity_image(normalize_name(identity))

    def identities_with_images(self, names: Sequence[str] | None = None) -> set[str]:
        """Names of the identities (among ``names``, or all) with at least one stored image."""
        return self.store.identities_with_images(None if names is None else [normalize_name(n) for n in names])

    def __len__(self) -> int:
        return self.store.count()

    @property
    def scoring(self) -> str:
        return self.meta.scoring

    @property
    def threshold(self) -> float | None:
        return self.meta.threshold

    def identify(self, queries: Any, k: int = 5) -> list[Identification]:
        """For each query item, the ``k`` best identities and a known/unknown decision.

        An empty gallery answers every query with no matches and decision ``"unknown"`` ("nobody we know"); an
        uncalibrated one answers ``"uncalibrated"`` (nearest identities, no verdict) until it has a threshold.
        """
        return self.identify_vectors(self._embed(queries), k=k)

    def identify_faces(self, image: Any, k: int = 5, *, name: str = "image") -> list[FaceIdentification]:
        """Every face in one ``image`` (face models only), largest first, each with its box and identification.

        Raises :class:`~lookalike.errors.NoFaceError` (naming ``name``) when the model's ``detect`` policy finds
        no face to use.
        """
        if self.model is None:
            raise GalleryError("identify_faces needs the gallery's model; open the gallery with it")
        faces = self.model.embed_faces(image, name=name)
        results = self.identify_vectors(np.stack([f.vector for f in faces]), k=k)
        return [FaceIdentification(f.box, r, f.detected, f.vector) for f, r in zip(faces, results, strict=True)]

    def identify_vectors(self, vectors: Any, k: int = 5) -> list[Identification]:
        """:meth:`identify` for already-embedded query vectors."""
        if int(k) < 1:
            raise DataError(f"k must be at least 1, got {k}")
        q = self._check_vectors(vectors, "queries")
        meta = self.meta
        threshold, scoring = meta.threshold, meta.scoring
        if meta.model.diffusion:
            per_query = self._diffused_matches(q, int(k), scoring, meta.model.diffusion)
        elif meta.model.query_expansion or meta.model.database_augmentation:
            per_query = self._expanded_matches(
                q, int(k), scoring, meta.model.query_expansion, meta.model.database_augmentation
            )
        elif scoring != "max":
            per_query = self._exact_matches(q, int(k), scoring)
        else:  # max-scoring is the store's nearest-identity search; q is already checked (and stricter)
            per_query = self.store._search_identities(q, int(k))
        return [self._decide(m, threshold) for m in per_query]

    def warm(self) -> int:
        """Do now the work the first identify would otherwise wait for: for a model with database-side
        augmentation, read the item table and mix every item with its nearest others (about 27 s per 100,000
        items on one CPU thread, docs/benchmarks.md), holding this handle's lock meanwhile. The service calls it
        before it accepts requests. Returns how many items were mixed (0 when there is nothing to mix)."""
        n_augment, graph = self.meta.model.database_augmentation, self.meta.model.diffusion
        if not n_augment and not graph:
            return 0
        vectors, codes, names, rows = self._table()
        counts = np.bincount(codes, minlength=len(names))
        depth = diffusion_depth(graph, counts) if graph else expansion_depth(n_augment, counts)
        if not depth:
            return 0
        if graph:
            self._graph(vectors, rows, depth)
        else:
            self._mixed_items(vectors, rows, depth)
        return len(vectors)

    def _table(self) -> tuple[np.ndarray, np.ndarray, list[str], dict[int, int]]:
        """Every stored vector, its identity's code, the sorted identity names and each item id's row; cached
        until the gallery changes."""
        gen = self.store.generation()
        with self._lock:
            if self._cache is None or self._cache[0] != gen:
                table = self.store.vectors()
                names = sorted(set(table.identities))
                index = {n: i for i, n in enumerate(names)}
                codes = np.array([index[n] for n in table.identities], np.int64)
                rows = {int(i): r for r, i in enumerate(table.ids)}
                self._cache = (gen, (table.vectors, codes, names, rows))
            return self._cache[1]  # type: ignore[no-any-return]

    def _exact_matches(self, q: np.ndarray, k: int, scoring: str) -> list[list[Match]]:
        vectors, codes, names, _ = self._table()
        scores = sc.identity_score_matrix(q, vectors, codes, len(names), self.distance, sc.check_scoring(scoring))
        return sc.top_k(scores, names, k)

    def _expanded_matches(
        self, q: np.ndarray, k: int, scoring: str, n_expand: int, n_augment: int = 0
    ) -> list[list[Match]]:  # fmt: skip
        """Query expansion and database-side augmentation (:mod:`lookalike.models.expansion`): each query is mixed
        half and half with the mean of its ``n_expand`` nearest gallery items, each gallery item with the mean of its
        ``n_augment`` nearest others (both at most half the median items per identity), and the identities are
        ranked by the mixed query against the mixed items; each match keeps its plain score (the query's own
        against the stored items, which the threshold was calibrated on: calibration scores pairs)."""
        vectors, codes, names, rows = self._table()
        counts = np.bincount(codes, minlength=len(names))
        n_expand, n_augment = expansion_depth(n_expand, counts), expansion_depth(n_augment, counts)
        if not names or not (n_expand or n_augment):
            return self._exact_matches(q, k, scoring) if names else [[] for _ in range(len(q))]
        rule = sc.check_scoring(scoring)
        mixed_q = q
        if n_expand:
            mixed_q = expand_queries(q, vectors, self._neighbour_rows(q, n_expand, rows), self.distance)
        ranked = self._mixed_items(vectors, rows, n_augment) if n_augment else vectors
        expanded = sc.identity_score_matrix(mixed_q, ranked, codes, len(names), self.distance, rule)
        plain = sc.identity_score_matrix(q, vectors, codes, len(names), self.distance, rule)
        order = np.argsort(-expanded, axis=1, kind="stable")[:, : min(k, len(names))]
        return [[Match(names[j], float(plain[i, j])) for j in order[i]] for i in range(len(q))]

    def _diffused_matches(self, q: np.ndarray, k: int, scoring: str, graph: int) -> list[list[Match]]:
        """Diffusion re-ranking (:mod:`lookalike.models.diffusion`): the items' graph of their ``graph`` nearest
        others (at most half the median items per identity; too few and the plain ranking), each query seeded at
        its ``graph`` nearest items, and the identities ranked by their best item's diffusion score (those no path
        reaches after, by their plain score); each match keeps its plain score, which the threshold applies to."""
        vectors, codes, names, rows = self._table()
        if not names:
            return [[] for _ in range(len(q))]
        depth = min(diffusion_depth(graph, np.bincount(codes, minlength=len(names))), len(vectors) - 1)
        if depth < MIN_GRAPH:
            return self._exact_matches(q, k, scoring)
        net = self._graph(vectors, rows, depth)
        seeds = self._neighbour_rows(q, depth, rows)
        plain = sc.identity_score_matrix(q, vectors, codes, len(names), self.distance, sc.check_scoring(scoring))
        out = []
        for i in range(len(q)):
            ok = seeds[i] >= 0
            seed_scores = np.full(depth, -np.inf)
            seed_scores[ok] = vectors[seeds[i][ok]] @ q[i]  # cosine (diffusion's only distance): unit vectors
            f = net.diffuse(seeds[i], seed_scores)
            best = np.zeros(len(names))
            np.maximum.at(best, codes, f)
            order = np.lexsort((-plain[i], -best))[: min(k, len(names))]
            out.append([Match(names[j], float(plain[i, j])) for j in order])
        return out

    def _graph(self, vectors: np.ndarray, rows: dict[int, int], depth: int) -> DiffusionGraph:
        """The items' diffusion graph of ``depth`` nearest others, cached for this very table; the neighbour table
        is kept up to date from the gallery's changes (:class:`~lookalike.gallery.mixing.ItemMixer`)."""
        with self._lock:
            hit = self._diffusion
            if hit is not None and hit[0] is vectors and hit[1] == depth:
                return hit[2]
            ids = np.fromiter(rows, np.int64, len(rows))
            nb, scores = self._mixer.neighbours(vectors, ids, depth, self.store.search)
            net = DiffusionGraph(nb, np.where(nb >= 0, scores, 0.0), depth)
            self._diffusion = (vectors, depth, net)
            return net

    def _neighbour_rows(self, q: np.ndarray, n: int, rows: dict[int, int]) -> np.ndarray:
        """(len(q), n) table rows of each query's ``n`` nearest stored items (-1 where fewer). An item enrolled by
        another process since the table was read is not in the table: left out."""
        nb = np.full((len(q), n), -1, np.int64)
        for i, row in enumerate(self.store.search(q, n)):
            found = [rows[h.id] for h in row if h.id in rows]
            nb[i, : len(found)] = found
        return nb

    def _mixed_items(self, vectors: np.ndarray, rows: dict[int, int], n_augment: int) -> np.ndarray:
        """The table's ``vectors``, each mixed with its ``n_augment`` nearest other items; updated from the
        gallery's changes since the last table (:mod:`lookalike.gallery.mixing`)."""
        with self._lock:
            hit = self._mixer.cached(vectors, n_augment)  # the identify hot path: no per-call work once mixed
            if hit is not None:
                return hit
            return self._mixer.mixed(vectors, np.fromiter(rows, np.int64, len(rows)), n_augment, self.store.search)

    @staticmethod
    def _decide(matches: list[Match], threshold: float | None) -> Identification:
        if not matches:
            return Identification([], "unknown", threshold)
        if threshold is None:  # no threshold, no verdict: "known" would accept anything (a logo among faces)
            return Identification(matches, "uncalibrated", None)
        return Identification(matches, "known" if accepts(matches[0].score, threshold) else "unknown", threshold)

    def verify(self, a: Any, b: Any, *, score_only: bool = False) -> Verification:
        """Whether items ``a`` and ``b`` show the same identity, at the gallery's calibrated threshold; with
        ``score_only`` just their score (``same``/``threshold`` ``None``), which needs no threshold."""
        va, vb = self._embed([a, b])
        return self.verify_vectors(va, vb, score_only=score_only)

    def verify_vectors(self, a: Any, b: Any, *, score_only: bool = False) -> Verification:
        """:meth:`verify` for two already-embedded items."""
        threshold = None if score_only else self.threshold
        if threshold is None and not score_only:
            raise GalleryError("this gallery has no threshold yet; calibrate it (`lookalike calibrate`) first")
        va, vb = self._check_vectors(a, "a"), self._check_vectors(b, "b")
        return verify_vectors(va[0], vb[0], self.distance, threshold)

    # -- calibration ------------------------------------------------------------------------------------------
    def calibrate(
        self,
        data: LabeledDataset | np.ndarray,
        labels: Sequence[int] | np.ndarray | None = None,
        *,
        target_far: float = 1e-3,
        confidence: float = 0.95,
        max_items: int = 5000,
    ) -> CalibrationReport:
        """Choose and store the threshold meeting ``target_far`` on held-out labelled data.

        ``data`` is a :class:`LabeledDataset` (embedded with the gallery's model) or embeddings with
        ``labels``. Use classes the gallery will never hold (validation classes carved from the training
        classes), never the people you will identify.
        """
        if isinstance(data, np.ndarray):
            if labels is None:
                raise DataError("calibrate(embeddings, labels): labels are required with an embedding array")
            emb, lab = self._check_vectors(data, "calibration embeddings"), np.asarray(labels)
        else:
            if self.model is None:
                raise GalleryError("calibrating on a dataset needs the gallery's model; open the gallery with it")
            emb, lab = self.model.embed_dataset(data), data.labels
        report = calibrate_embeddings(
            emb, lab, self.distance, target_far=target_far, confidence=confidence, max_items=max_items,
            gallery_size=self.store.identity_count(),
        )  # fmt: skip
        names = [] if isinstance(data, np.ndarray) else list(data.class_names)
        seen = _fitted_on(self.model, names)
        if seen:
            note = (
                f"{len(seen)} of the {len(names)} calibration classes were training classes of this "
                f"model ({', '.join(seen[:3])}{', ...' if len(seen) > 3 else ''}): what it learned pushed their "
                "impostor pairs apart, so this threshold lets new classes' strangers through (docs/gallery.md, "
                "'Calibration'). Calibrate on classes the model never saw, or with the unseen-class pairs of "
                "`lookalike fit` or a whitening `lookalike train` run (`lookalike calibrate --from-fit DIR`)"
            )
            warnings.warn(note, CalibrationWarning, stacklevel=2)
            log.warning(note)
            report = replace(report, warning=f"{report.warning} {note}" if report.warning else note)
        return self._keep_calibration(report)

    def calibrate_scores(
        self, genuine: Any, impostor: Any, *, target_far: float = 1e-3, confidence: float = 0.95,
        grouping: GroupingParams | None = None,
    ) -> CalibrationReport:  # fmt: skip
        """Choose and store the threshold meeting ``target_far`` on given genuine / impostor pair scores (in this
        gallery's model's scoring), e.g. those ``lookalike fit`` wrote for classes its fold models never saw
        (:func:`lookalike.fitting.calibration.read_unseen_pairs`). ``grouping``: discovery's settings chosen for
        the model on the same training classes (``calibration.npz``'s, when its run chose them), stored beside the
        threshold; ``None`` goes back to the library default."""
        gen, imp = np.asarray(genuine, np.float64).ravel(), np.asarray(impostor, np.float64).ravel()
        if not (np.isfinite(gen).all() and np.isfinite(imp).all()):
            raise DataError("calibration pair scores contain NaN or infinite values; nothing was changed")
        report = choose_threshold(
            gen, imp, target_far=target_far, confidence=confidence, gallery_size=self.store.identity_count()
        )
        return self._keep_calibration(report, grouping)

    def _keep_calibration(self, report: CalibrationReport, grouping: GroupingParams | None = None) -> CalibrationReport:
        """Store a calibration's threshold, its report, the gallery size it was made at and the grouping settings
        chosen with it (``None``: the library default; a grouping's cut is a multiple of this threshold)."""
        self.store.set_meta({
            "threshold": report.threshold, "calibration": report.to_dict(), "calibrated_at_size": report.gallery_size,
            "grouping": None if grouping is None else grouping.to_dict(),
        })  # fmt: skip
        return report

    def set_threshold(self, threshold: float | None) -> None:
        """Set (or clear, with ``None``) the accept threshold by hand; forgets the calibration report and the
        grouping settings chosen with it."""
        self.store.set_meta({"threshold": threshold, "calibration": None, "calibrated_at_size": None, "grouping": None})

    @property
    def grouping(self) -> GroupingParams:
        """Discovery's default grouping settings: those stored with the calibration (chosen for this gallery's
        model on its training classes), else the library's."""
        from lookalike.models.grouping import GroupingParams

        stored = self.meta.grouping
        if stored is None:
            return GroupingParams()
        try:
            return GroupingParams(**stored)
        except (TypeError, ValueError) as e:  # ConfigError is a ValueError
            raise GalleryError(
                f"the gallery's stored grouping settings are unreadable ({e}); calibrate it again "
                "(`lookalike calibrate GALLERY --from-fit RUN` or --data)"
            ) from e

    def _size_warning(self, n_identities: int | None = None, meta: GalleryMeta | None = None) -> str | None:
        meta = meta or self.meta
        at = meta.calibrated_at_size
        if at is None or meta.threshold is None:
            return None
        n = self.store.identity_count() if n_identities is None else n_identities
        if n > GROWTH_WARNING_FACTOR * max(int(at), 1):
            return (
                f"the gallery holds {n} identities but its threshold was calibrated when it held {at}; the chance "
                f"that a stranger matches someone grows with the gallery - recalibrate (`lookalike calibrate`)"
            )
        return None

    # -- discovery --------------------------------------------------------------------------------------------
    def unknown_pool(self, path: str | Path | None = None) -> UnknownPool:
        """The pool of kept unknowns (``unknowns.sqlite`` in a folder gallery, or ``path``); see gallery/unknowns.py."""
        from lookalike.gallery.unknowns import UnknownPool, default_pool_location

        return UnknownPool(path=path or default_pool_location(self.store.location), dim=self._dim)

    def discover(
        self,
        items: Any = None,
        *,
        pool: UnknownPool | None = None,
        params: GroupingParams | None = None,
        threshold: float | None = None,
    ) -> DiscoveryResult:
        """Group the kept unknowns (plus ``items``, identified first: those that come out unknown join the pool)
        into proposed new identities, ranked by size then tightness; see :mod:`lookalike.gallery.discover`."""
        from lookalike.gallery import discover as dsc

        own = pool is None
        pool = pool or self.unknown_pool()
        try:
            if items is not None:
                listed = [items] if isinstance(items, (str, Path)) else list(items)
                vectors = self._embed(listed)
                sources = [str(i) if isinstance(i, (str, Path)) else None for i in listed]
                results = self.identify_vectors(vectors, k=1)
                dsc.keep_unknowns(pool, results, vectors, sources=sources, force=True)
            return dsc.discover(self, pool, params=params, threshold=threshold)
        finally:
            if own:
                pool.close()

    def info(self) -> GalleryInfo:
        """The model, size, identities, threshold and store of this gallery."""
        meta = self.meta
        n_ids = self.store.identity_count()
        calib = meta.calibration
        record = self._record.model_dump(mode="json")
        return GalleryInfo(
            model={**record, "source": meta.model_source},
            size=self.store.count(),
            identities=n_ids,
            threshold=meta.threshold,
            calibrated_at_size=meta.calibrated_at_size,
            distance=record["distance"],
            store=self.store.kind,
            location=self.store.location,
            scoring=meta.scoring,
            embedding_size=self.embedding_size,
            calibration=CalibrationReport.from_dict(calib) if calib else None,
            warning=self._size_warning(n_ids, meta),
        )


def _item_id(item_id: int) -> int:
    """An item id as stores take it: ids are positive 64-bit integers, anything else is no item of ours."""
    i = int(item_id)
    if not 1 <= i < 2**63:
        raise NotFoundError(f"no item with id {i} in this gallery (item ids are positive 64-bit integers)")
    return i


def verify_vectors(a: np.ndarray, b: np.ndarray, distance: Distance, threshold: float | None) -> Verification:
    """Verification of two embedded items at ``threshold`` (similarity; same when ``score >= threshold``); with
    ``threshold=None`` the score only."""
    import torch

    ta = torch.from_numpy(np.asarray(a, np.float32).reshape(1, -1))
    tb = torch.from_numpy(np.asarray(b, np.float32).reshape(1, -1))
    score = float(distance.pair_scores(ta, tb)[0])
    if threshold is None:
        return Verification(score=score, same=None, threshold=None)
    return Verification(score=score, same=bool(accepts(score, threshold)), threshold=float(threshold))


def verify_items(model: EmbeddingModel, a: Any, b: Any, threshold: float | None) -> Verification:
    """Embed ``a`` and ``b`` with ``model`` and verify them at ``threshold`` (no gallery needed; ``None``: the
    score only)."""
    va, vb = model.embed([a, b])
    return verify_vectors(va, vb, model.distance, threshold)


__all__ = ["GROWTH_WARNING_FACTOR", "Gallery", "verify_items", "verify_vectors"]
