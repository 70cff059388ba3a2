"""Discovery: group the kept unknowns into proposed new identities; accept, reject or merge a proposal.

:func:`discover` clusters the pool's vectors (:func:`lookalike.models.grouping.group_embeddings`, scikit-learn)
with a threshold derived from the gallery's calibrated accept threshold, ranks the groups by size and tightness,
finds each one's nearest enrolled identity and stores the proposals in the pool. :func:`accept` /
:func:`merge` enroll a proposal's vectors (as a new identity / into an existing one), :func:`reject` drops
them; each is audited in the pool (who: ``actor``; what: the proposal, identity, gallery item ids).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import DataError, GalleryError, NotFoundError
from lookalike.models.grouping import GroupingParams, group_embeddings

if TYPE_CHECKING:
    from lookalike.gallery.gallery import Gallery
    from lookalike.gallery.results import Identification
    from lookalike.gallery.unknowns import UnknownPool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    """A proposed new identity: the pool's unknowns in it, its medoid, cohesion and nearest enrolled identity."""

    id: str
    rank: int
    unknown_ids: list[int]
    sources: list[str | None]
    medoid: int
    cohesion: float
    nearest_identity: str | None
    nearest_score: float | None

    @property
    def size(self) -> int:
        return len(self.unknown_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "rank": self.rank, "size": self.size, "unknown_ids": self.unknown_ids,
            "sources": self.sources, "medoid": self.medoid, "cohesion": self.cohesion,
            "nearest_identity": self.nearest_identity, "nearest_score": self.nearest_score,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Proposal:
        keys = ("id", "rank", "unknown_ids", "sources", "medoid", "cohesion", "nearest_identity", "nearest_score")
        return cls(**{k: d[k] for k in keys})


@dataclass(frozen=True)
class DiscoveryResult:
    """Proposals of one discovery run, best first, and what they were made from."""

    proposals: list[Proposal]
    pool_size: int
    threshold: float
    params: GroupingParams

    @property
    def unassigned(self) -> int:
        """Unknowns in no proposal (too small a group)."""
        return self.pool_size - sum(p.size for p in self.proposals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool_size": self.pool_size, "unassigned": self.unassigned, "threshold": self.threshold,
            "params": self.params.to_dict(), "proposals": [p.to_dict() for p in self.proposals],
        }  # fmt: skip


@dataclass(frozen=True)
class ReviewResult:
    """What a review action did."""

    action: str
    proposal: str
    identity: str | None
    item_ids: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "proposal": self.proposal, "identity": self.identity, "item_ids": self.item_ids}


def keep_unknowns(
    pool: UnknownPool,
    results: list[Identification],
    vectors: np.ndarray,
    *,
    sources: Sequence[str | None] | None = None,
    thumbnails: Sequence[bytes | None] | None = None,
    force: bool = False,
) -> list[int]:
    """Add the probes decided "unknown" to ``pool`` (kept only if it is enabled, or ``force``); returns pool ids.

    ``results``, ``vectors`` and (when given) ``sources`` and ``thumbnails`` hold one entry per probe, in order.
    """
    given = {"vectors": vectors, "sources": sources, "thumbnails": thumbnails}
    for name, values in given.items():
        if values is not None and len(values) != len(results):
            raise DataError(f"{len(results)} results but {len(values)} {name}: give one per probe, in the same order")
    rows = [i for i, r in enumerate(results) if r.decision == "unknown"]
    if not rows:
        return []
    best = [(results[i].matches[0].identity if results[i].matches else None, results[i].score) for i in rows]
    return pool.add(
        np.asarray(vectors)[rows],
        sources=None if sources is None else [sources[i] for i in rows],
        thumbnails=None if thumbnails is None else [thumbnails[i] for i in rows],
        best=best,
        force=force,
    )


def discover(
    gallery: Gallery, pool: UnknownPool, *, params: GroupingParams | None = None, threshold: float | None = None
) -> DiscoveryResult:
    """Cluster the pool's unknowns into proposals and store them (replacing earlier open proposals)."""
    p = params or gallery.grouping
    t = gallery.threshold if threshold is None else float(threshold)
    if t is None:
        raise GalleryError(
            "discovery derives its clustering threshold from the gallery's accept threshold, and this gallery has "
            "none; calibrate it first (`lookalike calibrate GALLERY --data PROTOCOL`) or pass a threshold"
        )
    busy = pool.under_review()  # a review in another process is enrolling or rejecting these right now
    unknowns = [u for u in pool.unknowns() if u.id not in busy]
    proposals: list[Proposal] = []
    if unknowns:
        x = np.stack([u.vector for u in unknowns])
        groups = group_embeddings(x, distance=gallery.distance, threshold=t, params=p)
        medoids = np.stack([x[g.medoid] for g in groups]) if groups else np.zeros((0, x.shape[1]), np.float32)
        nearest = gallery.identify_vectors(medoids, k=1) if groups and len(gallery.identities()) else []
        # the time for people, a random part so that two runs within a second never share an id
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2)
        for rank, g in enumerate(groups):
            match = nearest[rank].matches[0] if nearest and nearest[rank].matches else None
            proposals.append(
                Proposal(
                    id=f"p{stamp}-{rank + 1}",
                    rank=rank + 1,
                    unknown_ids=[unknowns[i].id for i in g.members],
                    sources=[unknowns[i].source for i in g.members],
                    medoid=unknowns[g.medoid].id,
                    cohesion=round(g.cohesion, 6),
                    nearest_identity=None if match is None else match.identity,
                    nearest_score=None if match is None else round(float(match.score), 6),
                )
            )
    pool.replace_proposals([pr.to_dict() for pr in proposals])
    log.info("discovery: %d unknowns -> %d proposals (threshold %.4f, %s)", len(unknowns), len(proposals), t, p)
    return DiscoveryResult(proposals, len(unknowns), float(t), p)


def _enroll(gallery: Gallery, pool: UnknownPool, proposal_id: str, identity: str, action: str, actor: str) -> list[int]:
    """Claim the proposal, enroll its unknowns under ``identity``, close it as ``action``; the item ids."""
    prop, token = pool.claim(proposal_id)  # a second reviewer of the same proposal is refused from here on
    try:
        unknowns = pool.unknowns([int(i) for i in prop["unknown_ids"]])
        metas = [{"discovered": proposal_id, **({"source": u.source} if u.source else {})} for u in unknowns]
        vectors = np.stack([u.vector for u in unknowns])
        # accept creates the identity: atomically new, or two reviews could both "create" the same name
        ids = [int(i) for i in gallery.enroll_vectors(identity, vectors, metas, new_identity=action == "accepted")]
    except BaseException:
        pool.release(proposal_id, token)
        raise
    pool.close_proposal(proposal_id, token=token, status=action, identity=identity,
                        details={"item_ids": ids, "actor": actor})  # fmt: skip
    return ids


def _check_name(identity: str) -> str:
    if not isinstance(identity, str) or not identity.strip():
        raise DataError("an identity name is required: the name to enroll the proposal under")
    return identity.strip()


def accept(gallery: Gallery, pool: UnknownPool, proposal_id: str, identity: str, *, actor: str = "cli") -> ReviewResult:
    """Enroll the proposal's unknowns as the new identity ``identity`` (GalleryError if it already exists)."""
    name = _check_name(identity)
    if name in gallery.identities():
        raise GalleryError(
            f"identity {name!r} is already enrolled; merge the proposal into it (`discover merge`) or choose a new name"
        )
    ids = _enroll(gallery, pool, proposal_id, name, "accepted", actor)
    log.info("discovery: proposal %s accepted as %r (%d items) by %s", proposal_id, name, len(ids), actor)
    return ReviewResult("accepted", proposal_id, name, ids)


def merge(gallery: Gallery, pool: UnknownPool, proposal_id: str, identity: str, *, actor: str = "cli") -> ReviewResult:
    """Enroll the proposal's unknowns into the existing identity ``identity`` (NotFoundError if there is none)."""
    name = _check_name(identity)
    known = gallery.identities()
    if name not in known:
        raise NotFoundError(
            f"no identity {name!r} to merge into; enrolled: {sorted(known)[:20] or 'none'} (use accept for a new one)"
        )
    ids = _enroll(gallery, pool, proposal_id, name, "merged", actor)
    log.info("discovery: proposal %s merged into %r (%d items) by %s", proposal_id, name, len(ids), actor)
    return ReviewResult("merged", proposal_id, name, ids)


def reject(pool: UnknownPool, proposal_id: str, *, actor: str = "cli") -> ReviewResult:
    """Drop the proposal's unknowns from the pool; nothing is enrolled."""
    prop, token = pool.claim(proposal_id)
    details = {"unknowns": len(prop["unknown_ids"]), "actor": actor}
    pool.close_proposal(proposal_id, token=token, status="rejected", identity=None, details=details)
    log.info("discovery: proposal %s rejected by %s", proposal_id, actor)
    return ReviewResult("rejected", proposal_id, None, [])


__all__ = ["DiscoveryResult", "Proposal", "ReviewResult", "accept", "discover", "keep_unknowns", "merge", "reject"]
