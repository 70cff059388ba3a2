"""``POST /v1/identify`` and ``POST /v1/verify`` (read scope). Identify goes through the batcher."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from lookalike.errors import GalleryError
from lookalike.service.auth import Scope, require
from lookalike.service.errors import ServiceError
from lookalike.service.inputs import (
    body_kind,
    decode_uploads,
    form_bool,
    form_int,
    json_items,
    read_form,
    read_json,
    read_uploads,
    require_image_model,
)
from lookalike.service.routes import FILES_DOC, SKIP_NO_FACE_DOC, body_doc, get_state, thumbnail_url
from lookalike.service.routes.discover import keep_unknown_faces, keep_unknown_probes, pool_enabled
from lookalike.service.schemas import (
    IdentificationOut,
    IdentifyResponse,
    MatchOut,
    QueryJSON,
    SkippedOut,
    VerifyJSON,
    VerifyResponse,
)
from lookalike.service.state import ServiceState

router = APIRouter(prefix="/v1", tags=["recognition"], dependencies=[Depends(require(Scope.read))])

_FILE = {"type": "string", "format": "binary"}


def _format(result: Any, k: int, state: ServiceState, pictured: set[str]) -> IdentificationOut:
    matches = []
    for m in list(result.matches)[:k]:
        thumb = thumbnail_url(m.identity) if m.identity in pictured else None
        matches.append(MatchOut(identity=m.identity, score=float(m.score), thumbnail=thumb))
    state.metrics.decisions.labels(result.decision).inc()
    return IdentificationOut(
        decision=result.decision,
        identity=result.identity,
        score=None if result.score is None else float(result.score),
        threshold=None if result.threshold is None else float(result.threshold),
        matches=matches,
    )


@router.post(
    "/identify",
    response_model=IdentifyResponse,
    summary="Who is this? Top matches per query, with a known/unknown decision",
    openapi_extra=body_doc(
        json_schema=QueryJSON,
        multipart={
            "images": FILES_DOC,
            "k": {"type": "integer", "default": 5},
            "skip_no_face": SKIP_NO_FACE_DOC,
        },
        summary="image files (multipart field 'images') or JSON texts/vectors",
    ),
)
async def identify(request: Request, state: ServiceState = Depends(get_state)) -> IdentifyResponse:
    """Identify one or more queries; concurrent requests share one model forward (micro-batching)."""
    settings = state.settings
    face_model = False  # set for image uploads to a face model: one result per face
    thumbnails: list[bytes] | None = None
    face_thumbnails: list[list[bytes]] | None = None  # face models with the pool on: a picture per face
    if body_kind(request, state.model_kind) == "json":
        body = await read_json(request, QueryJSON)
        items = json_items(
            texts=body.texts,
            vectors=body.vectors,
            model_kind=state.model_kind,
            input_dim=state.input_dim,
            settings=settings,
        )
        k = body.k
        if k > settings.max_k:
            raise ServiceError(f"k must be at most {settings.max_k}, got {k}", status=422, type="validation")
    else:
        require_image_model(state.model_kind)
        form = await read_form(request, settings)
        k = form_int(form, "k", 5, lo=1, hi=settings.max_k)
        uploads = await read_uploads(form, "images", settings)
        face_model = state.model_kind == "image" and state.model.is_face_model
        skip = form_bool(form, "skip_no_face")
        keeping = await pool_enabled(state)  # thumbnails only for probes the pool may keep
        face_thumbnails = [] if face_model and keeping else None
        prepare = (
            state.prepare_faces(skip_no_face=skip, thumbnails=face_thumbnails) if face_model else state.prepare_image
        )
        decoded = await decode_uploads(
            uploads,
            settings,
            prepare=prepare,
            slots=state.decode_slots,
            thumbnail_size=settings.thumbnail_size if keeping and not face_model else None,
        )
        items, thumbnails = decoded.inputs, (decoded.thumbnails or None)
    if face_model:  # one result per face, with its box
        faces = await state.call(state.identify_faces, items, k)
        await keep_unknown_faces(state, faces, face_thumbnails)
        shown = {m.identity for _, f in faces for m in list(f.identification.matches)[:k]}
        pictured: set[str] = await state.call(state.gallery.identities_with_images, sorted(shown))
        return IdentifyResponse(
            results=[
                _format(f.identification, k, state, pictured).model_copy(
                    update={"image": i, "box": list(f.box), "detected": f.detected}
                )
                for i, f in faces
            ],
            skipped=[SkippedOut(**s) for s in state.split_no_face(items)[1]],
        )
    assert state.batcher is not None
    results = await state.batcher.submit(items, k)
    shown = {m.identity for r in results for m in list(r.matches)[:k]}
    pictured = await state.call(state.gallery.identities_with_images, sorted(shown))
    await keep_unknown_probes(state, items, results, thumbnails)
    return IdentifyResponse(
        results=[_format(r, k, state, pictured).model_copy(update={"image": i}) for i, r in enumerate(results)]
    )


@router.post(
    "/verify",
    response_model=VerifyResponse,
    summary="Are these two the same identity?",
    openapi_extra=body_doc(
        json_schema=VerifyJSON,
        multipart={"a": _FILE, "b": _FILE},
        summary="two image files (multipart fields 'a' and 'b') or JSON {a, b} texts/vectors",
    ),
)
async def verify(request: Request, state: ServiceState = Depends(get_state)) -> VerifyResponse:
    """Compare two items under the gallery's threshold."""
    settings = state.settings
    if body_kind(request, state.model_kind, field="a' and 'b") == "json":
        body = await read_json(request, VerifyJSON)
        pair: list[Any] = []
        for value in (body.a, body.b):
            texts = [value] if isinstance(value, str) else None
            vectors = None if isinstance(value, str) else [value]
            pair.extend(
                json_items(
                    texts=texts,
                    vectors=vectors,
                    model_kind=state.model_kind,
                    input_dim=state.input_dim,
                    settings=settings,
                )
            )
    else:
        require_image_model(state.model_kind)
        form = await read_form(request, settings)
        files = [(await read_uploads(form, name, settings))[0] for name in ("a", "b")]
        pair = (await decode_uploads(files, settings, prepare=state.prepare_image, slots=state.decode_slots)).inputs
    if state.gallery.threshold is None:  # before embedding: the answer does not depend on the items
        raise GalleryError("this gallery has no threshold yet; calibrate it (`lookalike calibrate`) first")
    va, vb = await state.call(state.embed, pair)
    result = await state.call(state.gallery.verify_vectors, va, vb)
    return VerifyResponse(same=bool(result.same), score=float(result.score), threshold=float(result.threshold))
