"""Grouping unknowns: the pool-side mixing option (``GroupingParams.mix``)."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import ConfigError
from lookalike.models.distances import get_distance
from lookalike.models.grouping import GroupingParams, group_embeddings, similarity_matrix


def _on_circle(degrees: list[float]) -> np.ndarray:
    a = np.radians(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


# class A: two variants 40 degrees apart (0-10 and 40-50); class B far away (120-130)
A = [0, 5, 10, 40, 45, 50]
B = [120, 125, 130]
X = _on_circle(A + B)
TRUTH = np.array([0] * len(A) + [1] * len(B))
#: accept up to about 35 degrees apart: complete linkage at scale 1 cannot join A's two variants (50 apart)
THRESHOLD = float(np.cos(np.radians(35)))


def _complete(mix: int) -> GroupingParams:
    return GroupingParams(linkage="complete", scale=1.0, mix=mix)


def _partition(groups: list) -> list[set[int]]:
    return sorted((set(g.members) for g in groups), key=min)


def test_mixing_with_the_nearest_unknowns_joins_the_variants_of_one_class() -> None:
    plain = group_embeddings(X, distance="cosine", threshold=THRESHOLD, params=_complete(mix=0))
    mixed = group_embeddings(X, distance="cosine", threshold=THRESHOLD, params=_complete(mix=3))
    assert _partition(plain) == [{0, 1, 2}, {3, 4, 5}, {6, 7, 8}]
    assert _partition(mixed) == [{0, 1, 2, 3, 4, 5}, {6, 7, 8}]
    for g in mixed:  # never across classes
        assert len(set(TRUTH[list(g.members)])) == 1


def test_cohesion_and_medoid_stay_in_the_plain_similarity() -> None:
    mixed = group_embeddings(X, distance="cosine", threshold=THRESHOLD, params=_complete(mix=3))
    sims = similarity_matrix(X, get_distance("cosine"))
    for g in mixed:
        rows = list(g.members)
        block = sims[np.ix_(rows, rows)]
        expected = (block.sum() - np.trace(block)) / (len(rows) * (len(rows) - 1))
        assert g.cohesion == pytest.approx(expected, abs=1e-6)
        assert g.medoid in rows


def test_a_mix_deeper_than_the_pool_is_capped() -> None:
    # more neighbours than other unknowns: every one of them, no error
    two = group_embeddings(X[:2], distance="cosine", threshold=THRESHOLD, params=GroupingParams(mix=50, min_size=2))
    assert [set(g.members) for g in two] == [{0, 1}]
    one = group_embeddings(X[:1], distance="cosine", threshold=THRESHOLD, params=GroupingParams(mix=5, min_size=1))
    assert [g.members for g in one] == [(0,)]


def test_mixing_works_in_euclidean_and_hyperbolic_spaces() -> None:
    for distance, threshold in (("euclidean", -0.6), ("hyperbolic", -1.0)):
        x = X * 0.5 if distance == "hyperbolic" else X
        groups = group_embeddings(x, distance=distance, threshold=threshold, params=GroupingParams(mix=2))
        assert len(groups) >= 2, (distance, groups)
        assert all(np.isfinite(g.cohesion) for g in groups)
        for g in groups:
            assert len(set(TRUTH[list(g.members)])) == 1


@pytest.mark.parametrize("bad", [-1, 101, 1.5, True])
def test_a_bad_mix_is_a_config_error_naming_it(bad: object) -> None:
    with pytest.raises(ConfigError, match="mix"):
        GroupingParams(mix=bad)  # type: ignore[arg-type]


def test_to_dict_round_trips_with_mix() -> None:
    p = GroupingParams(linkage="single", scale=0.8, min_size=3, mix=2)
    assert p.to_dict()["mix"] == 2
    assert GroupingParams(**p.to_dict()) == p


def _blobs(seed: int, n: int, d: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 10), d))
    x = centres[rng.integers(0, len(centres), n)] + rng.uniform(0.1, 0.6) * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("mix", [0, 3])
def test_single_linkage_without_the_matrix_gives_the_matrix_path_s_groups(distance: str, mix: int) -> None:
    from lookalike.models.distances import get_distance
    from lookalike.models.grouping import _group_dense, _group_single

    dist = get_distance(distance)
    for seed in range(8):
        x = _blobs(seed, 40 + 30 * seed)
        threshold = 0.6 if distance == "cosine" else -0.8
        p = GroupingParams(linkage="single", scale=0.7 + 0.1 * seed, mix=mix, min_size=1 + seed % 3)
        dense, light = _group_dense(x, dist, threshold, p), _group_single(x, dist, threshold, p)
        assert [g.members for g in dense] == [g.members for g in light]  # same groups, same ranking
        assert [g.cohesion for g in dense] == pytest.approx([g.cohesion for g in light], abs=1e-3)


def test_a_pool_too_large_for_the_matrix_is_refused_with_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.errors import DataError
    from lookalike.models import grouping

    monkeypatch.setattr(grouping, "DENSE_LIMIT", 50)
    x = _blobs(0, 60)
    with pytest.raises(DataError, match=r"average linkage .* needs a 60 x 60 matrix.*use single linkage"):
        group_embeddings(x, distance="cosine", threshold=0.6, params=GroupingParams(linkage="average"))
    with pytest.raises(DataError, match="hyperbolic space"):
        group_embeddings(x * 0.5, distance="hyperbolic", threshold=-1.0, params=GroupingParams())
    assert group_embeddings(x, distance="cosine", threshold=0.6)  # single linkage: no limit
