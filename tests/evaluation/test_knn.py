"""Exact chunked kNN: equals a brute-force reference, breaks ties by lower index, never exceeds its budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookalike.errors import DataError, EmbeddingSizeError
from lookalike.evaluation.knn import exact_knn
from lookalike.models.distances import get_distance

DISTANCES = ["cosine", "euclidean", "dot", "hyperbolic"]


def _embed(name: str, n: int, d: int, seed: int = 0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return get_distance(name).embed(torch.randn(n, d, generator=g)).numpy()


def _brute(q: np.ndarray, r: np.ndarray | None, k: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Reference answer: full score matrix, stable sort (ties → lower index)."""
    ref = q if r is None else r
    s = get_distance(name).scores(torch.from_numpy(q), torch.from_numpy(ref)).numpy()
    if r is None:
        np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(s, order, 1)


@pytest.mark.parametrize("name", DISTANCES)
@pytest.mark.parametrize("separate", [False, True])
def test_matches_brute_force_with_tiny_blocks(name: str, separate: bool) -> None:
    q = _embed(name, 157, 12)
    r = _embed(name, 203, 12, seed=1) if separate else None
    # a 0.01 MB budget forces many query blocks and reference chunks
    got = exact_knn(q, r, k=9, distance=name, max_memory_mb=0.01)
    want_i, want_s = _brute(q, r, 9, name)
    np.testing.assert_array_equal(got.indices, want_i)
    np.testing.assert_allclose(got.scores, want_s, rtol=1e-5, atol=1e-5)
    assert got.exclude_self is (not separate)
    if not separate:
        assert not (got.indices == np.arange(len(q))[:, None]).any()


@pytest.mark.parametrize("budget", [0.002, 0.05, 512.0])
def test_ties_break_towards_lower_reference_index_at_every_rank(budget: float) -> None:
    # integer points: many exactly equal distances, also across the k-th place and across chunks
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(300, 3)).astype(np.float32)
    got = exact_knn(x, k=25, distance="euclidean", max_memory_mb=budget)
    want_i, _ = _brute(x, None, 25, "euclidean")
    np.testing.assert_array_equal(got.indices, want_i)


def test_duplicates_of_the_query_rank_before_others_and_self_is_excluded() -> None:
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    got = exact_knn(x, k=3, distance="cosine")
    assert got.indices.tolist() == [[1, 3, 2], [0, 3, 2], [0, 1, 3], [0, 1, 2]]
    np.testing.assert_allclose(got.scores[:, 0], [1.0, 1.0, 0.0, 1.0])


def test_k_as_large_as_possible_and_labels_helper() -> None:
    x = _embed("cosine", 40, 5)
    got = exact_knn(x, k=39, max_memory_mb=0.001)
    assert sorted(got.indices[0].tolist()) == list(range(1, 40))
    labels = np.arange(40) % 3
    assert got.labels(labels).shape == (40, 39)


def test_bad_input_is_refused_with_clear_errors() -> None:
    x = _embed("cosine", 10, 4)
    with pytest.raises(DataError, match=r"k must be an integer in \[1, 9\]"):
        exact_knn(x, k=10)
    with pytest.raises(EmbeddingSizeError, match="queries have 4 dimensions but references have 3"):
        exact_knn(x, np.zeros((5, 3), np.float32), k=1)
    with pytest.raises(EmbeddingSizeError, match="2-D"):
        exact_knn(np.zeros(4, np.float32), k=1)
    bad = x.copy()
    bad[2, 0] = np.nan
    with pytest.raises(DataError, match="1 rows with NaN"):
        exact_knn(bad, k=1)
    with pytest.raises(DataError, match="unknown device"):
        exact_knn(x, k=1, device="tpu9")


@pytest.mark.gpu
def test_cuda_equals_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x = _embed("cosine", 2000, 64)
    a = exact_knn(x, k=20, device="cpu")
    b = exact_knn(x, k=20, device="cuda")
    assert (a.indices == b.indices).mean() > 0.999  # float rounding may swap near-ties


@pytest.mark.parametrize("name", ["cosine", "euclidean"])
def test_grouped_selection_path_is_exact_with_ties(name: str) -> None:
    # k * 64 <= block width takes the group-maxima path; integer points give exact ties at every rank
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(1500, 3)).astype(np.float32) + 1.0
    got = exact_knn(x, k=12, distance=name, max_memory_mb=2.0)
    want_i, _ = _brute(x, None, 12, name)
    np.testing.assert_array_equal(got.indices, want_i)
    y = _embed("cosine", 1300, 8, seed=4)
    got = exact_knn(y, k=7, max_memory_mb=0.5)
    np.testing.assert_array_equal(got.indices, _brute(y, None, 7, "cosine")[0])


def _spy_sparse(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the filtered (sparse) heap updates of the CPU search."""
    from lookalike.evaluation import _cpu_knn

    calls: list[int] = []
    real = _cpu_knn._sparse

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_cpu_knn, "_sparse", spy)
    return calls


@pytest.mark.parametrize("name", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("separate", [False, True])
def test_cpu_filter_path_is_exact_with_massive_ties(name: str, separate: bool, monkeypatch) -> None:
    # integer points: products are exact in float32, so thousands of equal distances straddle the k-th place,
    # the group filter and the tile borders; the heaps must still keep the lower index of equal distances
    calls = _spy_sparse(monkeypatch)
    rng = np.random.default_rng(7)
    x = (rng.integers(0, 4, size=(2600, 4)) + 1).astype(np.float32)
    q, r = (x[:900], x[900:]) if separate else (x, None)
    got = exact_knn(q, r, k=30, distance=name, device="cpu", max_memory_mb=1)  # tiles of 32 x 128
    want_i, want_s = _brute(q, r, 30, name)
    np.testing.assert_array_equal(got.indices, want_i)
    np.testing.assert_allclose(got.scores, want_s, rtol=1e-6, atol=1e-5)
    assert calls, "the group filter was never used: the test no longer covers it"


@pytest.mark.parametrize("name", DISTANCES)
def test_cpu_search_agrees_with_the_block_path(name: str) -> None:
    # the block path is what runs on GPU; on CPU both must give the same neighbours
    from lookalike.evaluation.knn import _blocked_topk_knn

    x = torch.from_numpy(_embed(name, 2100, 16, seed=9))
    got = exact_knn(x, k=15, distance=name, device="cpu")
    idx, val = _blocked_topk_knn(x, x, True, 15, get_distance(name), 512.0, torch.device("cpu"))
    assert (got.indices == idx).mean() > 0.999  # float rounding may swap near-ties
    np.testing.assert_allclose(got.scores, val, rtol=1e-4, atol=1e-4)


def test_cpu_search_restores_thread_settings() -> None:
    import faiss

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    exact_knn(_embed("cosine", 300, 8), k=5, device="cpu")
    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == before


def test_cpu_search_error_in_a_worker_is_raised_not_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.evaluation import _cpu_knn

    real = _cpu_knn._tile_updates
    seen: list[int] = []

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(1)
        if len(seen) == 3:
            raise MemoryError("tile 3")
        return real(*args, **kwargs)

    monkeypatch.setattr(_cpu_knn, "_tile_updates", failing)
    with pytest.raises(MemoryError, match="tile 3"):
        exact_knn(_embed("cosine", 600, 8), k=5, device="cpu", max_memory_mb=0.2)
