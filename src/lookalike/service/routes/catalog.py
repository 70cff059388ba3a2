"""Read-only views of the gallery (read scope): info, identities, thumbnails."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from lookalike.errors import NotFoundError
from lookalike.service.auth import Scope, require
from lookalike.service.routes import ItemId, get_state, thumbnail_url
from lookalike.service.schemas import IdentitiesResponse, IdentityOut
from lookalike.service.state import ServiceState

router = APIRouter(prefix="/v1", tags=["gallery"], dependencies=[Depends(require(Scope.read))])

_JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "a small JPEG"}}
_CACHE = {"Cache-Control": "private, max-age=60"}


@router.get("/gallery", summary="What this gallery is: model, size, threshold, store")
async def gallery_info(state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    """The gallery's :class:`~lookalike.gallery.results.GalleryInfo` as JSON."""
    info = await state.call(state.gallery.info)
    return info.to_dict() if hasattr(info, "to_dict") else dict(info)


@router.get("/identities", response_model=IdentitiesResponse, summary="Enrolled identities with item counts")
async def list_identities(state: ServiceState = Depends(get_state)) -> IdentitiesResponse:
    """Every identity, sorted by name, with its number of items and a thumbnail URL when it has one."""
    sizes: dict[str, int] = await state.call(state.gallery.identities)
    pictured: set[str] = await state.call(state.gallery.identities_with_images)
    out = [
        IdentityOut(identity=name, items=int(n), thumbnail=thumbnail_url(name) if name in pictured else None)
        for name, n in sizes.items()
    ]
    return IdentitiesResponse(identities=out, total=len(out))


@router.get(
    "/identities/{identity:path}/thumbnail", responses=_JPEG, response_class=Response, summary="An identity's thumbnail"
)
async def identity_thumbnail(identity: str, state: ServiceState = Depends(get_state)) -> Response:
    """The first enrolled image of ``identity`` as a small JPEG (404 when none was stored)."""
    jpeg = await state.call(state.gallery.identity_image, identity)
    if jpeg is None:
        raise NotFoundError(f"no thumbnail for identity {identity!r}: it does not exist or was enrolled without images")
    return Response(jpeg, media_type="image/jpeg", headers=_CACHE)


@router.get("/items/{item_id}/thumbnail", responses=_JPEG, response_class=Response, summary="An item's thumbnail")
async def item_thumbnail(item_id: ItemId, state: ServiceState = Depends(get_state)) -> Response:
    """The enrolled image ``item_id`` as a small JPEG (404 when none was stored)."""
    jpeg = await state.call(state.gallery.image, item_id)
    if jpeg is None:
        raise NotFoundError(f"no thumbnail for item {item_id}: it does not exist or is not an image")
    return Response(jpeg, media_type="image/jpeg", headers=_CACHE)
