"""The ORL open-set demo end to end on real faces (slow: embeds 185 photos with EfficientNet-Lite0 on CPU)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "orl_open_set.py"


@pytest.mark.slow
@pytest.mark.realdata
def test_orl_open_set_demo_identifies_enrolled_and_rejects_strangers(shared_data: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", "timm:tf_efficientnet_lite0"],
        capture_output=True, text=True, check=True, timeout=900,
    ).stdout  # fmt: skip
    assert "validation people" in out and "s31" not in out.split("calibration:")[1].split("\n")[0]
    ident = float(re.search(r"identification rate of enrolled people .*?: ([0-9.]+)", out).group(1))
    reject = float(re.search(r"rejection rate of never-enrolled people .*?: ([0-9.]+)", out).group(1))
    assert ident >= 0.5 and reject >= 0.9, out
