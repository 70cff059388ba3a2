"""API keys with two scopes: ``read`` (identify, verify, list, info) and ``write`` (also enroll and remove).

A key is sent as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``. No key → 401 with a
``WWW-Authenticate`` header; a read key on a write route → 403. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from enum import Enum

from fastapi import Request

from lookalike.service.errors import ServiceError
from lookalike.service.settings import ServiceSettings


class Scope(str, Enum):
    """What a key may do; ``write`` includes ``read``."""

    read = "read"
    write = "write"


class KeyRing:
    """The configured keys and their scopes (built once per app from the settings)."""

    def __init__(self, *, read_keys: list[str], write_keys: list[str], enabled: bool = True) -> None:
        self._read = [k.encode() for k in read_keys]
        self._write = [k.encode() for k in write_keys]
        self.enabled = enabled

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KeyRing:
        """Keys from ``settings``; authentication is off only when ``no_auth`` is set and no key is given."""
        read = [k.get_secret_value() for k in settings.read_keys]
        write = [k.get_secret_value() for k in settings.write_keys]
        return cls(read_keys=read, write_keys=write, enabled=bool(read or write) or not settings.no_auth)

    def scope_of(self, key: str) -> Scope | None:
        """The scope of ``key``, or ``None`` when it is not a configured key."""
        raw = key.encode()
        # compare against every key so the time taken does not tell which list matched
        is_write = any([hmac.compare_digest(raw, k) for k in self._write])
        is_read = any([hmac.compare_digest(raw, k) for k in self._read])
        if is_write:
            return Scope.write
        return Scope.read if is_read else None


def key_from_request(request: Request) -> str | None:
    """The key sent with ``request`` (``X-API-Key`` wins over ``Authorization: Bearer``)."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def require(scope: Scope) -> Callable[[Request], Scope]:
    """A FastAPI dependency admitting requests whose key has ``scope``."""

    def dependency(request: Request) -> Scope:
        keys: KeyRing = request.app.state.keys
        if not keys.enabled:
            return Scope.write
        key = key_from_request(request)
        if key is None:
            raise ServiceError(
                "missing API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'",
                status=401,
                type="unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        granted = keys.scope_of(key)
        if granted is None:
            raise ServiceError(
                "invalid API key: check the key, or ask the server's operator for one",
                status=401,
                type="unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope is Scope.write and granted is not Scope.write:
            raise ServiceError(
                "this API key may only read; enrolling and removing need a key with write scope (--write-key)",
                status=403,
                type="forbidden",
            )
        return granted

    return dependency


__all__ = ["KeyRing", "Scope", "key_from_request", "require"]
