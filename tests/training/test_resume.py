"""A training process killed with SIGKILL resumes from last.ckpt and continues from the saved epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.slow
def test_kill_then_resume(tmp_path: Path, make_tiny_config) -> None:
    cfg = make_tiny_config(tmp_path, **{"trainer.max_epochs": 30})
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "train", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and not ckpt.is_file():
        time.sleep(0.5)
    time.sleep(2.0)  # let it write at least one more epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.is_file(), "no checkpoint was written before the kill"
    import torch

    saved_epoch = torch.load(ckpt, map_location="cpu", weights_only=False)["epoch"]
    assert saved_epoch < 29, "the run finished before it was killed; the test needs a longer run"
    done = subprocess.run(
        [sys.executable, "-m", "lookalike", "train", str(cfg), "--set", "trainer.max_epochs=" + str(saved_epoch + 2)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed from {ckpt}" in done.stdout
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["epochs_run"] == saved_epoch + 2
    import csv

    rows = list(csv.DictReader((tmp_path / "run" / "logs" / "metrics.csv").open()))
    epochs = sorted({int(r["epoch"]) for r in rows if r.get("epoch")})
    assert epochs[-1] == saved_epoch + 1  # continued from the saved epoch, not from 0
