"""DDP: two CPU processes on gloo train the tiny config; every rank gets disjoint m-per-class batches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path: Path, make_tiny_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_tiny_config(
        tmp_path,
        **{"trainer.devices": 2, "trainer.strategy": "ddp", "trainer.accelerator": "cpu", "trainer.max_epochs": 2},
    )
    proc = subprocess.run(
        [sys.executable, "-m", "lookalike", "train", str(cfg)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEMBER: 2/2" in proc.stderr, "the second process did not join the gloo group"
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["epochs_run"] == 2 and 0 < result["best_val_map_at_r"] <= 1
