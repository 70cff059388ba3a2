"""Turning request bodies into gallery inputs, with the checks that make bad uploads clear 4xx answers.

A route accepts ``multipart/form-data`` (image files) or ``application/json`` (texts or vectors); which of
them fits depends on the kind of model the gallery was built with, and a mismatch says what to send instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile

from lookalike.errors import DataError, EmbeddingSizeError
from lookalike.service.errors import ServiceError
from lookalike.service.limits import announced_pixels, decode_image, make_thumbnail
from lookalike.service.settings import ServiceSettings

B = TypeVar("B", bound=BaseModel)

_HOW = {
    "image": "send multipart/form-data with image files in the field {field!r}",
    "text": 'send application/json with "texts": ["..."]',
    "vector": 'send application/json with "vectors": [[...], ...]',
}


def how_to_send(kind: str, field: str = "images") -> str:
    """What a client must send to a gallery whose model embeds ``kind`` items."""
    return _HOW.get(kind, "see /docs").format(field=field)


def require_image_model(model_kind: str) -> None:
    """Multipart uploads carry images: refuse them (422, with what to send instead) for text/vector models."""
    if model_kind != "image":
        raise ServiceError(
            f"this gallery's model embeds {model_kind} items, not images; " + how_to_send(model_kind),
            status=422,
            type="validation",
        )


def body_kind(request: Request, model_kind: str, field: str = "images") -> str:
    """``"json"`` or ``"multipart"`` from the Content-Type; anything else is 415 with the fix."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return "json"
    if ctype == "multipart/form-data":
        return "multipart"
    shown = ctype or "none"
    raise ServiceError(
        f"unsupported content type {shown!r}: this gallery's model embeds {model_kind} items; "
        + how_to_send(model_kind, field),
        status=415,
    )


def _reject_constant(name: str) -> None:
    raise ValueError(f"it holds {name}, which is not valid JSON; send finite numbers only")


def parse_json(raw: str | bytes, what: str = "the body") -> Any:
    """Standard JSON (no NaN/Infinity) from a client, or a 422 naming ``what`` and the problem, never a 500:
    broken syntax, bytes that are not UTF-8, nesting deep enough to exhaust the parser's recursion."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ServiceError(f"{what} is not valid JSON ({err})", status=422, type="validation") from None
    except RecursionError:
        raise ServiceError(
            f"{what} is nested too deeply; see /docs for the request format", status=422, type="validation"
        ) from None
    except ValueError as err:
        raise ServiceError(f"{what}: {err}", status=422, type="validation") from None


async def read_json(request: Request, schema: type[B]) -> B:
    """Parse and validate a JSON body as ``schema`` (422 naming each bad field)."""
    raw = await request.body()
    if not raw:
        raise ServiceError("the JSON body is empty; see /docs for the request format", status=422, type="validation")
    data = parse_json(raw, "the JSON body")
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()[:10]]
        raise ServiceError("invalid request: " + "; ".join(problems), status=422, type="validation") from None


async def read_form(request: Request, settings: ServiceSettings) -> FormData:
    """Parse a multipart body (the byte limit is enforced by the middleware while it streams)."""
    return await request.form(max_files=settings.max_items_per_request, max_fields=16)


async def read_uploads(
    form: FormData, field: str, settings: ServiceSettings, *, required: bool = True
) -> list[tuple[str, bytes]]:
    """``(filename, bytes)`` of every file sent under ``field``."""
    entries = form.getlist(field)
    strays = [k for k, v in form.multi_items() if isinstance(v, UploadFile) and k != field]
    if strays and not entries:
        raise ServiceError(
            f"image files must be sent in the field {field!r}; got field {strays[0]!r}", status=422, type="validation"
        )
    files: list[tuple[str, bytes]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, UploadFile):
            raise ServiceError(
                f"field {field!r} must hold files (multipart file parts), but part {i} is a plain text value",
                status=422,
                type="validation",
            )
        files.append((entry.filename or f"{field}[{i}]", await entry.read()))
    if required and not files:
        raise ServiceError(
            f"no image sent: add one or more files in the field {field!r}", status=422, type="validation"
        )
    if len(files) > settings.max_items_per_request:
        raise ServiceError(
            f"{len(files)} files in one request; the limit is {settings.max_items_per_request}",
            status=413,
            type="payload_too_large",
        )
    return files


@dataclass
class DecodedUploads:
    """Model inputs of uploaded images (one small prepared tensor each) and, when asked for, their thumbnails."""

    inputs: list[Any]
    thumbnails: list[bytes]


async def decode_uploads(
    files: list[tuple[str, bytes]],
    settings: ServiceSettings,
    *,
    prepare: Callable[[Any], Any],
    slots: threading.Semaphore,
    thumbnail_size: int | None = None,
) -> DecodedUploads:
    """Decode uploads one at a time in a worker thread, turning each into the model's input right away.

    Memory stays bounded whatever the request: the pixels announced by all headers together must not exceed
    ``max_request_pixels`` (413 before anything is decoded), each image must not exceed ``max_image_pixels``,
    only one full-size picture per request is alive at a time (``prepare`` shrinks it to the model's input), and
    at most ``decode_concurrency`` images are decoded at once across all requests (``slots``).
    """
    total = sum(announced_pixels(data) for _, data in files)
    if total > settings.max_request_pixels:
        raise ServiceError(
            f"the images of this request hold {total:,} pixels together; the limit is "
            f"{settings.max_request_pixels:,} per request: send fewer or smaller images",
            status=413,
            type="payload_too_large",
        )

    def work() -> DecodedUploads:
        out = DecodedUploads([], [])
        for name, data in files:
            with slots:
                image = decode_image(data, name=name, max_pixels=settings.max_image_pixels)
                try:
                    if thumbnail_size is not None:
                        out.thumbnails.append(make_thumbnail(image, size=thumbnail_size))
                    out.inputs.append(prepare(image))
                finally:
                    image.close()
                del image
        return out

    return await anyio.to_thread.run_sync(work)


def form_int(form: FormData, name: str, default: int, *, lo: int, hi: int) -> int:
    """An integer form field in [lo, hi] (422 otherwise)."""
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ServiceError(
            f"form field {name!r} must be an integer, got {str(raw)[:40]!r}", status=422, type="validation"
        ) from None
    if not lo <= value <= hi:
        raise ServiceError(f"form field {name!r} must lie in [{lo}, {hi}], got {value}", status=422, type="validation")
    return value


def form_bool(form: FormData, name: str, default: bool = False) -> bool:
    """A yes/no form field: ``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``); 422 otherwise."""
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    value = str(raw).strip().lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise ServiceError(
        f"form field {name!r} must be true or false, got {str(raw)[:40]!r}", status=422, type="validation"
    )


def json_items(
    *,
    texts: list[str] | None,
    vectors: list[list[float]] | None,
    model_kind: str,
    input_dim: int | None,
    settings: ServiceSettings,
) -> list[Any]:
    """The texts or vectors of a JSON body, checked against the gallery's model kind and input width."""
    if (texts is None) == (vectors is None):
        raise ServiceError(
            'give exactly one of "texts" or "vectors"; ' + how_to_send(model_kind), status=422, type="validation"
        )
    items: list[Any] = list(texts if texts is not None else vectors or [])
    given = "text" if texts is not None else "vector"
    if given != model_kind:
        raise ServiceError(
            f"this gallery's model embeds {model_kind} items, not {given}s; " + how_to_send(model_kind),
            status=422,
            type="validation",
        )
    if len(items) > settings.max_items_per_request:
        raise ServiceError(
            f"{len(items)} {given}s in one request; the limit is {settings.max_items_per_request}",
            status=413,
            type="payload_too_large",
        )
    if texts is not None:
        long = [i for i, t in enumerate(texts) if len(t) > settings.max_text_chars]
        if long:
            raise DataError(f"text {long[0]} is longer than {settings.max_text_chars} characters; shorten it")
        if any(not t.strip() for t in texts):
            raise DataError("texts must not be empty or blank")
    elif input_dim is not None:
        bad = [(i, len(v)) for i, v in enumerate(items) if len(v) != input_dim]
        if bad:
            i, n = bad[0]
            raise EmbeddingSizeError(
                f"vector {i} has {n} numbers but this gallery's model takes {input_dim}-dimensional vectors; "
                "send vectors of that size (were they made by another model?)"
            )
    return items


__all__ = [
    "DecodedUploads",
    "body_kind",
    "decode_uploads",
    "form_int",
    "how_to_send",
    "json_items",
    "read_form",
    "read_json",
    "read_uploads",
]
