import numpy as np
import pytest
import torch

from lookalike.errors import ConfigError, DataError, UnknownNameError
from lookalike.models import hyperbolic
from lookalike.models.distances import DISTANCES, get_distance


def _reference_poincare(x: np.ndarray, y: np.ndarray, c: float) -> float:
    """Textbook float64 formula: d(x, y) = arcosh(1 + 2c‖x−y‖² / ((1−c‖x‖²)(1−c‖y‖²))) / sqrt(c)."""
    num = 2 * c * np.sum((x - y) ** 2)
    den = (1 - c * np.sum(x * x)) * (1 - c * np.sum(y * y))
    return float(np.arccosh(1 + num / den) / np.sqrt(c))


@pytest.mark.parametrize("c", [0.1, 1.0])
def test_hyperbolic_matches_float64_reference(c: float) -> None:
    g = torch.Generator().manual_seed(0)
    raw_x = torch.randn(7, 5, generator=g, dtype=torch.float64)
    raw_y = torch.randn(4, 5, generator=g, dtype=torch.float64)
    x, y = hyperbolic.to_ball(raw_x, c, None), hyperbolic.to_ball(raw_y, c, None)
    mat = hyperbolic.dist_matrix(x, y, c).numpy()
    ref = np.array([[_reference_poincare(a, b, c) for b in y.numpy()] for a in x.numpy()])
    np.testing.assert_allclose(mat, ref, rtol=1e-6, atol=1e-7)
    rows = hyperbolic.dist(x[:4], y, c).numpy()
    np.testing.assert_allclose(rows, np.diag(ref[:4]), rtol=1e-6, atol=1e-7)


def test_expmap_lands_inside_ball_and_clips() -> None:
    x = torch.randn(100, 8) * 50
    c = 0.1
    p = hyperbolic.to_ball(x, c, clip_r=2.3)
    assert (p.norm(dim=-1) < 1 / c**0.5).all()
    assert torch.isfinite(hyperbolic.dist_matrix(p, p, c)).all()


@pytest.mark.parametrize("name", ["cosine", "euclidean", "dot", "hyperbolic"])
def test_scores_rank_like_pml_distance(name: str) -> None:
    d = get_distance(name)
    q, r = d.embed(torch.randn(6, 4)), d.embed(torch.randn(9, 4))
    s = d.scores(q, r)
    pml = d.pml()(q, r)
    mat = pml if d.pml().is_inverted else -pml
    np.testing.assert_allclose(s.numpy(), mat.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d.pair_scores(q, r[:6]).numpy(), np.diag(s[:, :6].numpy()), rtol=1e-4, atol=1e-4)


def test_distance_registry_rejects_unknown_and_bad_curvature() -> None:
    with pytest.raises(UnknownNameError, match="cosine"):
        DISTANCES.create("cosin")
    with pytest.raises(ValueError, match="curvature"):
        get_distance({"name": "hyperbolic", "params": {"c": -1}})
    assert get_distance(get_distance("dot").to_dict()) == get_distance("dot")


ALL = DISTANCES.names()


@pytest.mark.parametrize("name", ALL)
def test_each_distance_round_trips_by_name(name: str) -> None:
    d = get_distance(name)
    assert d.name == name and get_distance(d.to_dict()) == d and hash(get_distance(d.to_dict())) == hash(d)


def test_unknown_distance_parameter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="curv"):
        get_distance({"name": "hyperbolic", "params": {"curv": 0.1}})


@pytest.mark.parametrize("name", ALL)
def test_cpu_knn_operands_rank_like_scores(name: str) -> None:
    d = get_distance(name)
    q, r = d.embed(torch.randn(5, 6)), d.embed(torch.randn(7, 6))
    ops = d.knn_operands(q, r)
    ranking = -d.scores(q, r) if ops is None else d.knn_ranking(ops[0] @ ops[1].T)
    np.testing.assert_allclose(d.knn_scores(ranking.numpy()), d.scores(q, r).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", [n for n in ALL if get_distance(n).faiss_metric is not None])
def test_faiss_index_of_the_distance_answers_its_scores(name: str) -> None:
    import faiss

    d = get_distance(name)
    q, r = d.embed(torch.randn(5, 6)), d.embed(torch.randn(7, 6))
    index = faiss.IndexFlat(6, d.faiss_metric_type())
    index.add(r.numpy())
    got, ids = index.search(q.numpy(), 7)
    want = d.scores(q, r).numpy()
    np.testing.assert_allclose(d.faiss_scores(got), np.take_along_axis(want, ids, 1), rtol=1e-4, atol=1e-4)


def test_a_distance_without_a_faiss_metric_says_so() -> None:
    with pytest.raises(ConfigError, match="torch"):
        get_distance("hyperbolic").faiss_metric_type()


@pytest.mark.parametrize("name", ALL)
def test_vectors_are_checked_against_the_space(name: str) -> None:
    d = get_distance(name)
    x = d.embed(torch.randn(80, 6)).numpy()
    d.check_vectors(x)  # what embed() gives is accepted (80 rows: the vectorised path)
    d.check_vectors(x[:3])  # and the short path
    means = d.mean_point(torch.from_numpy(x).reshape(8, 10, 6).mean(1)).numpy()
    d.check_vectors(means)  # a centroid is a point of the space
    with pytest.raises(DataError, match="NaN"):
        d.check_vectors(np.where(np.arange(6) == 0, np.nan, x[:2]).astype(np.float32))
    outside = x[:2] * 20
    if name == "dot":
        d.check_vectors(outside)  # any finite vector is a dot-product vector
    else:
        with pytest.raises(DataError, match=f"{name} space"):
            d.check_vectors(outside)
