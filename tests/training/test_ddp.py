"""DDP: two CPU processes on gloo train the tiny config; every rank gets disjoint m-per-class batches."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("_ddp_probe.py")


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path: Path, make_tiny_config) -> None:  # type: ignore[no-untyped-def]
    epochs, batch, m = 2, 20, 4
    cfg = make_tiny_config(
        tmp_path,
        **{"trainer.devices": 2, "trainer.strategy": "ddp", "trainer.accelerator": "cpu", "trainer.max_epochs": epochs},
    )
    proc = subprocess.run(
        [sys.executable, str(PROBE), str(cfg), str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEMBER: 2/2" in proc.stderr, "the second process did not join the gloo group"
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["epochs_run"] == epochs and 0 < result["best_val_map_at_r"] <= 1

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    n_batches = ranks[0]["batches"]
    assert n_batches > 0 and ranks[1]["batches"] == n_batches
    labels = ranks[0]["labels"]
    per_epoch = n_batches * batch
    for rank in ranks:
        assert len(rank["drawn"]) == epochs * per_epoch  # whole batches only, none drawn twice by accident
        for start in range(0, len(rank["drawn"]), batch):  # every batch: batch/m classes, m items each
            counts = Counter(labels[i] for i in rank["drawn"][start : start + batch])
            assert set(counts.values()) == {m} and len(counts) == batch // m
    for e in range(epochs):
        a, b = (set(r["drawn"][e * per_epoch : (e + 1) * per_epoch]) for r in ranks)
        assert len(a) == len(b) == per_epoch  # no item twice within a rank's epoch
        assert not a & b, f"epoch {e}: ranks 0 and 1 drew {len(a & b)} items in common"
    assert ranks[0]["drawn"][:per_epoch] != ranks[0]["drawn"][per_epoch:]  # reshuffled between epochs
