"""``lookalike discover`` end to end on a tiny untrained image model: propose, accept, then identify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lookalike.cli.app import app


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny untrained timm model (random but fixed weights), exported so every CLI call loads it quickly."""
    import torch

    from lookalike.models import load_model, save_model

    torch.manual_seed(0)
    model = load_model("timm:test_efficientnet", pretrained=False, input_size=64)
    return str(save_model(model, tmp_path_factory.mktemp("models") / "tiny"))


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_discover_accept_then_identify(tmp_path: Path, faces: Path, tiny_model: str) -> None:
    g, out = str(tmp_path / "gal"), tmp_path / "found"
    run("gallery", "create", g, "--model", tiny_model, "--threshold", "0.9")
    run("gallery", "enroll", g, "alice", *map(str, sorted((faces / "c0").glob("*.png"))))
    assert "disabled, 0 kept" in run("discover", "pool", g)
    text = run("discover", g, str(faces / "c2"), "--out", str(out), "--mix", "2", "--linkage", "average")
    found = json.loads((out / "proposals.json").read_text())
    assert found["params"]["mix"] == 2 and found["params"]["linkage"] == "average"
    assert "proposal(s)" in text and (out / "proposals.html").is_file()
    best = found["proposals"][0]
    assert best["size"] >= 2 and best["nearest_identity"] == "alice"
    assert all("/c2/" in s for s in best["sources"])
    run("discover", "accept", g, best["id"], "--identity", "carol")
    out_id = run("identify", g, best["sources"][0])
    assert "KNOWN carol" in out_id
    audit = [json.loads(line) for line in run("discover", "audit", g).splitlines()]
    assert audit[-1]["action"] == "accepted" and audit[-1]["identity"] == "carol"
    assert "purged" in run("discover", "purge", g)


def test_review_errors_name_the_fix(tmp_path: Path, tiny_model: str) -> None:
    g = str(tmp_path / "gal")
    run("gallery", "create", g, "--model", tiny_model)
    result = CliRunner().invoke(app, ["discover", "accept", g, "p-missing", "--identity", "x"])
    assert result.exit_code != 0
    assert "not open for review" in str(result.exception)
    result = CliRunner().invoke(app, ["discover", g, "--out", str(tmp_path / "o")])
    assert "calibrate it first" in str(result.exception)
