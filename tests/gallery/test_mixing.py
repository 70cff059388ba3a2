"""A gallery's mixed items (database-side augmentation) updated from its changes equal a full recomputation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lookalike.gallery.mixing import ItemMixer
from lookalike.gallery.stores.base import Hit
from lookalike.models.distances import get_distance


def _brute_search(vectors: np.ndarray, ids: np.ndarray, distance):  # type: ignore[no-untyped-def]
    def search(q: np.ndarray, n: int) -> list[list[Hit]]:
        s = distance.scores(torch.from_numpy(q), torch.from_numpy(vectors)).numpy()
        order = np.argsort(-s, axis=1, kind="stable")[:, :n]
        return [[Hit(int(ids[j]), "x", float(s[i, j])) for j in row] for i, row in enumerate(order)]

    return search


def _points(n: int, seed: int, distance) -> np.ndarray:  # type: ignore[no-untyped-def]
    x = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    return distance.embed(torch.from_numpy(x * 0.3)).numpy()


@pytest.mark.parametrize("name", ["cosine", "euclidean"])
def test_enrolling_and_removing_update_only_what_changed_and_equal_a_full_recomputation(name: str) -> None:
    dist = get_distance(name)
    x = _points(120, 0, dist)
    ids = np.arange(1000, 1120, dtype=np.int64)
    mixer = ItemMixer(dist)
    base = x[:100]
    first = mixer.mixed(base, ids[:100], 5, _brute_search(base, ids[:100], dist))
    assert mixer.last_searched == 100
    assert mixer.mixed(base, ids[:100], 5, _brute_search(base, ids[:100], dist)) is first  # the same table: cached

    # 4 enrolled: only they are searched; the others merge them in where they are nearer than their 5th neighbour
    grown, grown_ids = x[:104].copy(), ids[:104]
    got = mixer.mixed(grown, grown_ids, 5, _brute_search(grown, grown_ids, dist))
    assert mixer.last_searched == 4
    want = ItemMixer(dist).mixed(grown, grown_ids, 5, _brute_search(grown, grown_ids, dist))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(got[:100], first)  # some neighbourhoods did take the new items in

    # 3 removed: only the items that had one of them as a neighbour are searched again
    keep = np.ones(104, bool)
    keep[[3, 50, 101]] = False
    shrunk, shrunk_ids = grown[keep], grown_ids[keep]
    got = mixer.mixed(shrunk, shrunk_ids, 5, _brute_search(shrunk, shrunk_ids, dist))
    assert 0 < mixer.last_searched < len(shrunk_ids)
    want = ItemMixer(dist).mixed(shrunk, shrunk_ids, 5, _brute_search(shrunk, shrunk_ids, dist))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_large_change_searches_everything_again() -> None:
    dist = get_distance("cosine")
    x = _points(60, 1, dist)
    ids = np.arange(60, dtype=np.int64)
    mixer = ItemMixer(dist)
    mixer.mixed(x[:30], ids[:30], 3, _brute_search(x[:30], ids[:30], dist))
    got = mixer.mixed(x, ids, 3, _brute_search(x, ids, dist))  # doubled: more than a tenth changed
    assert mixer.last_searched == 60
    np.testing.assert_allclose(got, ItemMixer(dist).mixed(x, ids, 3, _brute_search(x, ids, dist)), atol=1e-6)


def test_a_gallery_updates_its_mixed_items_on_enrollment(tmp_path: Path) -> None:
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel

    dist = get_distance("cosine")
    x = _points(70, 2, dist)
    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(8).network, database_augmentation=3)
    with Gallery.create(tmp_path / "g", model, threshold=0.5) as g:
        for i in range(10):
            g.enroll_vectors(f"id{i}", x[i * 6 : i * 6 + 6])
        g.identify_vectors(x[60:61])
        assert g._mixer.last_searched == 60
        g.enroll_vectors("id10", x[60:62])
        answer = g.identify_vectors(x[62:64], k=3)
        assert g._mixer.last_searched == 2  # only the two new items were searched
        vectors, _, _, rows = g._table()
        ids = np.fromiter(rows, np.int64, len(rows))
        fresh = ItemMixer(g.distance).mixed(vectors, ids, 3, g.store.search)
        np.testing.assert_allclose(g._mixed_items(vectors, rows, 3), fresh, atol=1e-6)
    with Gallery.open(tmp_path / "g") as reopened:  # a new handle mixes from scratch: the same answers
        assert reopened.identify_vectors(x[62:64], k=3) == answer


def test_warm_mixes_ahead_of_the_first_identify_and_changes_no_answer(tmp_path: Path) -> None:
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel

    dist = get_distance("cosine")
    x = _points(64, 3, dist)
    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(8).network, database_augmentation=3)
    with Gallery.create(tmp_path / "g", model, threshold=0.5) as g:
        assert g.warm() == 0  # empty: nothing to mix
        for i in range(10):
            g.enroll_vectors(f"id{i}", x[i * 6 : i * 6 + 6])
    with Gallery.open(tmp_path / "g") as cold:
        answer = cold.identify_vectors(x[60:64], k=3)
    with Gallery.open(tmp_path / "g") as g:
        assert g.warm() == 60 and g._mixer.last_searched == 60
        vectors, _, _, _ = g._table()
        assert g._mixer.cached(vectors, 3) is not None  # the first identify finds the items mixed
        assert g.identify_vectors(x[60:64], k=3) == answer
        assert g._mixer.last_searched == 60  # and searched nothing more
    plain = EmbeddingModel.for_vectors(8)
    with Gallery.create(tmp_path / "p", plain, threshold=0.5) as g:
        g.enroll_vectors("a", x[:6])
        assert g.warm() == 0  # no database-side augmentation: nothing to do
