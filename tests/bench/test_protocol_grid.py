"""The protocol grid on sklearn digits (no shared data): rows, refusals, finite scores, intervals, files."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lookalike.bench import GridSpec, run_protocol_grid, summarize, write_tables
from lookalike.bench.protocol_grid import t_interval
from lookalike.cli import app


@pytest.fixture
def recipe(tmp_path: Path, make_tiny_config) -> Path:  # type: ignore[no-untyped-def]
    return make_tiny_config(tmp_path, file_name="digits_tiny.yaml", name="digits_tiny")


def test_t_interval() -> None:
    mean, half = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)  # t(0.975, 2) * sd / sqrt(n)
    assert math.isnan(t_interval([1.0])[1])


def test_grid_rows_scores_and_files(recipe: Path, tmp_path: Path) -> None:
    spec = GridSpec(
        recipe=recipe,
        work_dir=tmp_path / "work",
        losses=("multi_similarity", "arcface"),
        distances=("cosine", "hyperbolic"),
        seeds=(0, 1),
        epochs=1,
        threads=1,
    )
    rows = summarize(run_protocol_grid(spec))
    by = {r.method: r for r in rows}
    assert list(by) == [
        "untrained encoder (cosine)",
        "PML triplet recipe (frozen features)",
        "default recipe (digits_tiny.yaml)",
        "multi_similarity / cosine",
        "multi_similarity / hyperbolic",
        "arcface / cosine",
        "arcface / hyperbolic",
    ]
    # digits has 5 training classes: the PML recipe's batch of 32 with 4 per class cannot be filled
    assert "8 classes" in (by["PML triplet recipe (frozen features)"].refused or "")
    assert "hyperbolic" in (by["arcface / hyperbolic"].refused or "")
    for method in ("multi_similarity / cosine", "multi_similarity / hyperbolic", "arcface / cosine"):
        r = by[method]
        assert r.refused is None and r.seeds == 2
        assert 0 < r.map_at_r <= 1 and 0 < r.precision_at_1 <= 1
        assert r.map_at_r_ci95 >= 0 and r.precision_at_1_ci95 >= 0
    md, cs = write_tables(rows, tmp_path / "out")
    table = md.read_text()
    assert "n/a (refused: loss 'arcface' compares embeddings by cosine" in table
    with cs.open() as f:
        records = list(csv.DictReader(f))
    assert len(records) == len(rows)
    ok = [r for r in records if not r["refused"]]
    assert all(math.isfinite(float(r["map_at_r"])) for r in ok)
    assert not any((tmp_path / "work").iterdir())  # per-run folders are removed (refused ones too)


def test_cli_bench_quick(recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = CliRunner().invoke(app, ["bench", str(recipe), "--quick", "--threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| digits | multi_similarity / cosine | 1 |" in result.output
    assert "wall time" in (out / "grid.md").read_text()
    assert (out / "grid.csv").is_file()
    runs = (out / "runs.csv").read_text().splitlines()
    assert runs[0].startswith("protocol,method,seed") and len(runs) == 1 + 7  # header + one line per run
    assert not (out / "work").exists()


def test_cli_bench_unknown_protocol(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "nope", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "no shipped recipe named 'nope'" in str(result.exception)
