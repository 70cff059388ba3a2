"""Discovery routes (write scope): the unknown pool, proposals, accept / merge / reject, purge.

``/v1/identify`` keeps the probes that come out unknown (with a thumbnail of images) through
:func:`keep_unknown_probes` when the pool is enabled (``PUT /v1/discover/pool``). Review actions are audited
in the pool with the actor ``"service"``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from lookalike.errors import GalleryError, NotFoundError
from lookalike.gallery.unknowns import MAX_POOL_ITEMS
from lookalike.service.auth import Scope, require
from lookalike.service.routes import UnknownId, get_state
from lookalike.service.state import ServiceState

router = APIRouter(prefix="/v1/discover", tags=["discovery"], dependencies=[Depends(require(Scope.write))])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PoolSettingsIn(_Body):
    """Keep unknown probes or not, and how many / how long (``max_age_days: null`` = no age limit)."""

    enabled: bool | None = None
    max_items: int | None = Field(default=None, ge=1, le=MAX_POOL_ITEMS)
    max_age_days: float | None = Field(default=None, gt=0, description="days; null: no limit; omitted: unchanged")


class PoolOut(BaseModel):
    enabled: bool
    max_items: int
    max_age_days: float | None
    count: int


class DiscoverIn(_Body):
    """Grouping parameters (defaults: the gallery's, chosen for its model when calibrated from a run that chose
    them, else the library's; both chosen on training classes)."""

    method: str | None = None
    linkage: str | None = None
    scale: float | None = Field(default=None, gt=0)
    min_size: int | None = Field(default=None, ge=1)
    mix: int | None = Field(default=None, ge=0, le=100)


class ProposalOut(BaseModel):
    id: str
    rank: int
    size: int
    unknown_ids: list[int]
    medoid: int
    cohesion: float
    nearest_identity: str | None
    nearest_score: float | None
    thumbnails: list[str | None]


class ProposalsOut(BaseModel):
    proposals: list[ProposalOut]
    pool_size: int


class NameIn(_Body):
    identity: str = Field(min_length=1, max_length=200)


class ReviewOut(BaseModel):
    action: str
    proposal: str
    identity: str | None
    item_ids: list[int]


def _pool(state: ServiceState) -> Any:
    if state.pool is None:
        raise GalleryError("discovery needs a folder gallery (its unknown pool lives in the gallery folder)")
    return state.pool


def _thumb_url(unknown_id: int) -> str:
    return f"/v1/discover/unknowns/{int(unknown_id)}/thumbnail"


def _proposal_out(p: dict[str, Any], pool: Any) -> ProposalOut:
    thumbs = [_thumb_url(u) if pool.thumbnail(u) is not None else None for u in p["unknown_ids"]]
    fields = {k: p[k] for k in ProposalOut.model_fields if k not in ("thumbnails", "size")}
    return ProposalOut(**fields, size=len(p["unknown_ids"]), thumbnails=thumbs)


async def pool_enabled(state: ServiceState) -> bool:
    """Whether the gallery keeps unknown probes now (discovery's pool exists and is switched on)."""
    return state.pool is not None and bool((await state.call(state.pool.settings)).enabled)


async def keep_unknown_probes(
    state: ServiceState, items: list[Any], results: list[Any], thumbnails: list[bytes] | None = None
) -> None:
    """Keep the probes decided "unknown" when the pool is enabled (an extra forward for those probes only).

    ``items`` are what was identified (prepared image inputs, texts or vectors); ``thumbnails``, one per item,
    come from decoding the uploads (see the identify route), so no full-size picture is held for this.
    """
    rows = [i for i, r in enumerate(results) if r.decision == "unknown"]
    if not rows or not await pool_enabled(state):
        return
    from lookalike.gallery.discover import keep_unknowns

    vectors = await state.call(state.embed, [items[i] for i in rows])
    thumbs: list[bytes | None] | None = None if thumbnails is None else [thumbnails[i] for i in rows]
    await state.call(keep_unknowns, state.pool, [results[i] for i in rows], vectors, thumbnails=thumbs)


async def keep_unknown_faces(
    state: ServiceState, faces: list[tuple[int, Any]], thumbnails: list[list[bytes]] | None
) -> None:
    """Face models: keep the faces decided "unknown" (their vectors are already computed) with a picture each.

    ``faces`` are the (image index, FaceIdentification) pairs of the request, images in order and faces in each
    image's order; ``thumbnails`` one picture per face per image (``None`` when the pool is off).
    """
    if thumbnails is None:
        return
    import numpy as np

    from lookalike.gallery.discover import keep_unknowns

    results, vectors, thumbs = [], [], []
    seen: dict[int, int] = {}
    for i, face in faces:
        j = seen[i] = seen.get(i, -1) + 1  # the j-th face of image i
        if face.identification.decision == "unknown":
            results.append(face.identification)
            vectors.append(face.vector)
            thumbs.append(thumbnails[i][j])
    if results:
        await state.call(keep_unknowns, state.pool, results, np.stack(vectors), thumbnails=thumbs)


@router.get("/pool", response_model=PoolOut, summary="Whether unknown probes are kept, and how many are")
async def get_pool(state: ServiceState = Depends(get_state)) -> PoolOut:
    pool = _pool(state)
    s = await state.call(pool.settings)
    return PoolOut(**s.to_dict(), count=await state.call(pool.count))


@router.put("/pool", response_model=PoolOut, summary="Enable / disable keeping unknown probes; set the retention")
async def put_pool(body: PoolSettingsIn, state: ServiceState = Depends(get_state)) -> PoolOut:
    pool = _pool(state)
    age: Any = body.max_age_days if "max_age_days" in body.model_fields_set else "keep"
    s = await state.call(pool.configure, enabled=body.enabled, max_items=body.max_items, max_age_days=age)
    return PoolOut(**s.to_dict(), count=await state.call(pool.count))


@router.post("", response_model=ProposalsOut, summary="Group the kept unknowns into proposed new identities")
async def run_discovery(body: DiscoverIn | None = None, state: ServiceState = Depends(get_state)) -> ProposalsOut:
    pool = _pool(state)
    given = {k: v for k, v in (body.model_dump() if body else {}).items() if v is not None}
    params = replace(state.gallery.grouping, **given)
    result = await state.call(state.gallery.discover, pool=pool, params=params)
    props = [_proposal_out(p.to_dict(), pool) for p in result.proposals]
    return ProposalsOut(proposals=props, pool_size=result.pool_size)


@router.get("/proposals", response_model=ProposalsOut, summary="The open proposals of the last discovery run")
async def list_proposals(state: ServiceState = Depends(get_state)) -> ProposalsOut:
    pool = _pool(state)
    props = await state.call(pool.proposals)
    return ProposalsOut(proposals=[_proposal_out(p, pool) for p in props], pool_size=await state.call(pool.count))


@router.get("/unknowns/{unknown_id}/thumbnail", response_class=Response, summary="A kept unknown probe's thumbnail")
async def unknown_thumbnail(unknown_id: UnknownId, state: ServiceState = Depends(get_state)) -> Response:
    jpeg = await state.call(_pool(state).thumbnail, unknown_id)
    if jpeg is None:
        raise NotFoundError(f"no thumbnail for unknown {unknown_id}: it is not kept, or was not an image")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


async def _enroll_action(state: ServiceState, proposal: str, identity: str, action: str) -> ReviewOut:
    from lookalike.gallery import discover as dsc

    pool = _pool(state)

    def write() -> Any:
        prop = pool.proposal(proposal)
        thumbs = [pool.thumbnail(u) for u in prop["unknown_ids"]]
        fn = dsc.accept if action == "accept" else dsc.merge
        done = fn(state.gallery, pool, proposal, identity, actor="service")
        pairs = {int(i): t for i, t in zip(done.item_ids, thumbs, strict=True) if t is not None}
        if pairs:  # after the items, as enroll does: a crash in between leaves an item without a picture
            state.gallery.put_images(pairs)
        state.refresh_gauges()
        return done

    done = await state.call(write, write=True)
    state.metrics.enrolled.inc(len(done.item_ids))
    return ReviewOut(**done.to_dict())


@router.post("/proposals/{proposal}/accept", response_model=ReviewOut, summary="Enroll a proposal as a new identity")
async def accept(proposal: str, body: NameIn, state: ServiceState = Depends(get_state)) -> ReviewOut:
    return await _enroll_action(state, proposal, body.identity, "accept")


@router.post("/proposals/{proposal}/merge", response_model=ReviewOut, summary="Add a proposal to an existing identity")
async def merge(proposal: str, body: NameIn, state: ServiceState = Depends(get_state)) -> ReviewOut:
    return await _enroll_action(state, proposal, body.identity, "merge")


@router.post("/proposals/{proposal}/reject", response_model=ReviewOut, summary="Reject a proposal (drop its unknowns)")
async def reject(proposal: str, state: ServiceState = Depends(get_state)) -> ReviewOut:
    from lookalike.gallery import discover as dsc

    pool = _pool(state)
    done = await state.call(lambda: dsc.reject(pool, proposal, actor="service"), write=True)
    return ReviewOut(**done.to_dict())


@router.post("/purge", summary="Delete every kept unknown and every proposal")
async def purge(state: ServiceState = Depends(get_state)) -> dict[str, int]:
    n = await state.call(_pool(state).purge, write=True)
    return {"purged": int(n)}


__all__ = ["keep_unknown_probes", "router"]
