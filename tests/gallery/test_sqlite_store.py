"""SQLite + faiss specifics: the derived index is rebuilt or caught up from SQLite; IVF past a size; hyperbolic."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _gallery_helpers import clustered

from lookalike.errors import GalleryError
from lookalike.gallery.stores.sqlite import SQLiteStore
from lookalike.models.distances import get_distance


def _filled(path: Path, n_ids: int = 4, per: int = 5, **options) -> tuple[SQLiteStore, np.ndarray]:
    x, y = clustered(n_ids, per, seed=4)
    store = SQLiteStore.create(path, dim=8, distance=get_distance("cosine"), meta={}, **options)
    for c in range(n_ids):
        store.add(f"p{c}", x[y == c], [{}] * per)
    return store, x


def _consistent(store: SQLiteStore) -> bool:
    return sorted(store.mirror.index.ids().tolist()) == [r.id for r in store.items()]


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


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_is_a_gallery_error_and_left_as_it_is(tmp_path: Path, damage: str) -> None:
    """It was sqlite3.DatabaseError from the first PRAGMA, a traceback on the command line."""
    store, _ = _filled(tmp_path / "g")
    store.close()
    db = tmp_path / "g" / SQLiteStore.DB_NAME
    db.write_bytes(b"garbage" * 100 if damage == "garbage" else db.read_bytes()[:5000])
    before = db.read_bytes()
    with pytest.raises(GalleryError, match=r"is not a readable gallery database .*restore the folder from a backup"):
        SQLiteStore.open(tmp_path / "g")
    assert db.read_bytes() == before


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


_OTHER_PROCESS = """
import sys, numpy as np
from lookalike.gallery import Gallery
from lookalike.errors import GalleryError
from lookalike.gallery.stores.sqlite import SQLiteStore
path, step = sys.argv[1], sys.argv[2]
if step == "enroll":
    g = Gallery.open(path)
    g.enroll_vectors("late", np.load(sys.argv[3]))
    g.close()
elif step == "checkpoint-then-enroll":  # empties the WAL, so the next commit restarts it from its first frame
    store = SQLiteStore.open(path)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.add("later", np.load(sys.argv[3]), [{}])
    store.close()
elif step == "threshold":
    g = Gallery.open(path)
    g.set_threshold(float(sys.argv[3]))
    g.close()
else:
    g = Gallery.open(path)
    g.remove("late")
    g.close()
"""


def _in_other_process(tmp_path: Path, *args: str) -> None:
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, *args], check=True, timeout=120, cwd=tmp_path)


def test_another_process_writes_are_seen_by_the_next_identify(tmp_path: Path, model8) -> None:
    from lookalike.gallery import Gallery

    x, y = clustered(3, 4, seed=2)
    g = Gallery.create(tmp_path / "g", model8)
    for c in range(3):
        g.enroll_vectors(f"p{c}", x[y == c])
    store = g.store
    assert isinstance(store, SQLiteStore)
    far = -x[:1]  # nobody enrolled is near it
    np.save(tmp_path / "far.npy", far)
    assert g.identify_vectors(far, k=1)[0].matches[0].identity != "late"
    assert g.identify_vectors(far, k=1)[0].matches[0].identity != "late"  # a second read, nothing changed

    _in_other_process(tmp_path, str(tmp_path / "g"), "enroll", str(tmp_path / "far.npy"))
    assert g.identify_vectors(far, k=1)[0].matches[0].identity == "late"
    assert len(g) == 13 and g.identities()["late"] == 1

    np.save(tmp_path / "far2.npy", -x[4:5])
    _in_other_process(tmp_path, str(tmp_path / "g"), "checkpoint-then-enroll", str(tmp_path / "far2.npy"))
    assert g.identify_vectors(-x[4:5], k=1)[0].matches[0].identity == "later"

    assert g.identify_vectors(x[:1], k=1)[0].decision == "uncalibrated"  # no threshold, no verdict
    _in_other_process(tmp_path, str(tmp_path / "g"), "threshold", "1.5")  # beyond any cosine score
    result = g.identify_vectors(x[:1], k=1)[0]
    assert result.threshold == 1.5 and result.decision == "unknown"

    _in_other_process(tmp_path, str(tmp_path / "g"), "remove")
    assert g.identify_vectors(far, k=1)[0].matches[0].identity != "late"
    assert "late" not in g.identities() and len(g) == 13
    g.close()


_TRY_DMS_LOCK = """
import fcntl, sys
with open(sys.argv[1], "r+b") as f:
    try:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # SQLite's DMS byte: UNIX_SHM_BASE 120 + 8 locks
    except OSError:
        print("held")
    else:
        print("free")
"""


def test_an_open_store_keeps_sqlites_shared_memory_lock(tmp_path: Path) -> None:
    """Regression (SIGBUS): while a store is open, no other process may take the -shm "dead man switch" lock.

    A process that gets it exclusively believes nobody uses the database and resets the -shm file under the
    open store's map. The old code opened and closed ``gallery.sqlite-shm`` itself, and on Linux closing any
    descriptor drops every POSIX lock the process holds on the file, SQLite's included: "free" here.
    """
    import subprocess
    import sys

    store, x = _filled(tmp_path / "g")
    store.search(x[:1], k=1)
    other = SQLiteStore.open(tmp_path / "g")  # a second open in the same process, then closed
    other.close()
    store.search(x[:1], k=1)
    shm = tmp_path / "g" / f"{SQLiteStore.DB_NAME}-shm"
    out = subprocess.run([sys.executable, "-c", _TRY_DMS_LOCK, str(shm)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "held", out.stderr
    store.close()


def _mount(*args: str) -> bool:
    import subprocess

    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _umount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def test_a_gallery_on_read_only_media_can_be_listed_and_searched(tmp_path: Path) -> None:
    """Regression: WAL mode needs a writable folder, so a read-only gallery could not even be listed."""
    store, x = _filled(tmp_path / "g")
    store.close()
    ro = tmp_path / "ro"
    ro.mkdir()
    if not (_mount("--bind", str(tmp_path / "g"), str(ro)) and _mount("-o", "remount,ro,bind", str(ro))):
        _umount(ro)
        pytest.skip("needs `mount` (root with CAP_SYS_ADMIN) to make a read-only mount")
    try:
        reader = SQLiteStore.open(ro)
        assert reader.read_only and reader.identities() == {f"p{c}": 5 for c in range(4)}
        assert reader.search(x[:1], k=1)[0][0].identity == "p0"
        with pytest.raises(GalleryError, match="read-only"):
            reader.add("late", x[:1], [{}])
        reader.close()  # no snapshot written, no error
    finally:
        _umount(ro)


def test_read_only_option_refuses_writes_and_keeps_everything(tmp_path: Path) -> None:
    store, _ = _filled(tmp_path / "g")
    store.close()
    reader = SQLiteStore.open(tmp_path / "g", read_only=True)
    with pytest.raises(GalleryError, match="read-only"):
        reader.remove_identity("p0")
    assert reader.count() == 20
    reader.close()


def test_a_full_disk_reports_the_real_error_and_exactly_what_was_stored(tmp_path: Path) -> None:
    """Regression: on a full disk the ROLLBACK's error hid SQLite's, and an enroll that had committed was reported
    as failed when the index snapshot written on close hit ENOSPC (a retry then duplicated the items)."""
    full = tmp_path / "full"
    full.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=400k", "tmpfs", str(full)):
        pytest.skip("needs `mount` (root with CAP_SYS_ADMIN) for a small tmpfs")
    try:
        store = SQLiteStore.create(full / "g", dim=8, distance=get_distance("cosine"), meta={})
        rng = np.random.default_rng(0)
        acknowledged = 0
        with pytest.raises(GalleryError, match=r"nothing was stored.*full"):
            for i in range(100):
                x = rng.normal(size=(200, 8)).astype(np.float32)
                acknowledged += len(store.add(f"p{i}", x / np.linalg.norm(x, axis=1, keepdims=True), [{}] * 200))
        assert acknowledged > 0 and store.count() == acknowledged
        store.close()  # the snapshot hits ENOSPC: a warning, not an error
        reopened = SQLiteStore.open(full / "g")
        assert reopened.count() == acknowledged and _consistent(reopened)
        reopened.close()
    finally:
        _umount(full)


def test_a_snapshot_that_cannot_be_written_is_a_warning(tmp_path: Path, monkeypatch, caplog) -> None:
    import errno

    from lookalike.gallery.stores import _mirror as mirror_module

    store, x = _filled(tmp_path / "g")

    def no_space(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mirror_module, "write_snapshot", no_space)
    ids = store.add("late", x[:2], [{}, {}])
    store.close()
    assert "could not write the index snapshot" in caplog.text
    monkeypatch.undo()
    reopened = SQLiteStore.open(tmp_path / "g")
    assert reopened.count() == 22 and [r.id for r in reopened.items("late")] == ids
    reopened.close()
