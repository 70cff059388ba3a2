"""Diffusion re-ranking: the solve, the leave-one-out graphs, the caps, and what it does on curved classes."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import ConfigError
from lookalike.evaluation.openset import open_set_metrics
from lookalike.evaluation.retrieval import diffusion_grid, retrieval_metrics
from lookalike.models.diffusion import (
    ALPHA,
    GAMMA,
    MIN_GRAPH,
    DiffusionGraph,
    check_diffusion,
    diffusion_depth,
    leave_one_out,
)


def arcs(n: int = 200, gap_deg: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes on two parallel circles of the unit sphere (the equator and the latitude ``gap_deg``): along a
    circle its items are ``360 / n`` degrees apart, so the other circle's items are nearer than the far side of a
    query's own. No ends: the nearest items of every item are along its own circle while ``10 * 360 / n`` is less
    than ``2 * gap_deg``."""
    t = np.deg2rad(np.arange(n) * 360.0 / n)
    g = np.deg2rad(gap_deg)
    a = np.stack([np.cos(t), np.sin(t), np.zeros(n)], 1)
    b = np.stack([np.cos(t) * np.cos(g), np.sin(t) * np.cos(g), np.full(n, np.sin(g))], 1)
    return np.concatenate([a, b]).astype(np.float32), np.repeat([0, 1], n)


def _knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(s, -np.inf)
    nb = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return nb, np.take_along_axis(s, nb, 1)


def _dense_system(nb: np.ndarray, sc: np.ndarray, n: int, k: int) -> np.ndarray:
    """``I - ALPHA * D^-1/2 W D^-1/2`` of the mutual kNN graph, written out densely."""
    a = np.zeros((n, n))
    for i in range(len(nb)):
        for j, s in zip(nb[i, :k], sc[i, :k], strict=True):
            if j >= 0:
                a[i, j] = max(s, 0.0) ** GAMMA
    w = np.minimum(a, a.T)
    d = w.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0.0)
    return np.eye(n) - ALPHA * inv[:, None] * w * inv[None, :]


def test_the_conjugate_gradient_solve_equals_a_dense_solve() -> None:
    x, _ = arcs(40)
    k = 6
    nb, sc = _knn(x, k)
    graph = DiffusionGraph(nb, sc, k)
    q = np.array([0.7, 0.7, 0.05])
    q /= np.linalg.norm(q)
    s = x @ q
    seeds = np.argsort(-s)[:k]
    f = graph.diffuse(seeds, s[seeds])
    y = np.zeros(len(x))
    y[seeds] = np.maximum(s[seeds], 0) ** GAMMA
    np.testing.assert_allclose(f, np.linalg.solve(_dense_system(nb, sc, len(x), k), y), rtol=1e-4, atol=1e-8)


def test_leave_one_out_equals_the_graph_of_the_other_items_built_afresh() -> None:
    x, _ = arcs(30)
    k = 5
    nb, sc = _knn(x, k + 1)
    for i, f in enumerate(leave_one_out(nb, sc, k)):
        if i % 7:
            continue
        others = np.delete(np.arange(len(x)), i)
        onb, osc = _knn(x[others], k)
        seeds = nb[i, :k]
        y = np.zeros(len(others))
        y[np.searchsorted(others, seeds)] = np.maximum(sc[i, :k], 0) ** GAMMA
        want = np.linalg.solve(_dense_system(onb, osc, len(others), k), y)
        assert f[i] == -np.inf  # never itself
        np.testing.assert_allclose(f[others], want, rtol=1e-4, atol=1e-8)


def test_diffusion_follows_each_class_along_its_arc() -> None:
    x, y = arcs()
    plain, _ = retrieval_metrics(x, y)
    diffused, knn = retrieval_metrics(x, y, diffusion=10)
    assert plain.map_at_r < 0.7  # the other arc lies nearer than the far end of a query's own
    assert diffused.map_at_r > 0.95
    assert (knn.indices != np.arange(len(x))[:, None]).all()  # leave-one-out: a query never retrieves itself
    grid = diffusion_grid(x, y, graphs=[0, 10])
    assert grid[0].map_at_r == pytest.approx(plain.map_at_r)
    assert grid[10].map_at_r == pytest.approx(diffused.map_at_r)


def test_queries_against_separate_references_are_ranked_over_the_references_graph() -> None:
    x, y = arcs(300)
    q = np.arange(len(x)) % 10 == 0  # the references still lie 1.3 degrees apart on average
    plain, _ = retrieval_metrics(x[q], y[q], x[~q], y[~q])
    diffused, knn = retrieval_metrics(x[q], y[q], x[~q], y[~q], diffusion=10)
    assert diffused.map_at_r > plain.map_at_r + 0.2
    assert knn.indices.max() < (~q).sum() and not knn.exclude_self


def test_open_set_candidates_follow_the_arcs_too() -> None:
    x, y = arcs()
    g = np.arange(len(x)) % 3 != 0
    probes = x[~g] + np.array([0.0, 0.0, 0.03], np.float32) * (1 - 2 * y[~g])[:, None]  # each towards the other arc
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    plain = open_set_metrics(x[g], y[g], probes, y[~g])
    diffused = open_set_metrics(x[g], y[g], probes, y[~g], diffusion=10)
    assert diffused.rank1_accuracy >= plain.rank1_accuracy


def test_depth_is_capped_by_the_items_per_class_and_off_below_the_minimum() -> None:
    assert diffusion_depth(30, np.array([180, 170, 175])) == 30
    assert diffusion_depth(30, np.array([40, 40])) == 20  # half the median items per class
    assert diffusion_depth(30, np.array([5, 5, 5])) == 0  # 2 < MIN_GRAPH: a few shots per identity, no diffusion
    assert diffusion_depth(MIN_GRAPH, np.array([2 * MIN_GRAPH])) == MIN_GRAPH
    assert diffusion_depth(0, np.array([100])) == 0
    x, y = arcs(8)  # 8 items per class: capped at 4, below the minimum: the plain ranking
    assert retrieval_metrics(x, y, diffusion=30)[0] == retrieval_metrics(x, y)[0]


def test_bad_settings_name_the_problem() -> None:
    from lookalike.models.embedder import EmbeddingModel
    from lookalike.training.config import ModelConfig

    with pytest.raises(ConfigError, match=r"diffusion must be an integer in \[0, 100\]"):
        check_diffusion(101)
    with pytest.raises(ConfigError, match="needs the cosine distance"):
        EmbeddingModel.from_network(EmbeddingModel.for_vectors(3, "euclidean").network, diffusion=10)
    with pytest.raises(ConfigError, match="replaces query expansion"):
        EmbeddingModel.from_network(EmbeddingModel.for_vectors(3).network, diffusion=10, query_expansion=5)
    with pytest.raises(ConfigError, match="replaces query expansion"):
        x, y = arcs()
        retrieval_metrics(x, y, diffusion=10, database_augmentation=5)
    with pytest.raises(ValueError, match=r"model\.diffusion needs distance cosine"):
        ModelConfig(encoder="identity", distance="euclidean", diffusion=10)
    with pytest.raises(ValueError, match=r"model\.diffusion replaces"):
        ModelConfig(encoder="identity", diffusion=10, query_expansion=2)
    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(3).network, diffusion=10)
    assert model.diffusion == 10 and model.card.diffusion == 10
    plain = EmbeddingModel.for_vectors(3)
    assert plain.fingerprint != model.fingerprint  # the card's diffusion is part of what the model computes
