"""One contract for every gallery store: SQLite + faiss (embedded) and PostgreSQL + pgvector (server)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _gallery_helpers import clustered

from lookalike.errors import DataError, EmbeddingSizeError, GalleryError, NotFoundError
from lookalike.gallery.stores import STORES, VectorStore, open_store, store_kind_for
from lookalike.models.distances import get_distance


def make(location: str, options: dict, *, dim: int = 8, distance: str = "cosine") -> VectorStore:
    cls = STORES.create(store_kind_for(location))
    return cls.create(location, dim=dim, distance=get_distance(distance), meta={"note": "hi"}, **options)


def test_add_returns_new_increasing_ids_and_counts(location: str, store_options: dict) -> None:
    x, _ = clustered(3, 4)
    store = make(location, store_options)
    a = store.add("alice", x[:4], [{"k": i} for i in range(4)])
    b = store.add("bob", x[4:6], [{}, {}])
    assert len(a) == 4 and len(b) == 2 and a == sorted(a) and min(b) > max(a)
    assert store.count() == 6
    assert store.identities() == {"alice": 4, "bob": 2} and store.identity_count() == 2
    assert [r.metadata for r in store.items("alice")] == [{"k": i} for i in range(4)]
    assert [r.id for r in store.items()] == a + b
    store.close()


def test_search_is_exact_on_small_galleries_and_sorted(location: str, store_options: dict) -> None:
    x, y = clustered(5, 4)
    store = make(location, store_options)
    ids = []
    for c in range(5):
        ids += store.add(f"id{c}", x[y == c], [{}] * 4)
    hits = store.search(x[:3], k=6)
    expected = torch.from_numpy(x[:3]) @ torch.from_numpy(x).T
    for q, row in enumerate(hits):
        assert row[0].id == ids[q] and row[0].identity == "id0"
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)
        top = expected[q].topk(6).values.numpy()
        np.testing.assert_allclose([h.score for h in row], top, atol=1e-5)
    assert len(store.search(x[:1], k=100)[0]) == 20  # fewer items than k: all of them
    store.close()


def test_search_identities_gives_distinct_identities_scored_by_their_best_item(
    location: str, store_options: dict
) -> None:
    x, y = clustered(3, 4, seed=1)
    store = make(location, store_options)
    crowd = x[0] + 0.01 * np.random.default_rng(0).normal(size=(60, 8))  # 60 items nearer than anyone else's
    store.add("crowd", (crowd / np.linalg.norm(crowd, axis=1, keepdims=True)).astype(np.float32), [{}] * 60)
    for c in range(1, 3):
        store.add(f"id{c}", x[y == c], [{}] * 4)
    k = 3
    got = store.search_identities(x[:2], k)  # max(4k, k + 16) = 19 nearest items are all "crowd": fetch more
    every = store.search(x[:2], 68)
    for row, hits in zip(got, every, strict=True):
        best: dict[str, float] = {}
        for h in hits:
            best.setdefault(h.identity, h.score)
        assert [m.identity for m in row] == list(best)[:k] and row[0].identity == "crowd"
        np.testing.assert_allclose([m.score for m in row], list(best.values())[:k], atol=1e-5)
    assert [len(r) for r in store.search_identities(x[:2], 10)] == [3, 3]  # fewer identities than k: all
    with pytest.raises(EmbeddingSizeError):
        store.search_identities(x[:1, :4], 2)
    store.close()


def test_euclidean_scores_are_minus_l2_distance(location: str, store_options: dict) -> None:
    x, _ = clustered(2, 3)
    store = make(location, store_options, distance="euclidean")
    store.add("a", x, [{}] * 6)
    hit = store.search(x[:1], k=2)[0][1]
    assert hit.score == pytest.approx(
        -float(np.linalg.norm(x[0] - x[hit.id - min(r.id for r in store.items())])), abs=1e-5
    )
    assert hit.score < 0
    store.close()


def test_remove_identity_and_items(location: str, store_options: dict) -> None:
    x, _ = clustered(2, 3)
    store = make(location, store_options)
    a = store.add("alice", x[:3], [{}] * 3)
    b = store.add("bob", x[3:], [{}] * 3)
    assert store.remove_identity("alice") == a
    assert store.identities() == {"bob": 3}
    assert all(h.identity == "bob" for h in store.search(x[:1], k=10)[0])
    with pytest.raises(NotFoundError, match="alice"):
        store.remove_identity("alice")
    with pytest.raises(NotFoundError):
        store.items("alice")
    store.remove_items([b[0]])
    assert [r.id for r in store.items()] == b[1:]
    with pytest.raises(NotFoundError, match=str(a[0])):
        store.remove_items([b[1], a[0]])  # all or none: b[1] stays
    assert [r.id for r in store.items()] == b[1:]
    store.remove_items(b[1:])
    assert store.identities() == {} and store.count() == 0 and store.identity_count() == 0
    assert store.search(x[:2], k=3) == [[], []]
    store.close()


def test_bad_input_is_refused_and_stores_nothing(location: str, store_options: dict) -> None:
    x, _ = clustered(1, 2)
    store = make(location, store_options)
    with pytest.raises(EmbeddingSizeError, match="8 columns"):
        store.add("a", np.ones((2, 5), np.float32), [{}, {}])
    bad = x.copy()
    bad[1, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        store.add("a", bad, [{}, {}])
    with pytest.raises(DataError, match="JSON"):
        store.add("a", x, [{"f": object()}, {}])
    with pytest.raises(DataError, match="identity"):
        store.add("", x, [{}, {}])
    with pytest.raises(EmbeddingSizeError):
        store.search(np.ones((1, 3), np.float32), k=1)
    assert store.count() == 0 and store.identities() == {}
    store.close()


def test_meta_round_trip_and_reserved_keys(location: str, store_options: dict) -> None:
    store = make(location, store_options)
    assert store.get_meta() == {"note": "hi"}
    g0 = store.generation()
    store.set_meta({"threshold": 0.5, "calibration": {"far": 0.001}})
    assert store.get_meta()["threshold"] == 0.5 and store.get_meta()["calibration"] == {"far": 0.001}
    store.set_meta({"note": None})
    assert "note" not in store.get_meta()
    assert store.generation() > g0
    with pytest.raises(GalleryError, match="reserved"):
        store.set_meta({"generation": 3})
    store.close()


def test_reopen_keeps_everything(location: str, store_options: dict) -> None:
    x, y = clustered(3, 3)
    store = make(location, store_options)
    ids = [store.add(f"p{c}", x[y == c], [{"c": int(c)}] * 3) for c in range(3)]
    store.set_meta({"threshold": 0.25})
    before = store.search(x, k=4)
    store.close()
    with pytest.raises(GalleryError, match="closed"):
        store.count()
    again = open_store(location, **store_options)
    assert again.dim == 8 and again.distance.name == "cosine"
    assert again.identities() == {"p0": 3, "p1": 3, "p2": 3}
    assert again.get_meta()["threshold"] == 0.25
    assert again.search(x, k=4) == before
    table = again.vectors()
    assert table.ids.tolist() == [i for group in ids for i in group]
    np.testing.assert_allclose(table.vectors, x, atol=1e-6)  # float32 exactly for sqlite; text round trip for pg
    again.close()


def test_a_new_identity_only_add_refuses_a_taken_name_seen_from_another_handle(
    location: str, store_options: dict
) -> None:
    x, _ = clustered(2, 2)
    one = make(location, store_options)
    two = open_store(location, **store_options)
    assert len(one.add("carol", x[:2], [{}, {}], new=True)) == 2
    with pytest.raises(GalleryError, match="'carol' is already enrolled"):
        two.add("carol", x[2:], [{}, {}], new=True)  # the other handle's commit is checked in the write
    assert two.identities() == {"carol": 2}
    two.add("carol", x[2:], [{}, {}])  # a plain add still adds to it
    one.remove_identity("carol")
    assert len(two.add("carol", x[:1], [{}], new=True)) == 1  # a name with no items left is free again
    one.close()
    two.close()


def test_two_handles_see_each_others_writes(location: str, store_options: dict) -> None:
    x, _ = clustered(2, 2)
    one = make(location, store_options)
    two = open_store(location, **store_options)
    ids = one.add("a", x[:2], [{}, {}])
    assert [h.id for h in two.search(x[:1], k=1)[0]] == ids[:1]
    two.add("b", x[2:], [{}, {}])
    assert one.identities() == {"a": 2, "b": 2}
    assert one.search(x[2:3], k=1)[0][0].identity == "b"
    two.remove_identity("a")
    assert {h.identity for h in one.search(x[:1], k=4)[0]} == {"b"}
    one.close()
    two.close()


def test_missing_store_is_not_found(location: str, store_options: dict, tmp_path) -> None:
    where = str(tmp_path / "nothing") if store_kind_for(location) == "sqlite" else location
    with pytest.raises(NotFoundError, match="no gallery"):
        open_store(where, **store_options)


def test_creating_twice_is_refused(location: str, store_options: dict) -> None:
    make(location, store_options).close()
    with pytest.raises(GalleryError, match="already exists"):
        make(location, store_options)


def test_images_go_with_their_items_in_the_same_transaction(location: str, store_options: dict) -> None:
    x, _ = clustered(2, 2)
    store = make(location, store_options)
    a = store.add("alice", x[:2], [{}, {}])
    b = store.add("bob", x[2:], [{}, {}])
    assert store.image(a[0]) is None and store.identities_with_images() == set()
    assert store.put_images({a[0]: b"A0", a[1]: b"A1", b[1]: b"B1", 10_000: b"nobody"}) == [a[0], a[1], b[1]]
    assert store.image(a[1]) == b"A1" and store.identity_image("alice") == b"A0"
    assert store.identities_with_images() == {"alice", "bob"}
    assert store.identities_with_images(["bob", "nobody"]) == {"bob"} and store.identities_with_images([]) == set()
    store.remove_items([a[0]])
    assert store.image(a[0]) is None and store.identity_image("alice") == b"A1"
    store.remove_identity("alice")
    assert store.image(a[1]) is None and store.identity_image("alice") is None
    new = store.add("alice", x[:1], [{}])  # somebody else under the old name: no picture of the removed one
    assert store.identity_image("alice") is None and store.image(new[0]) is None
    assert store.identities_with_images() == {"bob"}
    store.close()


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "x" * 201, ".", "..", "nul\x00"])
def test_identity_names_follow_the_one_rule(location: str, store_options: dict, bad: str) -> None:
    x, _ = clustered(1, 1)
    store = make(location, store_options)
    with pytest.raises(DataError):
        store.add(bad, x, [{}])
    assert store.count() == 0
    store.add("  trimmed name ", x, [{}])
    assert store.identities() == {"trimmed name": 1}
    store.close()
