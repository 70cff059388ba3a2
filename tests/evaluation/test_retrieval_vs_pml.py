"""Our retrieval and clustering metrics equal PML's AccuracyCalculator (Musgrave et al.'s reference code)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN

from lookalike.evaluation.clustering import clustering_metrics
from lookalike.evaluation.retrieval import metrics_from_neighbours, retrieval_metrics
from lookalike.models.distances import get_distance

MUSGRAVE = ("precision_at_1", "r_precision", "mean_average_precision_at_r")
TOL = 1e-6


def _clustered(n: int, d: int, classes: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.normal(size=(classes, d))[labels] + spread * rng.normal(size=(n, d))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def _pml(x, y, ref=None, ref_y=None, *, include=MUSGRAVE, k="max_bin_count", knn_func=None) -> dict:
    calc = AccuracyCalculator(include=include, k=k, device=torch.device("cpu"), knn_func=knn_func)
    return calc.get_accuracy(x, y, ref, ref_y)


def _ours_as_pml(m) -> dict:
    return {"precision_at_1": m.precision_at_1, "r_precision": m.r_precision, "mean_average_precision_at_r": m.map_at_r}


def _assert_close(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == pytest.approx(theirs[key], abs=TOL), key


@pytest.mark.parametrize(("spread", "seed"), [(0.6, 1), (1.5, 2)])
def test_leave_one_out_equals_pml_default_faiss(spread: float, seed: int) -> None:
    x, y = _clustered(500, 32, 25, spread, seed)
    ours, _ = retrieval_metrics(x, y, distance="cosine")
    _assert_close(_ours_as_pml(ours), _pml(x, y))


def test_separate_query_and_reference_sets_equal_pml() -> None:
    x, y = _clustered(700, 24, 20, 1.0, 3)
    ours, knn = retrieval_metrics(x[:200], y[:200], x[200:], y[200:], distance="euclidean")
    assert not knn.exclude_self
    _assert_close(_ours_as_pml(ours), _pml(x[:200], y[:200], x[200:], y[200:]))


def test_exact_ties_across_classes_equal_pml() -> None:
    # integer points: squared distances are exact in float32, so faiss and we see the same massive ties;
    # both order them by the lower reference index, so even the tie-sensitive MAP@R agrees.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(400, 4)).astype(np.float32)
    y = (x[:, 0] + rng.integers(0, 2, 400)).astype(np.int64)  # classes overlap with the geometry
    ours, knn = retrieval_metrics(x, y, distance="euclidean")
    tied = (knn.scores[:, 1:] == knn.scores[:, :-1]).mean()
    assert tied > 0.5  # the ties are really there
    _assert_close(_ours_as_pml(ours), _pml(x, y))


@pytest.mark.parametrize("name", ["cosine", "euclidean", "dot", "hyperbolic"])
def test_every_distance_equals_pml_with_the_same_distance(name: str) -> None:
    dist = get_distance(name)
    g = torch.Generator().manual_seed(5)
    labels = torch.randint(0, 15, (300,), generator=g)
    raw = torch.randn(15, 16, generator=g)[labels] + torch.randn(300, 16, generator=g)
    x = dist.embed(raw).numpy()
    y = labels.numpy()
    ours, _ = retrieval_metrics(x, y, distance=dist)
    _assert_close(_ours_as_pml(ours), _pml(x, y, knn_func=CustomKNN(dist.pml())))


def test_lone_queries_and_unbalanced_classes_equal_pml() -> None:
    x, _ = _clustered(240, 16, 1, 1.0, 6)
    y = np.r_[np.zeros(150), np.ones(60), np.arange(2, 27), np.full(5, 30)].astype(np.int64)  # 25 lone items
    ours, _ = retrieval_metrics(x, y)
    assert ours.num_queries == 240 - 25 and ours.num_skipped_queries == 25
    _assert_close(_ours_as_pml(ours), _pml(x, y))


def test_map_at_k_equals_pml_when_k_covers_r_and_is_min_normalised_below() -> None:
    x, y = _clustered(300, 16, 30, 1.0, 7)
    ours, _ = retrieval_metrics(x, y, ks=(40,))
    theirs = _pml(x, y, include=("mean_average_precision",), k=40)
    assert ours.map_at_k[40] == pytest.approx(theirs["mean_average_precision"], abs=TOL)
    # hand example, R = 3: hits at ranks 1 and 3 → AP@2 = 1/min(2,3) · (1/1) = 0.5; AP@3 = (1 + 2/3)/3
    nb = np.array([[7, 1, 7]])
    m = metrics_from_neighbours(nb, [7], [7, 7, 7, 1], exclude_self=False, ks=(2, 3))
    assert m.map_at_k[2] == pytest.approx(0.5)
    assert m.map_at_k[3] == pytest.approx((1 + 2 / 3) / 3)
    assert m.map_at_r == pytest.approx((1 + 2 / 3) / 3)
    assert m.r_precision == pytest.approx(2 / 3)
    assert m.recall_at_k[2] == 1.0 and m.precision_at_1 == 1.0


def test_nmi_ami_equal_pml() -> None:
    x, y = _clustered(400, 16, 8, 1.2, 8)
    ours = clustering_metrics(x, y)
    theirs = _pml(x, y, include=("NMI", "AMI"))
    assert ours.nmi == pytest.approx(theirs["NMI"], abs=TOL)
    assert ours.ami == pytest.approx(theirs["AMI"], abs=TOL)


def test_few_items_per_class_cluster_like_pml_without_faiss_warning(capfd: pytest.CaptureFixture[str]) -> None:
    x, y = _clustered(80, 16, 8, 1.2, 3)  # about 10 per class: faiss warns below 39 points per centroid
    ours = clustering_metrics(x, y)
    assert "WARNING clustering" not in capfd.readouterr().err
    theirs = _pml(x, y, include=("NMI", "AMI"))
    assert ours.nmi == pytest.approx(theirs["NMI"], abs=TOL) and ours.ami == pytest.approx(theirs["AMI"], abs=TOL)
    assert "WARNING clustering" in capfd.readouterr().err  # PML's call: what ours no longer prints


@pytest.mark.realdata
def test_real_face_embeddings_equal_pml(shared_data) -> None:
    """ORL faces (400 images, 40 people) embedded by a deterministic model: 4x-downsampled pixels, centred."""
    from PIL import Image

    from lookalike.models import EmbeddingModel

    root = shared_data / "orl_faces"
    files = sorted(root.glob("s*/*.pgm"))
    assert len(files) == 400
    pixels = np.stack(
        [np.asarray(Image.open(f).convert("L").resize((23, 28), Image.Resampling.BILINEAR)) for f in files]
    )
    vectors = pixels.reshape(len(files), -1).astype(np.float32) / 255.0
    vectors -= vectors.mean(0)
    labels = np.array([int(f.parent.name[1:]) - 1 for f in files])
    x = EmbeddingModel.for_vectors(vectors.shape[1], distance="cosine").embed(vectors)
    ours, _ = retrieval_metrics(x, labels)
    assert 0.3 < ours.map_at_r < 1.0  # faces are far from random (chance ≈ 0.03)
    _assert_close(_ours_as_pml(ours), _pml(x, labels))
    ours_c = clustering_metrics(x, labels)
    theirs_c = _pml(x, labels, include=("NMI", "AMI"))
    assert ours_c.nmi == pytest.approx(theirs_c["NMI"], abs=TOL)
