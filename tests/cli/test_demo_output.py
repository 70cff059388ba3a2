"""`lookalike demo`'s printed summary, from a given result (the flow itself: tests/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lookalike.cli.app import app
from lookalike.demo import DemoResult


def _result(draws: list[tuple[float, float]]) -> DemoResult:
    p = Path("out")
    return DemoResult(
        out_dir=p, model_dir=p / "m", gallery_dir=p / "g", report=p / "r.html", train_classes=["0", "1"],
        val_classes=[], heldout_classes=["7", "8", "9"], enrolled=["7", "8"], never_enrolled=["9"], shots=5,
        best_val_map_at_r=0.9, heldout_map_at_r=0.8, heldout_precision_at_1=0.99, untrained_map_at_r=0.4,
        pixels_map_at_r=0.6, threshold=0.3, target_far=1e-3, known_probes=10, identified=7, unknown_probes=5,
        rejected=5, wall_seconds=1.0, draws=draws,
    )  # fmt: skip


BOTH = (
    "over 2 enrollment draws (seeds 0-1, same threshold): identified mean 75.0% (70.0%-80.0%), "
    "rejected mean 80.0% (60.0%-100.0%)"
)


@pytest.mark.parametrize(
    ("draws", "expected", "absent"),
    [
        ([(0.7, 1.0), (0.8, 0.6)], BOTH, None),
        ([(0.7, float("nan")), (0.9, float("nan"))], "identified mean 80.0% (70.0%-90.0%)", "rejected mean"),
        ([], None, "enrollment draws"),
    ],
)
def test_the_summary_prints_the_draws(monkeypatch, tmp_path: Path, draws, expected, absent) -> None:
    monkeypatch.setattr("lookalike.demo.run_demo", lambda **_: _result(draws))
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "identification of enrolled classes: 7/10 = 70.0%" in result.output
    if expected is not None:
        assert expected in result.output
    if absent is not None:
        assert absent not in result.output
