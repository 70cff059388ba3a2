"""The CLI's logging set-up."""

from __future__ import annotations

import logging
from pathlib import Path

from lookalike.logs import setup_logging


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_lightning_advert_is_dropped_other_lines_kept(tmp_path: Path) -> None:
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    setup_logging()
    setup_logging()  # twice: one filter
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    seen, level = _Records(), rank_zero.level
    rank_zero.addHandler(seen)  # Lightning's own handler writes to the stderr of the moment it was imported
    rank_zero.setLevel(logging.INFO)
    try:
        L.Trainer(logger=CSVLogger(tmp_path), enable_checkpointing=False, accelerator="cpu")
    finally:
        rank_zero.removeHandler(seen)
        rank_zero.setLevel(level)
    assert any("GPU available" in m for m in seen.messages)  # Lightning's own information stays
    assert not any("litlogger" in m for m in seen.messages)
