"""The HTTP service: ``create_app(settings)`` builds a FastAPI app around a gallery (see docs/service.md)."""

from lookalike.service.app import create_app
from lookalike.service.settings import ServiceSettings, load_settings

__all__ = ["ServiceSettings", "create_app", "load_settings"]
