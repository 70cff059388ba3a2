"""Service settings: one strict model, loaded from YAML, ``LOOKALIKE_SERVICE_*`` environment variables and CLI flags.

Precedence, lowest first: defaults → YAML file → environment → explicit overrides (the CLI's flags). API keys
are secrets: they never appear in ``repr`` or logs, and the environment is the usual place for them
(``LOOKALIKE_SERVICE_API_KEYS=key1,key2``, ``LOOKALIKE_SERVICE_WRITE_KEYS=key3``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from lookalike.config import StrictModel, apply_overrides, read_yaml, validate
from lookalike.errors import ConfigError

ENV_PREFIX = "LOOKALIKE_SERVICE_"


class ServiceSettings(StrictModel):
    """Everything ``create_app`` needs. Limits guard the server against abuse; keys gate every ``/v1`` route."""

    gallery: str | None = Field(None, description="gallery path (or PostgreSQL DSN) opened when no gallery is given")
    model: str | None = Field(None, description="model folder or encoder spec the gallery was built with")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    read_keys: list[SecretStr] = Field(default_factory=list, description="API keys allowed to identify/verify/list")
    write_keys: list[SecretStr] = Field(default_factory=list, description="API keys also allowed to enroll/remove")
    no_auth: bool = Field(False, description="serve without keys (trusted hosts only); refused unless set")
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest request body, checked while read")
    max_image_pixels: int = Field(40_000_000, ge=1, description="largest image (width x height), checked from header")
    max_request_pixels: int = Field(
        80_000_000, ge=1, description="most image pixels (width x height, summed from the headers) in one request"
    )
    decode_concurrency: int = Field(2, ge=1, description="images decoded at once across all requests")
    max_items_per_request: int = Field(64, ge=1, description="most images/texts/vectors in one request")
    max_text_chars: int = Field(10_000, ge=1)
    max_k: int = Field(50, ge=1, description="most matches a client may ask for")
    max_batch_size: int = Field(32, ge=1, description="most queries the batcher sends through the model at once")
    batch_wait_ms: float = Field(4.0, ge=0, le=1000, description="how long the batcher waits to fill a batch")
    thumbnail_size: int = Field(160, ge=16, le=1024, description="longest side of stored enrolment thumbnails")

    def check_auth(self) -> None:
        """Refuse to serve without keys unless ``no_auth`` says so (a ConfigError that never echoes a key)."""
        if not self.read_keys and not self.write_keys and not self.no_auth:
            raise ConfigError(
                "no API key configured: give --api-key / --write-key (or LOOKALIKE_SERVICE_API_KEYS / "
                "LOOKALIKE_SERVICE_WRITE_KEYS), or pass --no-auth to serve without keys on a trusted host"
            )
        if any(len(k.get_secret_value()) < 8 for k in [*self.read_keys, *self.write_keys]):
            raise ConfigError("API keys must be at least 8 characters long; generate one with `openssl rand -hex 16`")


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """``LOOKALIKE_SERVICE_MAX_K=10`` → ``{"max_k": "10"}``; key lists are comma-separated."""
    out: dict[str, Any] = {}
    fields = ServiceSettings.model_fields
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key == "api_keys":
            key = "read_keys"
        if key not in fields:
            raise ConfigError(
                f"environment variable {name} is not a service setting; known: "
                + ", ".join(ENV_PREFIX + f.upper() for f in fields)
            )
        out[key] = [v.strip() for v in value.split(",") if v.strip()] if key.endswith("_keys") else value
    return out


def load_settings(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    dotted: list[str] | None = None,
) -> ServiceSettings:
    """Build :class:`ServiceSettings` from a YAML file, the environment, ``key=value`` strings and overrides.

    Args:
        path: optional YAML file holding a mapping of settings (a top-level ``service:`` section also works).
        overrides: values that win over everything (the CLI's explicit flags); ``None`` values are ignored.
        env: environment to read ``LOOKALIKE_SERVICE_*`` from (default ``os.environ``).
        dotted: ``key=value`` overrides as accepted elsewhere in lookalike (e.g. ``max_k=10``).
    """
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    if set(data) == {"service"} and isinstance(data["service"], dict):
        data = dict(data["service"])
    data.update(_env_values(os.environ if env is None else env))
    data = apply_overrides(data, dotted or [])
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key.endswith("_keys") and not value:
            continue
        data[key] = value
    settings = validate(ServiceSettings, data, str(path) if path is not None else "service settings")
    settings.check_auth()
    return settings


__all__ = ["ENV_PREFIX", "ServiceSettings", "load_settings"]
