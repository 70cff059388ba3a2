"""Reviews of one proposal by several handles or processes: claimed atomically, enrolled once, never lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _gallery_helpers import clustered

from lookalike.errors import DataError, GalleryError, NotFoundError
from lookalike.gallery import Gallery, unknowns
from lookalike.gallery import discover as dsc
from lookalike.models import EmbeddingModel


@pytest.fixture
def folder(tmp_path: Path, model8: EmbeddingModel) -> Path:
    with Gallery.create(tmp_path / "g", model8, threshold=0.8) as g:
        x, _ = clustered(2, 3, seed=1)
        g.enroll_vectors("alice", x[:3])
        g.enroll_vectors("bob", x[3:])
    return tmp_path / "g"


def _propose(g: Gallery, seed: int = 11) -> str:
    x, _ = clustered(1, 4, spread=0.05, seed=seed)
    return g.discover(x).proposals[0].id


def test_a_claimed_proposal_refuses_a_second_reviewer_and_writes_nothing(folder: Path, model8: EmbeddingModel) -> None:
    a, b = Gallery.open(folder, model8), Gallery.open(folder, model8)
    with a, b, a.unknown_pool() as pa, b.unknown_pool() as pb:
        pid = _propose(a)
        _, token = pa.claim(pid)  # reviewer A is between its claim and its enrolment
        assert [p["id"] for p in pb.proposals()] == [] and pb.proposals("reviewing")[0]["id"] == pid
        with pytest.raises(GalleryError, match="being reviewed by another request"):
            dsc.accept(b, pb, pid, "carol")
        with pytest.raises(GalleryError, match="being reviewed"):
            dsc.reject(pb, pid)
        assert "carol" not in b.identities() and pb.count() == 4
        pa.release(pid, token)  # A gives up: open again, and B's review goes through
        assert dsc.accept(b, pb, pid, "carol").item_ids
        with pytest.raises(NotFoundError, match="already accepted"):
            dsc.accept(a, pa, pid, "carol2")
    with Gallery.open(folder) as g:
        assert g.identities()["carol"] == 4 and "carol2" not in g.identities()


def test_a_failed_enrolment_gives_the_proposal_back(
    folder: Path, model8: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Gallery.open(folder, model8) as g, g.unknown_pool() as pool:
        pid = _propose(g)

        def broken(*_a: object, **_k: object) -> None:
            raise GalleryError("disk full (simulated)")

        monkeypatch.setattr(g, "enroll_vectors", broken)
        with pytest.raises(GalleryError, match="simulated"):
            dsc.accept(g, pool, pid, "carol")
        assert [p["id"] for p in pool.proposals()] == [pid] and pool.count() == 4
        monkeypatch.undo()
        assert len(dsc.accept(g, pool, pid, "carol").item_ids) == 4


def test_a_stale_claim_is_open_again_and_its_late_close_is_refused(
    folder: Path, model8: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Gallery.open(folder, model8) as g, g.unknown_pool() as pool:
        pid = _propose(g)
        _, dead = pool.claim(pid)  # a process that died mid-review
        monkeypatch.setattr(unknowns, "CLAIM_TTL_S", -1.0)
        assert [p["id"] for p in pool.proposals()] == [pid]
        dsc.reject(pool, pid)
        with pytest.raises(GalleryError, match="no longer held by this review"):
            pool.close_proposal(pid, token=dead, status="accepted", identity="x", details={})
        assert [e.action for e in pool.audit()] == ["rejected"]


def test_a_new_discovery_keeps_a_live_claim_and_ids_never_repeat(folder: Path, model8: EmbeddingModel) -> None:
    with Gallery.open(folder, model8) as g, g.unknown_pool() as pool:
        pid = _propose(g)
        dsc.accept(g, pool, pid, "carol")
        # within the same second: ids must differ from the accepted proposal's (an IntegrityError before)
        second = _propose(g, seed=12)
        assert second != pid
        _, token = pool.claim(second)
        found = g.discover()
        assert second not in [p.id for p in found.proposals]
        # the claimed proposal's unknowns are being decided: the new run leaves them out
        held = set(pool.proposals("reviewing")[0]["unknown_ids"])
        assert held and not held & {u for p in found.proposals for u in p.unknown_ids}
        pool.close_proposal(second, token=token, status="rejected", identity=None, details={})  # still closable
        assert [e.action for e in pool.audit()] == ["accepted", "rejected"]


@pytest.mark.parametrize("actions", [("accept", "accept"), ("accept", "reject")])
def test_processes_racing_to_review_one_proposal_enroll_it_at_most_once(
    folder: Path, model8: EmbeddingModel, actions: tuple
) -> None:
    with Gallery.open(folder, model8) as g:
        pid = _propose(g)
    script = str(Path(__file__).with_name("_review_racer.py"))
    procs = [
        subprocess.Popen(
            [sys.executable, script, str(folder), pid, action, f"r{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, action in enumerate(actions)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # as close together as two processes can be started
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert sorted(o.split()[0] for o in outs) == ["ok", "refused"], outs
    refused = next(o for o in outs if o.startswith("refused"))
    assert refused.split()[1] in ("404", "409"), refused  # already reviewed, or being reviewed
    with Gallery.open(folder) as g, g.unknown_pool() as pool:
        enrolled = g.identities().get("carol", 0)
        assert len(pool.audit()) == 1 and pool.count() == 0
        winner = pool.audit()[0].action
    assert enrolled == (4 if winner == "accepted" else 0)


def test_a_retention_beyond_what_discovery_can_group_is_refused_and_keeps_the_settings(
    folder: Path, model8: EmbeddingModel
) -> None:
    with Gallery.open(folder, model8) as g, g.unknown_pool() as pool:
        before = pool.configure(enabled=True, max_items=500)
        with pytest.raises(DataError, match=r"at most 100,000, got 1,000,000: discovery groups the whole pool"):
            pool.configure(max_items=1_000_000)
        assert pool.settings() == before


def test_two_proposals_accepted_under_one_new_name_enroll_only_the_first(
    folder: Path, model8: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = Gallery.open(folder, model8), Gallery.open(folder, model8)
    with a, b, a.unknown_pool() as pa, b.unknown_pool() as pb:
        x, _ = clustered(2, 4, spread=0.05, seed=21)
        first, second = (p.id for p in a.discover(x).proposals)
        seen_before = b.identities()  # b's name check ran before a enrolled "carol" (the race)
        dsc.accept(a, pa, first, "carol")
        monkeypatch.setattr(b, "identities", lambda: seen_before)
        with pytest.raises(GalleryError, match="'carol' is already enrolled"):
            dsc.accept(b, pb, second, "carol")  # refused by the store, inside its write
        monkeypatch.undo()
        assert b.identities()["carol"] == 4  # only the first proposal's items
        assert [p["id"] for p in pb.proposals()] == [second]  # given back, still open for another name
        assert len(dsc.accept(b, pb, second, "dora").item_ids) == 4


def test_processes_keeping_unknowns_at_once_lose_none_and_retention_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "unknowns.sqlite"
    with unknowns.UnknownPool(path=path, dim=8) as pool:
        pool.configure(enabled=True, max_items=150, max_age_days=None)
    script = str(Path(__file__).with_name("_pool_writer.py"))
    procs = [
        subprocess.Popen(
            [sys.executable, script, str(path), str(seed), "20", "5"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    got = [[int(i) for i in p.communicate(timeout=120)[0].split()] for p in procs]
    assert all(p.returncode == 0 for p in procs) and [len(g) for g in got] == [100, 100]
    every = sorted(got[0] + got[1])
    assert len(set(every)) == 200  # no id handed out twice
    with unknowns.UnknownPool(path=path, dim=8) as pool:
        kept = pool.unknowns()
        assert [u.id for u in kept] == every[-150:]  # exactly the newest 150, from both writers
        assert {u.source for u in kept} == {"w1", "w2"}
