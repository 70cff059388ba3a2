"""One call from embeddings (or a model and a dataset) to every metric family.

- Retrieval (leave-one-out among the known items, the Musgrave et al. protocol), NMI/AMI, and verification
  over all same-class / different-class pairs (sampled beyond ``max_pairs``).
- Open-set identification for each enrollment size ``shots``: per known class, ``shots`` seeded items form
  the gallery; the other items of enrolled classes are known probes; items labelled -1 are unknown probes.
  When the data has no unknown items, a seeded half of the classes is not enrolled and plays the unknown.
- N-way K-shot accuracy when episodes are given (e.g. Omniglot's official runs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.data.splits import kshot_indices
from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import DataError
from lookalike.evaluation.clustering import clustering_metrics
from lookalike.evaluation.discovery import DiscoveryMetrics, stream_discovery
from lookalike.evaluation.fewshot import embed_episodes, few_shot_accuracy
from lookalike.evaluation.knn import as_matrix
from lookalike.evaluation.openset import DEFAULT_FPIRS, OpenSetMetrics, open_set_metrics
from lookalike.evaluation.pairs import PairList, PairVerification, pair_verification
from lookalike.evaluation.result import EvaluationDetails, EvaluationResult
from lookalike.evaluation.retrieval import DEFAULT_KS, retrieval_metrics
from lookalike.evaluation.verification import DEFAULT_FARS, pair_scores, threshold_at_rate, verification_metrics
from lookalike.models.distances import Distance, get_distance

if TYPE_CHECKING:
    from lookalike.data.types import LabeledDataset
    from lookalike.models.embedder import EmbeddingModel

log = logging.getLogger(__name__)


def open_set_split(labels: np.ndarray, shots: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gallery indices, probe indices, probe labels with non-enrolled classes set to -1) for one gallery size.

    Classes with at most ``shots`` items are enrolled whole and have no probes.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels[labels != UNKNOWN_LABEL])
    has_unknown = bool((labels == UNKNOWN_LABEL).any())
    enrolled = classes if has_unknown else np.sort(rng.permutation(classes)[: max(1, (len(classes) + 1) // 2)])
    g = kshot_indices(labels, shots, rng, classes=enrolled, small="whole", source="open-set split")
    p = np.setdiff1d(np.arange(len(labels)), g)
    probe_labels = np.where(np.isin(labels[p], enrolled), labels[p], UNKNOWN_LABEL)
    return g, p, probe_labels


def evaluate_embeddings(
    embeddings: Any,
    labels: Any,
    *,
    distance: str | dict[str, Any] | Distance = "cosine",
    class_names: Sequence[str] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    fars: Sequence[float] = DEFAULT_FARS,
    fpirs: Sequence[float] = DEFAULT_FPIRS,
    shots: Sequence[int] = (1,),
    seed: int = 0,
    clustering: bool = True,
    verification: bool = True,
    max_pairs: int = 5_000_000,
    max_memory_mb: float = 512.0,
    device: str | None = None,
    discovery: bool = True,
    discovery_far: float = 1e-3,
    max_discovery_items: int = 2000,
    query_expansion: int = 0,
    database_augmentation: int = 0,
    diffusion: int = 0,
) -> EvaluationResult:
    """Every metric family for embeddings (already in the distance's space) and labels (-1 = unknown).

    ``discovery``: when the first open-set split leaves classes never enrolled, group their probes as the gallery's
    discovery does (:func:`lookalike.evaluation.discovery.stream_discovery`), at the threshold reaching
    ``discovery_far`` on the *enrolled* classes' pairs (never on the classes to discover); at most
    ``max_discovery_items`` probes, of a seeded choice of whole never-enrolled classes.

    ``query_expansion`` (a model card's, :mod:`lookalike.models.expansion`): retrieval and open-set
    identification search with each query mixed with the mean of its that many nearest references, and
    ``database_augmentation`` with the references mixed with their nearest others, as the gallery does with such a
    model; ``info`` then also holds the retrieval figures of the plain search (``without_query_expansion``: neither
    mixed). ``diffusion`` (instead of those two): retrieval and open-set identification rank by diffusion over the
    references' graph of that many nearest others (:mod:`lookalike.models.diffusion`), ``without_query_expansion``
    holding the plain figures. Verification and clustering compare items as they are.
    """
    dist = get_distance(distance)
    x = as_matrix(embeddings, "embeddings").numpy()
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels must be integers, one per embedding ({len(x)}); got {y.dtype} {y.shape}")
    y = y.astype(np.int64)
    known = np.nonzero(y != UNKNOWN_LABEL)[0]
    if len(np.unique(y[known])) < 2:
        raise DataError("evaluation needs items of at least two known classes")
    t0 = time.perf_counter()
    retrieval, knn = retrieval_metrics(
        x[known], y[known], distance=dist, ks=ks, max_memory_mb=max_memory_mb, device=device,
        query_expansion=query_expansion, database_augmentation=database_augmentation, diffusion=diffusion,
    )  # fmt: skip
    plain = None
    if query_expansion or database_augmentation or diffusion:
        plain, _ = retrieval_metrics(x[known], y[known], distance=dist, ks=ks, max_memory_mb=max_memory_mb,
                                     device=device)  # fmt: skip
    clus = clustering_metrics(x[known], y[known], seed=1234) if clustering else None
    pairs = verif = None
    if verification:
        pairs = pair_scores(x[known], y[known], distance=dist, max_pairs=max_pairs, seed=seed)
        verif = verification_metrics(pairs.genuine, pairs.impostor, fars=fars, sampled=pairs.sampled)
    open_set: dict[str, OpenSetMetrics] = {}
    for s in shots:
        g, p, p_labels = open_set_split(y, int(s), seed)
        if not (p_labels != UNKNOWN_LABEL).any():
            log.warning("open set %d-shot skipped: no probe of an enrolled class is left", s)
            continue
        open_set[f"{int(s)}-shot"] = open_set_metrics(
            x[g],
            y[g],
            x[p],
            p_labels,
            distance=dist,
            fpirs=fpirs,
            device=device,
            query_expansion=query_expansion,
            database_augmentation=database_augmentation,
            diffusion=diffusion,
        )
    first_shots = int(shots[0]) if len(shots) else 1
    disc = _discovery(x, y, dist, first_shots, seed, discovery_far, max_discovery_items) if discovery else None
    names = list(class_names) if class_names is not None else [str(c) for c in range(int(y.max()) + 1)]
    info: dict[str, Any] = {
        "distance": dist.to_dict(),
        "embedding_size": int(x.shape[1]),
        "num_items": len(y),
        "num_known_items": len(known),
        "num_unknown_items": int(len(y) - len(known)),
        "num_classes": len(np.unique(y[known])),
        "metrics_seconds": round(time.perf_counter() - t0, 3),
        "query_expansion": int(query_expansion),
        "database_augmentation": int(database_augmentation),
        "diffusion": int(diffusion),
    }
    if plain is not None:
        info["without_query_expansion"] = plain.to_dict()
    details = EvaluationDetails(embeddings=x, labels=y, class_names=names, known_index=known, knn=knn, pairs=pairs)
    return EvaluationResult(retrieval, clus, verif, open_set, None, info, details, discovery=disc)


def _discovery(
    x: np.ndarray, y: np.ndarray, dist: Distance, shots: int, seed: int, far: float, max_items: int
) -> DiscoveryMetrics | None:
    """Discovery metrics of the never-enrolled classes of the ``shots`` open-set split (None when there are none)."""
    g, p, p_labels = open_set_split(y, shots, seed)
    new = p[(p_labels == UNKNOWN_LABEL) & (y[p] != UNKNOWN_LABEL)]
    if len(np.unique(y[new])) < 1 or len(g) == 0:
        return None
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for c in rng.permutation(np.unique(y[new])):
        rows = new[y[new] == c]
        if keep and len(keep) + len(rows) > max_items:
            break
        keep.extend(rows.tolist())
    stream = np.sort(np.asarray(keep, np.int64))
    enrolled_rows = np.nonzero(np.isin(y, y[g]))[0]
    pairs = pair_scores(x[enrolled_rows], y[enrolled_rows], distance=dist, max_pairs=1_000_000, seed=seed)
    threshold = threshold_at_rate(pairs.impostor, far)
    if threshold is None:
        log.warning("discovery metrics skipped: too few impostor pairs among enrolled classes for FAR %g", far)
        return None
    return stream_discovery(x[stream], y[stream], x[g], distance=dist, threshold=float(threshold))


def evaluate_model(
    model: EmbeddingModel,
    dataset: LabeledDataset,
    *,
    runs: Sequence[Any] | None = None,
    pairs: PairList | None = None,
    batch_size: int = 64,
    progress: bool = False,
    **kwargs: Any,
) -> EvaluationResult:
    """Embed ``dataset`` (items labelled -1 are unknown probes) with ``model`` and evaluate.

    ``runs``: few-shot episodes with ``gallery``/``queries`` datasets (``lookalike.data.omniglot.omniglot_runs``).
    ``pairs``: a verification pair list (LFW's pairs.txt, :func:`~lookalike.evaluation.pairs.load_pairs`); images
    already in ``dataset`` are not embedded twice.
    Other keyword arguments go to :func:`evaluate_embeddings`.
    """
    t0 = time.perf_counter()
    emb = model.embed_dataset(dataset, batch_size=batch_size, progress=progress)
    embed_s = time.perf_counter() - t0
    kwargs.setdefault("query_expansion", model.query_expansion)
    kwargs.setdefault("database_augmentation", model.database_augmentation)
    kwargs.setdefault("diffusion", model.diffusion)
    result = evaluate_embeddings(
        emb, dataset.labels, distance=model.distance, class_names=dataset.class_names, **kwargs
    )
    if runs:
        episodes = embed_episodes(runs, lambda ds: model.embed_dataset(ds, batch_size=batch_size))
        result.few_shot = few_shot_accuracy(episodes, distance=model.distance)
    if pairs is not None:
        result.pair_verification = verify_pairs(model, pairs, dataset, emb, batch_size=batch_size)
    result.info.update(
        model=model.card.encoder,
        model_fingerprint=model.fingerprint,
        untrained=bool(model.card.extra.get("untrained", False)),
        dataset=dataset.name,
        kind=dataset.kind,
        embed_seconds=round(embed_s, 3),
    )
    assert result.details is not None
    result.details.dataset = dataset
    return result


def verify_pairs(
    model: EmbeddingModel,
    pairs: PairList,
    dataset: LabeledDataset | None = None,
    embeddings: np.ndarray | None = None,
    *,
    batch_size: int = 64,
) -> PairVerification:
    """Pair-list verification with ``model``; rows of ``embeddings`` of ``dataset``'s path items are reused."""
    import torch

    known: dict[str, np.ndarray] = {}
    if dataset is not None and embeddings is not None and dataset.kind == "image":
        known = {str(it): embeddings[i] for i, it in enumerate(dataset.items) if isinstance(it, (str, Path))}
    todo = [p for p in pairs.paths() if p not in known]
    if todo:
        fresh = model.embed(todo, batch_size=batch_size)
        known.update(zip(todo, fresh, strict=True))
    a = torch.from_numpy(np.stack([known[p] for p in pairs.a]))
    b = torch.from_numpy(np.stack([known[p] for p in pairs.b]))
    scores = model.distance.pair_scores(a, b).numpy()
    return pair_verification(scores, pairs.same, pairs.fold)


__all__ = ["evaluate_embeddings", "evaluate_model", "open_set_split", "verify_pairs"]
