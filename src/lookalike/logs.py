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
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdverts())


class _NoAdverts(logging.Filter):
    """Drops Lightning's advertisement for its cloud logger, printed at every `Trainer` without one (every
    `lookalike train` and fit's final training); its other lines (GPU available, checkpoints) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in str(record.msg)


__all__ = ["setup_logging"]
