"""Logging set-up, called only by the CLI and the service (library code only logs)."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str | int | None = None) -> None:
    """Configure the ``lookalike`` logger once: level from the argument or ``LOOKALIKE_LOG_LEVEL``."""
    lvl = level if level is not None else os.environ.get("LOOKALIKE_LOG_LEVEL", "INFO")
    logger = logging.getLogger("lookalike")
    logger.setLevel(lvl if isinstance(lvl, int) else str(lvl).upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.propagate = False


__all__ = ["setup_logging"]
