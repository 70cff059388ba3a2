"""The CLI's logging set-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.logs import setup_logging


def test_lightning_advert_is_dropped_other_lines_kept(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    setup_logging()
    setup_logging()  # twice: one filter
    L.Trainer(logger=CSVLogger(tmp_path), enable_checkpointing=False, accelerator="cpu")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "GPU available" in text  # Lightning's own information stays
    assert "litlogger" not in text
