"""Discovery: the unknown pool (opt-in, retention, purge), grouping, proposals, accept / reject / merge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _gallery_helpers import clustered

from lookalike.errors import GalleryError, NotFoundError
from lookalike.gallery import Gallery
from lookalike.gallery import discover as dsc
from lookalike.models import EmbeddingModel
from lookalike.models.grouping import GroupingParams, group_embeddings


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.fixture
def gallery(tmp_path: Path, model8: EmbeddingModel) -> Gallery:
    g = Gallery.create(tmp_path / "g", model8, threshold=0.8)
    x, _ = clustered(2, 3, seed=1)
    g.enroll_vectors("alice", x[:3])
    g.enroll_vectors("bob", x[3:])
    return g


def test_pool_is_opt_in_and_retention_keeps_the_newest(gallery: Gallery) -> None:
    with gallery.unknown_pool() as pool:
        x, _ = clustered(1, 5, seed=3)
        assert pool.add(x) == []  # not enabled: nothing kept
        assert pool.count() == 0
        pool.configure(enabled=True, max_items=3)
        ids = pool.add(x, sources=[f"f{i}.jpg" for i in range(5)])
        assert len(ids) == 5
        kept = pool.unknowns()
        assert [u.id for u in kept] == ids[-3:]
        assert [u.source for u in kept] == ["f2.jpg", "f3.jpg", "f4.jpg"]
        np.testing.assert_allclose(kept[0].vector, x[2])


def test_retention_by_age(gallery: Gallery) -> None:
    with gallery.unknown_pool() as pool:
        pool.configure(enabled=True)
        pool.add(_unit(np.ones((2, 8))))
        pool.conn.execute("UPDATE unknowns SET created = created - 10 * 86400 WHERE id = 1")
        pool.configure(max_age_days=5)
        assert [u.id for u in pool.unknowns()] == [2]


def test_empty_pool_gives_no_proposals(gallery: Gallery) -> None:
    result = gallery.discover()
    assert result.proposals == [] and result.pool_size == 0 and result.unassigned == 0
    assert group_embeddings(np.zeros((0, 8)), distance="cosine", threshold=0.5) == []


def test_one_unknown_is_below_the_minimum_size(gallery: Gallery) -> None:
    v = _unit(np.arange(8.0) - 3)
    result = gallery.discover([v])
    assert result.pool_size == 1 and result.proposals == [] and result.unassigned == 1
    # with min_size 1 the lone unknown is its own proposal, its own medoid
    one = gallery.discover(params=GroupingParams(min_size=1))
    assert len(one.proposals) == 1 and one.proposals[0].medoid == one.proposals[0].unknown_ids[0]


def test_identical_unknowns_make_one_tight_proposal(gallery: Gallery) -> None:
    v = np.repeat(_unit(np.arange(8.0) - 3)[None], 4, axis=0)
    result = gallery.discover(v)
    assert len(result.proposals) == 1
    p = result.proposals[0]
    assert p.size == 4 and p.cohesion == pytest.approx(1.0, abs=1e-5)
    for params in (GroupingParams(method="hdbscan"), GroupingParams(linkage="complete")):
        assert [q.size for q in gallery.discover(params=params).proposals] == [4]


def test_groups_are_ranked_by_size_then_cohesion_and_name_the_nearest_identity(gallery: Gallery) -> None:
    x, y = clustered(3, 4, spread=0.05, seed=7)
    keep = np.r_[np.arange(4), np.arange(4, 7), np.arange(8, 12)]  # sizes 4, 3, 4
    groups = group_embeddings(x[keep], distance="cosine", threshold=0.8)
    assert [len(g.members) for g in groups] == [4, 4, 3]
    assert groups[0].cohesion >= groups[1].cohesion
    labels = y[keep]
    for g in groups:
        assert len(set(labels[list(g.members)])) == 1
    result = gallery.discover(x[keep])
    assert all(p.nearest_identity in ("alice", "bob") and p.nearest_score is not None for p in result.proposals)


def test_accept_enrolls_and_audits_then_identifies_as_the_new_identity(gallery: Gallery) -> None:
    x, _ = clustered(1, 4, spread=0.05, seed=11)
    proposal = gallery.discover(x).proposals[0]
    with gallery.unknown_pool() as pool:
        done = dsc.accept(gallery, pool, proposal.id, "carol", actor="test")
        assert pool.count() == 0 and pool.proposals() == []
        entry = pool.audit()[-1]
        assert (entry.action, entry.proposal, entry.identity) == ("accepted", proposal.id, "carol")
        assert entry.details == {"item_ids": done.item_ids, "actor": "test"}
        from datetime import datetime

        stamp = entry.to_dict()["at_utc"]  # the time in words beside the epoch seconds
        assert stamp.endswith("Z") and abs(datetime.fromisoformat(stamp[:-1] + "+00:00").timestamp() - entry.at) < 1
        with pytest.raises(NotFoundError, match="already accepted"):
            dsc.reject(pool, proposal.id)
    assert gallery.identities()["carol"] == 4
    assert gallery.identify_vectors(x[:1])[0].identity == "carol"
    assert {i.metadata["discovered"] for i in gallery.items("carol")} == {proposal.id}


def test_accept_refuses_an_existing_name_and_merge_needs_one(gallery: Gallery) -> None:
    x, _ = clustered(1, 3, spread=0.05, seed=12)
    pid = gallery.discover(x).proposals[0].id
    with gallery.unknown_pool() as pool:
        with pytest.raises(GalleryError, match="already enrolled; merge"):
            dsc.accept(gallery, pool, pid, "alice")
        with pytest.raises(NotFoundError, match="no identity 'zed' to merge into"):
            dsc.merge(gallery, pool, pid, "zed")
        assert pool.count() == 3 and len(gallery) == 6  # nothing written by the refusals
        dsc.merge(gallery, pool, pid, "alice")
        assert gallery.identities()["alice"] == 6 and pool.count() == 0
        assert pool.audit()[-1].action == "merged"


def test_reject_drops_the_unknowns_without_enrolling(gallery: Gallery) -> None:
    x, _ = clustered(1, 3, spread=0.05, seed=13)
    pid = gallery.discover(x).proposals[0].id
    with gallery.unknown_pool() as pool:
        dsc.reject(pool, pid)
        assert pool.count() == 0 and len(gallery) == 6
        assert pool.audit()[-1].action == "rejected"
        with pytest.raises(NotFoundError, match="not open for review"):
            dsc.accept(gallery, pool, "p-nope", "dave")


def test_discover_needs_a_threshold(tmp_path: Path, model8: EmbeddingModel) -> None:
    with Gallery.create(tmp_path / "g", model8) as g, pytest.raises(GalleryError, match="calibrate it first"):
        g.discover()


def test_purge_leaves_nothing_behind(gallery: Gallery) -> None:
    marker = "SECRET-PROBE-SOURCE-7f3a"
    x = np.repeat(_unit(np.arange(8.0) + 0.123)[None], 3, axis=0)
    with gallery.unknown_pool() as pool:
        pool.configure(enabled=True)
        pool.add(x, sources=[marker] * 3, thumbnails=[b"JPEG-MARKER-91c2"] * 3)
        dsc.discover(gallery, pool)
        assert pool.proposals()
        assert pool.purge() == 3
        assert pool.count() == 0 and pool.proposals(status=None) == []
        assert pool.audit()[-1].details == {"unknowns": 3}
        path = Path(pool.path)
    leftovers = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert marker.encode() not in leftovers
    assert b"JPEG-MARKER-91c2" not in leftovers
    assert x[0].tobytes() not in leftovers


def test_pool_needs_a_path_for_non_folder_galleries() -> None:
    from lookalike.gallery.unknowns import default_pool_location

    with pytest.raises(GalleryError, match="pass a file path"):
        default_pool_location("postgresql://u@h/db")


def test_keep_unknowns_needs_one_vector_and_source_per_result(gallery: Gallery) -> None:
    """Mismatched lists were an IndexError (or, shorter the other way, kept the wrong probes' sources)."""
    from lookalike.errors import DataError

    v = np.stack([_unit(np.arange(8.0) - 3), _unit(np.arange(8.0)[::-1] - 2)])
    results = gallery.identify_vectors(v)
    with gallery.unknown_pool() as pool:
        pool.configure(enabled=True)
        with pytest.raises(DataError, match="2 results but 1 vectors"):
            dsc.keep_unknowns(pool, results, v[:1])
        with pytest.raises(DataError, match="2 results but 3 sources"):
            dsc.keep_unknowns(pool, results, v, sources=["a", "b", "c"])
        assert pool.count() == 0


def test_a_damaged_pool_file_is_a_gallery_error_and_the_gallery_still_works(gallery: Gallery, tmp_path: Path) -> None:
    """It was sqlite3.DatabaseError from the first PRAGMA."""
    pool_file = tmp_path / "g" / "unknowns.sqlite"
    pool_file.write_bytes(b"not a database" * 50)
    with (
        pytest.raises(GalleryError, match=r"unknowns\.sqlite is not a readable unknown pool .*move it away"),
        gallery.unknown_pool() as pool,
    ):
        pool.configure(enabled=True)
    assert pool_file.read_bytes() == b"not a database" * 50
    assert gallery.identities() == {"alice": 3, "bob": 3}  # the gallery itself opens and answers as before


def test_a_calibration_with_a_grouping_choice_sets_discoverys_settings_until_recalibrated(gallery: Gallery) -> None:
    assert gallery.grouping == GroupingParams()  # nothing stored: the library default
    chosen = GroupingParams(linkage="average", scale=1.0, min_size=2, mix=8)
    rng = np.random.default_rng(0)
    gen, imp = rng.uniform(0.6, 1.0, 200), rng.uniform(-0.5, 0.7, 2000)
    gallery.calibrate_scores(gen, imp, target_far=0.01, grouping=chosen)
    assert gallery.grouping == chosen
    with Gallery.open(gallery.store.location) as again:  # stored in the gallery, not the process
        assert again.grouping == chosen
    v = np.repeat(_unit(np.arange(8.0) - 3)[None], 2, axis=0)
    assert gallery.discover(v).params == chosen  # min_size 2: the pair is a proposal
    assert len(gallery.discover().proposals) == 1
    assert gallery.discover(params=GroupingParams(min_size=3)).proposals == []  # given settings still win
    # a calibration without one, or a threshold set by hand, goes back to the default
    gallery.calibrate_scores(gen, imp, target_far=0.01)
    assert gallery.grouping == GroupingParams()
    gallery.calibrate_scores(gen, imp, target_far=0.01, grouping=chosen)
    gallery.set_threshold(0.8)
    assert gallery.grouping == GroupingParams() and gallery.meta.grouping is None


def test_unreadable_stored_grouping_settings_name_the_fix(gallery: Gallery) -> None:
    gallery.store.set_meta({"grouping": {"linkage": "zigzag"}})
    with pytest.raises(GalleryError, match=r"grouping settings are unreadable.*calibrate it again"):
        gallery.discover()
    gallery.set_threshold(0.8)  # the way out clears them
    assert gallery.grouping == GroupingParams()
