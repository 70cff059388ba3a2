"""Retrieval and open-set figures with database-side augmentation, against a brute-force computation."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.evaluation.evaluate import evaluate_embeddings
from lookalike.evaluation.openset import open_set_metrics
from lookalike.evaluation.retrieval import metrics_from_neighbours, retrieval_metrics


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _data(seed: int, n_classes: int = 4, per_class: int = 10, dim: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    x = rng.normal(size=(len(y), dim)) + np.eye(dim)[y % dim] * 1.2
    return _unit(x).astype(np.float32), y


def _brute_force(x: np.ndarray, expand: int, augment: int, refs: np.ndarray | None = None) -> np.ndarray:
    """Per query, the references ranked by (query + mean of its ``expand`` nearest references) / 2 against each
    reference mixed with the mean of its ``augment`` nearest other references — in a leave-one-out search
    (``refs=None``) never counting the query itself among them (cosine)."""
    x = x.astype(np.float64)
    r = x if refs is None else refs.astype(np.float64)
    out = []
    for i in range(len(x)):
        others = np.array([j for j in range(len(r)) if refs is not None or j != i])
        nb = others[np.argsort(-(r[others] @ x[i]), kind="stable")[:expand]]
        q = _unit((x[i] + r[nb].mean(0)) / 2) if expand else x[i]
        scores = []
        for j in others:
            pool = np.array([t for t in range(len(r)) if t != j and (refs is not None or t != i)])
            nbj = pool[np.argsort(-(r[pool] @ r[j]), kind="stable")[:augment]]
            scores.append(q @ _unit((r[j] + r[nbj].mean(0)) / 2))
        out.append(others[np.argsort(-np.asarray(scores), kind="stable")])
    return np.stack(out)


@pytest.mark.parametrize(("expand", "augment"), [(0, 3), (3, 3), (2, 4)])
def test_leave_one_out_augmentation_matches_brute_force_and_never_uses_the_query(expand: int, augment: int) -> None:
    x, y = _data(0)  # 10 items per class: the depth cap (5) keeps these
    got, knn = retrieval_metrics(x, y, query_expansion=expand, database_augmentation=augment)
    assert not (knn.indices == np.arange(len(y))[:, None]).any()
    ranked = _brute_force(x, expand, augment)
    np.testing.assert_array_equal(knn.indices, ranked[:, : knn.k])
    want = metrics_from_neighbours(y[ranked], y, y, exclude_self=True)
    assert got.map_at_r == pytest.approx(want.map_at_r, abs=1e-6)
    assert got.map_at_r != pytest.approx(retrieval_metrics(x, y, query_expansion=expand)[0].map_at_r, abs=1e-9)


def test_separate_references_are_mixed_among_themselves() -> None:
    x, y = _data(1)
    q, r = x[::2], x[1::2]
    _, knn = retrieval_metrics(q, y[::2], r, y[1::2], database_augmentation=2)
    np.testing.assert_array_equal(knn.indices, _brute_force(q, 0, 2, refs=r)[:, : knn.k])
    assert (
        retrieval_metrics(q, y[::2], r, y[1::2], database_augmentation=0)[0]
        == retrieval_metrics(q, y[::2], r, y[1::2])[0]
    )


def test_a_reference_is_scored_re_mixed_without_the_query() -> None:
    from lookalike.evaluation.knn import exact_knn
    from lookalike.models.distances import get_distance
    from lookalike.models.expansion import augment_references

    x, y = _data(3, n_classes=3, per_class=8)
    _, knn = retrieval_metrics(x, y, database_augmentation=3)
    nb = exact_knn(x, None, k=4).indices  # each item's 4 nearest others
    leaky = x @ augment_references(x, nb[:, :3], get_distance("cosine")).T  # mixed with every item, the query too
    checked = 0
    for i in range(len(x)):
        for j, score in zip(knn.indices[i], knn.scores[i], strict=True):
            if i in nb[j, :3]:  # the query is one of j's neighbours: j is scored as mixed with the next one instead
                others = [t for t in nb[j] if t != i][:3]
                want = float(x[i] @ _unit((x[j] + x[others].mean(0)) / 2))
                assert score == pytest.approx(want, abs=1e-5) and score != pytest.approx(leaky[i, j], abs=1e-5)
                checked += 1
            else:
                assert score == pytest.approx(leaky[i, j], abs=1e-5)
    assert checked > 0


@pytest.mark.parametrize("distance", ["euclidean", {"name": "hyperbolic", "c": 0.1}])
def test_other_distances_stay_finite_and_leave_the_query_out(distance: object) -> None:
    import torch

    from lookalike.models.distances import get_distance

    x, y = _data(2)
    dist = get_distance(distance)  # type: ignore[arg-type]
    e = dist.embed(torch.from_numpy(x * 0.5)).numpy()
    got, knn = retrieval_metrics(e, y, distance=dist, query_expansion=2, database_augmentation=3)
    assert np.isfinite(got.map_at_r) and np.isfinite(knn.scores).all()
    assert not (knn.indices == np.arange(len(y))[:, None]).any()


def test_open_set_candidate_is_ranked_against_mixed_gallery_items() -> None:
    deg = np.deg2rad(np.array([0, 5, 10, 15, 20, 50, 64, 66, 67, 68, 69, 70]))
    gallery = np.stack([np.cos(deg), np.sin(deg)], 1).astype(np.float32)
    g_labels = np.array([0] * 6 + [1] * 6)
    probe = np.array([[np.cos(np.deg2rad(59)), np.sin(np.deg2rad(59))]], np.float32)
    plain = open_set_metrics(gallery, g_labels, probe, np.array([0]))
    mixed = open_set_metrics(gallery, g_labels, probe, np.array([0]), database_augmentation=3)
    # nearest item 64 degrees (class 1); mixed with its 3 nearest others, the 50-degree item (class 0) moves to
    # about 58 degrees (its neighbours are 64, 66, 67) and 64 to about 66: the probe's candidate becomes class 0
    assert plain.rank1_accuracy == 0.0 and mixed.rank1_accuracy == 1.0


def test_evaluate_reports_the_plain_figures_and_names_both_settings() -> None:
    x, y = _data(4, n_classes=5)
    r = evaluate_embeddings(x, y, database_augmentation=3, clustering=False, verification=False, discovery=False)
    assert r.info["database_augmentation"] == 3 and r.info["query_expansion"] == 0
    assert r.info["without_query_expansion"]["map_at_r"] == pytest.approx(retrieval_metrics(x, y)[0].map_at_r)
    assert r.retrieval.map_at_r == pytest.approx(retrieval_metrics(x, y, database_augmentation=3)[0].map_at_r)
    head = evaluate_embeddings(x, y, query_expansion=2, database_augmentation=3, clustering=False).headline()
    assert "MAP@R, no expansion (model: 2, database 3)" in head


def test_the_grid_equals_one_search_per_pair() -> None:
    from lookalike.evaluation.retrieval import expansion_grid

    x, y = _data(5, n_classes=4, per_class=12)
    grid = expansion_grid(x, y, expansions=[0, 2, 5], augmentations=[0, 3, 5], ks=(1, 5))
    assert set(grid) == {(e, a) for e in (0, 2, 5) for a in (0, 3, 5)}
    for (e, a), got in grid.items():
        want, _ = retrieval_metrics(x, y, ks=(1, 5), query_expansion=e, database_augmentation=a)
        assert got == want


def test_a_small_memory_budget_re_mixes_per_block_with_the_same_result() -> None:
    x, y = _data(6, n_classes=4, per_class=12)
    roomy, _ = retrieval_metrics(x, y, query_expansion=2, database_augmentation=4)
    tight, _ = retrieval_metrics(x, y, query_expansion=2, database_augmentation=4, max_memory_mb=0.001)
    assert tight == roomy
