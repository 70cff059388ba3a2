"""Request-size guard and image decoding under the service's limits.

:class:`BodyLimitMiddleware` refuses a body larger than ``max_upload_bytes`` from its ``Content-Length``
before reading it, and counts bytes *while streaming* for chunked bodies (or a lying ``Content-Length``),
so an oversized upload is never held in memory or spooled to disk in full. :func:`decode_image` turns
upload bytes into an RGB image with the pixel limit checked from the header before decoding.
"""

from __future__ import annotations

import io
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookalike.errors import DataError


class BodyTooLarge(HTTPException):
    """413 raised from the body stream; an ``HTTPException`` so FastAPI's body parsing lets it through."""

    def __init__(self, limit: int, seen: int | None = None) -> None:
        got = f" (Content-Length says {seen})" if seen is not None else ""
        super().__init__(
            413,
            f"request body is larger than the server's limit of {limit} bytes{got}; send smaller or fewer "
            "images (the operator can raise max_upload_bytes)",
        )


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 for bodies over ``max_bytes``, from the header or while the body streams."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"content-length", b"")
        declared = int(header) if header.isdigit() else None
        seen = 0
        limit = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal seen
            if declared is not None and declared > limit:  # refuse before reading a byte
                raise BodyTooLarge(limit, declared)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


def decode_image(data: bytes, *, name: str, max_pixels: int) -> Any:
    """Upload bytes → RGB ``PIL.Image`` via :func:`lookalike.data.images.load_image` (pixel limit from the header)."""
    from lookalike.data.images import load_image

    if not data:
        raise DataError(f"{name}: the upload is empty (0 bytes); send an image file (JPEG, PNG, ...)")
    return load_image(data, max_pixels=max_pixels, name=name)


def announced_pixels(data: bytes) -> int:
    """Width x height from an image's header, without decoding it; 0 when the header cannot be read (decoding
    then reports what is wrong with the file)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 0
    return int(w) * int(h)


def make_thumbnail(image: Any, *, size: int) -> bytes:
    """A small JPEG of ``image`` (longest side ``size``) for the web page."""
    thumb = image.copy()
    thumb.thumbnail((size, size))
    buf = io.BytesIO()
    thumb.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "announced_pixels", "decode_image", "make_thumbnail"]
