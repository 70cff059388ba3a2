"""Gallery stores by name: ``"sqlite"`` (embedded SQLite + faiss, the default) and ``"pgvector"`` (PostgreSQL)."""

from __future__ import annotations

from typing import Any

from lookalike.gallery.stores.base import Hit, VectorStore, VectorTable
from lookalike.registry import Registry

STORES: Registry[type[VectorStore]] = Registry("gallery store")


@STORES.register("sqlite")
def _sqlite() -> type[VectorStore]:
    from lookalike.gallery.stores.sqlite import SQLiteStore

    return SQLiteStore


@STORES.register("pgvector")
def _pgvector() -> type[VectorStore]:
    from lookalike.gallery.stores.pgvector import PgVectorStore

    return PgVectorStore


def store_kind_for(location: str) -> str:
    """``"pgvector"`` for a ``postgresql://`` DSN, else ``"sqlite"`` (a folder)."""
    return "pgvector" if str(location).startswith(("postgresql://", "postgres://")) else "sqlite"


def open_store(location: str, **options: Any) -> VectorStore:
    """Open an existing store at a folder or DSN."""
    return STORES.create(store_kind_for(location)).open(location, **options)


__all__ = ["STORES", "Hit", "VectorStore", "VectorTable", "open_store", "store_kind_for"]
