"""``create_app(settings, *, gallery=None)``: the FastAPI application factory (no module-level app).

Middleware, outermost first: security headers, request id + metrics (pure ASGI), then the body-size limit;
inside, FastAPI's routers with one error shape for everything (see :mod:`lookalike.service.errors`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookalike._version import __version__
from lookalike.errors import ConfigError
from lookalike.service.auth import KeyRing
from lookalike.service.errors import install_error_handlers
from lookalike.service.limits import BodyLimitMiddleware
from lookalike.service.metrics import ServiceMetrics
from lookalike.service.schemas import ErrorResponse
from lookalike.service.security import SecurityHeadersMiddleware, install_docs
from lookalike.service.settings import ServiceSettings
from lookalike.service.state import ServiceState
from lookalike.service.thumbnails import migrate_legacy

log = logging.getLogger("lookalike.service")

_DESCRIPTION = """Enroll identities without retraining, then identify (top matches + known/unknown) or verify.

Send an API key as `X-API-Key: KEY` or `Authorization: Bearer KEY`. Read keys identify, verify and list;
write keys also enroll and remove. Every error answers `{"error": {"type", "message", "status", "request_id"}}`.
Image galleries take multipart/form-data uploads; text and vector galleries take JSON."""


class RequestContextMiddleware:
    """Gives each request an id (``X-Request-ID`` in and out) and records its metrics under the route template."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            template = getattr(scope.get("route"), "path", None) or "<unmatched>"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)


def _open_gallery(settings: ServiceSettings) -> Any:
    """Open the gallery named in ``settings`` with its model (default: the model recorded in the gallery)."""
    if not settings.gallery:
        raise ConfigError("give the gallery to serve (setting 'gallery', or pass gallery= to create_app)")
    from lookalike.gallery import Gallery

    return Gallery.open_with_model(settings.gallery, settings.model or None)


def _gallery_location(gallery: Any, settings: ServiceSettings) -> str | None:
    store = getattr(gallery, "store", None)
    location = getattr(store, "location", None) or getattr(gallery, "location", None)
    return str(location) if location is not None else settings.gallery


def _unknown_pool(gallery: Any) -> Any:
    """The gallery's unknown pool (``discover`` routes) when it is a folder gallery, else ``None``."""
    from pathlib import Path

    location = getattr(getattr(gallery, "store", None), "location", None)
    if location is None or not Path(str(location)).is_dir() or not hasattr(gallery, "unknown_pool"):
        return None
    return gallery.unknown_pool()


#: how ``lookalike serve --workers N`` hands the command's inputs to each worker process (JSON: config, overrides,
#: dotted settings), so every worker resolves the same settings the command did
SERVE_ARGS_ENV = "LOOKALIKE_SERVE_ARGS"


def check_gallery(settings: ServiceSettings) -> None:
    """Open and close the gallery ``settings`` name, with its model: the errors a worker would hit, raised once."""
    settings.check_auth()
    _open_gallery(settings).close()


def app_from_environment() -> FastAPI:
    """uvicorn's app factory for several worker processes (``lookalike serve --workers N``): each worker builds
    its own app and opens the gallery itself from :data:`SERVE_ARGS_ENV`. The gallery's stores and unknown pool
    are safe across processes (docs/gallery.md, docs/discovery.md)."""
    import json
    import os

    from lookalike.service.settings import load_settings

    raw = os.environ.get(SERVE_ARGS_ENV)
    if not raw:
        raise ConfigError(f"{SERVE_ARGS_ENV} is not set: this app factory is for `lookalike serve --workers N`")
    args = json.loads(raw)
    return create_app(load_settings(args["config"], overrides=args["overrides"], dotted=args["dotted"]))


def create_app(settings: ServiceSettings, *, gallery: Any = None) -> FastAPI:
    """Build the service around ``gallery`` (or the one ``settings`` names, opened here and closed on shutdown)."""
    settings.check_auth()
    owns = gallery is None
    if gallery is None:
        gallery = _open_gallery(settings)
    metrics = ServiceMetrics()
    state = ServiceState(
        settings=settings,
        gallery=gallery,
        keys=KeyRing.from_settings(settings),
        metrics=metrics,
        owns_gallery=owns,
        pool=_unknown_pool(gallery),
    )

    migrate_legacy(gallery, _gallery_location(gallery, settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("serving gallery %s (%s model)", _gallery_location(gallery, settings), state.model_kind)
        if hasattr(gallery, "warm"):  # mixing a large gallery's items takes seconds: before the first request
            t0 = time.perf_counter()
            mixed = await state.call(gallery.warm)
            if mixed:
                log.info("mixed %d gallery items with their neighbours in %.1f s", mixed, time.perf_counter() - t0)
        yield
        await state.close()

    app = FastAPI(
        title="lookalike",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from local files, under the CSP
        redoc_url=None,
        responses={
            401: {"model": ErrorResponse, "description": "missing or invalid API key"},
            422: {"model": ErrorResponse, "description": "invalid request"},
        },
    )
    app.state.service = state
    app.state.keys = state.keys
    install_error_handlers(app)

    from lookalike.service.routes import catalog, discover, enroll, query, system

    for module in (system, query, enroll, catalog, discover):
        app.include_router(module.router)
    from importlib import resources

    static_dir = resources.files("lookalike.service").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    install_docs(app)

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


__all__ = ["create_app"]
