"""One JSON error shape for every failure the service can answer with.

``{"error": {"type": "not_found", "message": "...", "status": 404, "request_id": "..."}}`` — for lookalike's
own errors (status from ``LookalikeError.http_status``), FastAPI/Starlette's 404/405/422, the auth and limit
checks, and unexpected exceptions (500, logged with the request id, never echoed to the client).
"""

from __future__ import annotations

import logging
import re
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike.errors import LookalikeError

log = logging.getLogger("lookalike.service")


class ServiceError(LookalikeError):
    """An HTTP-level refusal raised by the service itself (auth, wrong content type, bad form)."""

    def __init__(self, message: str, *, status: int, type: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.http_status = status
        self.type = type
        self.headers = headers


_HTTP_TYPES = {413: "payload_too_large", 415: "unsupported_media_type", 422: "validation"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_type(err: BaseException | None, status: int) -> str:
    """A stable snake_case code: the error class (``EmbeddingSizeError`` → ``embedding_size``) or the HTTP phrase."""
    if isinstance(err, ServiceError) and err.type:
        return err.type
    if isinstance(err, LookalikeError) and not isinstance(err, ServiceError):
        return _snake(type(err).__name__).removesuffix("_error") or "error"
    if status in _HTTP_TYPES:
        return _HTTP_TYPES[status]
    try:
        return _snake(HTTPStatus(status).phrase.replace(" ", "").replace("-", ""))
    except ValueError:
        return "error"


def request_id(request: Request) -> str:
    """The request's id (set by the middleware in app.py; made up here if absent)."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = uuid.uuid4().hex[:16]
    return rid


def error_response(
    request: Request, status: int, message: str, type_: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Build the one error shape."""
    rid = request_id(request)
    body = {"error": {"type": type_, "message": message, "status": status, "request_id": rid}}
    return JSONResponse(body, status_code=status, headers={**(headers or {}), "X-Request-ID": rid})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",)) or "request"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts[:10]) + ("" if len(parts) <= 10 else f"; ... ({len(parts)} problems)")


async def _lookalike_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LookalikeError)
    status = int(getattr(exc, "http_status", 400))
    headers = exc.headers if isinstance(exc, ServiceError) else None
    return error_response(request, status, str(exc), error_type(exc, status), headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 404 and message == "Not Found":
        message = f"no route {request.url.path!r}; see /docs for the API"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path!r}; see /docs for the API"
    return error_response(request, status, message, error_type(None, status), getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, 422, _validation_message(exc), "validation")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request)
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, rid)
    message = f"internal error; the server logged it under request id {rid}"
    return error_response(request, 500, message, "internal")


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through :func:`error_response`."""
    handlers: dict[Any, Any] = {
        LookalikeError: _lookalike_error,
        StarletteHTTPException: _http_error,
        RequestValidationError: _validation_error,
        Exception: _unexpected,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)


__all__ = ["ServiceError", "error_response", "error_type", "install_error_handlers", "request_id"]
