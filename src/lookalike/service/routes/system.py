"""Health, Prometheus metrics and the web page (no key needed)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, Response
from fastapi.responses import HTMLResponse

from lookalike._version import __version__
from lookalike.service.routes import get_state
from lookalike.service.schemas import HealthResponse
from lookalike.service.state import ServiceState

router = APIRouter()


@router.get("/v1/health", response_model=HealthResponse, tags=["system"], summary="Liveness and gallery size")
async def health(state: ServiceState = Depends(get_state)) -> HealthResponse:
    """``ok`` while the server answers; also the model kind (what to send) and the number of items."""
    items = await state.call(state.refresh_gauges)
    return HealthResponse(status="ok", version=__version__, model_kind=state.model_kind, gallery_items=items)


@router.get("/metrics", tags=["system"], summary="Prometheus metrics", response_class=Response)
async def metrics(state: ServiceState = Depends(get_state)) -> Response:
    """Request counts and latencies per route, batch sizes, decisions, gallery size."""
    return state.metrics.render()


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
async def page() -> HTMLResponse:
    """The web page: identify by dropping an image; enroll with a write key."""
    html = resources.files("lookalike.service").joinpath("static/index.html").read_text(encoding="utf-8")
    return HTMLResponse(html)
