"""The gallery CLI end to end on a tiny untrained image model (real files, real subprocess-free Typer runs)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lookalike.cli.app import app
from lookalike.data.types import LabeledDataset  # noqa: F401  (the calibrate command reads a class folder)


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_create_enroll_identify_calibrate_verify_remove(tmp_path: Path, faces: Path) -> None:
    g = str(tmp_path / "gal")
    model = "timm:tf_efficientnet_lite0"
    out = run("gallery", "create", g, "--model", model)
    assert "created sqlite gallery" in out
    run("gallery", "enroll", g, "alice", *map(str, sorted((faces / "c0").glob("*.png"))[:3]))
    run("gallery", "enroll", g, "bob", *map(str, sorted((faces / "c1").glob("*.png"))[:3]))
    assert "alice\t3" in run("gallery", "list", g)
    out = run("identify", g, str(faces / "c0" / "3.png"), "--k", "2")
    assert "UNCALIBRATED [alice" in out  # no threshold yet: the nearest identities, no verdict
    cal = tmp_path / "cal"
    cal.mkdir()
    for c in range(2, 6):
        (cal / f"c{c}").symlink_to(faces / f"c{c}")
    out = run("calibrate", g, "--data", str(cal), "--far", "0.1")
    assert "threshold" in out and "impostor pairs" in out
    info = run("gallery", "info", g)
    assert "2 identities, 6 items" in info and "threshold:  " in info
    assert "query expansion" not in info  # an untrained spec searches plainly
    out = run("verify", model, str(faces / "c0" / "0.png"), str(faces / "c0" / "1.png"), "--gallery", g)
    assert "SAME" in out or "DIFFERENT" in out
    assert "removed 'bob' (3 item(s))" in run("gallery", "remove", g, "bob")
    assert "1 identities, 3 items" in run("gallery", "list", g)


def test_errors_are_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "gallery", "info", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert r.returncode == 1 and r.stderr.startswith("error: no gallery at")


def test_info_says_when_the_gallery_searches_with_query_expansion(tmp_path: Path) -> None:
    import numpy as np

    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel

    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(3).network, query_expansion=4)
    with Gallery.create(tmp_path / "g", model) as g:
        g.enroll_vectors("a", np.eye(3, dtype=np.float32))
    assert "query expansion 4 neighbours" in run("gallery", "info", str(tmp_path / "g"))
