"""``POST /v1/enroll``, ``DELETE /v1/identities/{identity}``, ``DELETE /v1/items/{item_id}`` (write scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from lookalike.errors import DataError, NoFaceError
from lookalike.names import identity_name
from lookalike.service.auth import Scope, require
from lookalike.service.errors import ServiceError
from lookalike.service.inputs import (
    body_kind,
    decode_uploads,
    form_bool,
    json_items,
    parse_json,
    read_form,
    read_json,
    read_uploads,
    require_image_model,
)
from lookalike.service.routes import FILES_DOC, SKIP_NO_FACE_DOC, ItemId, body_doc, get_state
from lookalike.service.schemas import EnrolledFaceOut, EnrollJSON, EnrollResponse, RemoveResponse, SkippedOut
from lookalike.service.state import ServiceState

router = APIRouter(prefix="/v1", tags=["enrolment"], dependencies=[Depends(require(Scope.write))])


def _identity(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ServiceError(
            "form field 'identity' is required: the name to enroll the images under", status=422, type="validation"
        )
    try:
        return identity_name(raw)  # the one rule of library, CLI and service
    except DataError as err:
        raise ServiceError(str(err), status=422, type="validation") from None


def _metadata(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    value = parse_json(str(raw), "form field 'metadata'")
    if not isinstance(value, dict):
        raise ServiceError(
            'form field \'metadata\' must be a JSON object, e.g. {"source": "camera 3"}', status=422, type="validation"
        )
    return value


@router.post(
    "/enroll",
    response_model=EnrollResponse,
    summary="Enroll items under an identity (no retraining)",
    openapi_extra=body_doc(
        json_schema=EnrollJSON,
        multipart={
            "identity": {"type": "string"},
            "images": FILES_DOC,
            "metadata": {"type": "string", "description": "optional JSON object stored with each item"},
            "skip_no_face": SKIP_NO_FACE_DOC,
        },
        summary="multipart 'identity' + image files in 'images', or JSON {identity, texts|vectors, metadata}",
    ),
)
async def enroll(request: Request, state: ServiceState = Depends(get_state)) -> EnrollResponse:
    """Embed the items and add them to the gallery; images also get a thumbnail for the web page."""
    settings = state.settings
    thumbs: list[bytes] = []
    face_model = False  # set for image uploads to a face model: the largest face of each image
    skipped: list[dict[str, Any]] = []
    if body_kind(request, state.model_kind) == "json":
        body = await read_json(request, EnrollJSON)
        identity, metadata = _identity(body.identity), body.metadata
        items = json_items(
            texts=body.texts,
            vectors=body.vectors,
            model_kind=state.model_kind,
            input_dim=state.input_dim,
            settings=settings,
        )
    else:
        require_image_model(state.model_kind)
        form = await read_form(request, settings)
        identity, metadata = _identity(form.get("identity")), _metadata(form.get("metadata"))
        face_model = state.model_kind == "image" and state.model.is_face_model
        skip = form_bool(form, "skip_no_face")
        decoded = await decode_uploads(
            await read_uploads(form, "images", settings),
            settings,
            prepare=state.prepare_faces(skip_no_face=skip) if face_model else state.prepare_image,
            slots=state.decode_slots,
            thumbnail_size=settings.thumbnail_size,
        )
        items, thumbs = decoded.inputs, decoded.thumbnails

    faces = None
    if face_model:
        kept, skipped = state.split_no_face(items)
        if not kept:
            raise NoFaceError(f"none of the {len(items)} image(s) shows a face; nothing was enrolled")
        items, thumbs = [items[i] for i in kept], [thumbs[i] for i in kept] if thumbs else thumbs
        vectors, faces = state.largest_faces(items, kept)  # embedded while decoding: one picture alive at a time
    else:
        vectors = await state.call(state.embed, items)  # outside the write lock: a bad item stores nothing

    def write() -> tuple[list[int], int]:
        ids = [int(i) for i in state.gallery.enroll_vectors(identity, vectors, metadata=metadata)]
        if thumbs:  # after the items: a crash in between leaves an item without a picture, never the reverse
            state.gallery.put_images(dict(zip(ids, thumbs, strict=True)))
        return ids, state.refresh_gauges()

    ids, size = await state.call(write, write=True)
    state.metrics.enrolled.inc(len(ids))
    enrolled = None if faces is None else [EnrolledFaceOut(**f) for f in faces]
    return EnrollResponse(
        identity=identity,
        item_ids=ids,
        gallery_size=size,
        faces=enrolled,
        skipped=[SkippedOut(**s) for s in skipped],
    )


@router.delete(
    "/identities/{identity:path}", response_model=RemoveResponse, summary="Remove an identity and all its items"
)
async def remove_identity(identity: str, state: ServiceState = Depends(get_state)) -> RemoveResponse:
    """404 when the gallery has no such identity."""

    def write() -> tuple[list[int], int]:
        removed = state.gallery.remove(identity)  # its thumbnails go in the same transaction
        return [int(i) for i in (removed or [])], state.refresh_gauges()

    ids, size = await state.call(write, write=True)
    return RemoveResponse(removed_item_ids=ids, gallery_size=size)


@router.delete("/items/{item_id}", response_model=RemoveResponse, summary="Remove one enrolled item")
async def remove_item(item_id: ItemId, state: ServiceState = Depends(get_state)) -> RemoveResponse:
    """404 when the gallery has no item with this id."""

    def write() -> int:
        state.gallery.remove_item(item_id)
        return state.refresh_gauges()

    size = await state.call(write, write=True)
    return RemoveResponse(removed_item_ids=[item_id], gallery_size=size)
