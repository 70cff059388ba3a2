"""SQLite + faiss specifics: the derived index is rebuilt or caught up from SQLite; IVF past a size; hyperbolic."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _gallery_helpers import clustered

from lookalike.gallery.stores.sqlite import SQLiteStore
from lookalike.models.distances import get_distance


def _filled(path: Path, n_ids: int = 4, per: int = 5, **options) -> tuple[SQLiteStore, np.ndarray]:
    x, y = clustered(n_ids, per, seed=4)
    store = SQLiteStore.create(path, dim=8, distance=get_distance("cosine"), meta={}, **options)
    for c in range(n_ids):
        store.add(f"p{c}", x[y == c], [{}] * per)
    return store, x


def _consistent(store: SQLiteStore) -> bool:
    return sorted(store._index.ids().tolist()) == [r.id for r in store.items()]


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated"])
def test_damaged_index_snapshot_is_rebuilt(tmp_path: Path, damage: str) -> None:
    store, x = _filled(tmp_path / "g")
    before = store.search(x, k=3)
    store.close()
    snap = tmp_path / "g" / SQLiteStore.INDEX_NAME
    if damage == "missing":
        snap.unlink()
    elif damage == "garbage":
        snap.write_bytes(b"not an index at all")
    else:
        snap.write_bytes(snap.read_bytes()[:-100])
    store = SQLiteStore.open(tmp_path / "g")
    assert _consistent(store) and store.search(x, k=3) == before
    store.close()


def test_stale_snapshot_is_caught_up_and_foreign_one_rejected(tmp_path: Path) -> None:
    store, x = _filled(tmp_path / "g")
    store.close()
    old = (tmp_path / "g" / SQLiteStore.INDEX_NAME).read_bytes()
    store = SQLiteStore.open(tmp_path / "g")
    store.remove_identity("p1")
    new_ids = store.add("late", x[:2] * -1, [{}, {}])
    store.close()
    (tmp_path / "g" / SQLiteStore.INDEX_NAME).write_bytes(old)  # snapshot from before those writes
    store = SQLiteStore.open(tmp_path / "g")
    assert _consistent(store)
    assert store.search(x[:1] * -1, k=1)[0][0].id == new_ids[0]
    assert all(h.identity != "p1" for h in store.search(x, k=20)[0])
    store.close()
    other, _ = _filled(tmp_path / "other")
    other.remove_identity("p0")
    other.close()
    shutil.copy(tmp_path / "other" / SQLiteStore.INDEX_NAME, tmp_path / "g" / SQLiteStore.INDEX_NAME)
    store = SQLiteStore.open(tmp_path / "g")  # another gallery's snapshot: never trusted
    assert _consistent(store) and store.count() == 17
    store.close()


def test_switches_to_ivf_past_threshold_and_keeps_working(tmp_path: Path) -> None:
    store, x = _filled(tmp_path / "g", n_ids=20, per=20, ann_threshold=300, nlist=4, nprobe=4)
    assert store.index_kind == "ivf"
    hits = store.search(x[::37], k=1)
    assert [h[0].id for h in hits] == [i + 1 for i in range(0, 400, 37)]
    store.remove_identity("p0")
    assert _consistent(store)
    store.close()
    store = SQLiteStore.open(tmp_path / "g", nprobe=4)
    assert store.index_kind == "ivf" and _consistent(store) and store.count() == 380
    store.close()


def test_hyperbolic_uses_exact_torch_search(tmp_path: Path) -> None:
    dist = get_distance("hyperbolic")
    x = dist.embed(torch.randn(30, 8)).numpy()
    store = SQLiteStore.create(tmp_path / "g", dim=8, distance=dist, meta={})
    ids = store.add("a", x, [{}] * 30)
    assert store.index_kind == "torch-exact"
    hits = store.search(x[:3], k=5)
    expected = dist.scores(torch.from_numpy(x[:3]), torch.from_numpy(x)).topk(5)
    for row, s, i in zip(hits, expected.values, expected.indices, strict=True):
        assert [h.id for h in row] == [ids[j] for j in i.tolist()]
        np.testing.assert_allclose([h.score for h in row], s.numpy(), rtol=1e-5)
    store.close()
    store = SQLiteStore.open(tmp_path / "g")
    assert store.search(x[:3], k=5) == hits
    store.close()
