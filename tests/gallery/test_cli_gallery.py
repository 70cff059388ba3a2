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
    assert f"run `lookalike calibrate {g} --data HELD_OUT_CLASSES --far 1e-3`" in out  # (not a fit model)
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
    # the gallery in MODEL's place: its model and its threshold, the same verdict and score
    last = run("verify", g, str(faces / "c0" / "0.png"), str(faces / "c0" / "1.png")).splitlines()[-1]
    assert last == out.splitlines()[-1]
    assert "threshold 2.0000" in run("verify", g + "/", str(faces / "c0" / "0.png"), str(faces / "c0" / "1.png"),
                                     "--threshold", "2", "--gallery", g)  # fmt: skip
    other = CliRunner().invoke(app, ["verify", g, str(faces / "c0" / "0.png"), str(faces / "c0" / "1.png"),
                                     "--gallery", str(tmp_path)])  # fmt: skip
    assert other.exit_code != 0 and "give one gallery" in str(other.exception)
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


def test_calibrate_from_a_fit_folder_uses_its_unseen_class_pairs(tmp_path: Path) -> None:
    import numpy as np
    import pytest
    from typer.testing import CliRunner

    from lookalike.errors import DataError
    from lookalike.fitting.calibration import UnseenPairs
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel
    from lookalike.models.export import load_model, save_model
    from lookalike.models.pair_scoring import threshold_at_far

    fit_dir = tmp_path / "fit"
    fit_dir.mkdir()
    save_model(EmbeddingModel.for_vectors(3), fit_dir / "model")
    rng = np.random.default_rng(0)
    pairs = UnseenPairs(
        rng.uniform(0.5, 1.0, 300).astype(np.float32), rng.uniform(-0.5, 0.6, 2000).astype(np.float32), 3
    )
    pairs.save(fit_dir)
    with Gallery.create(tmp_path / "g", load_model(fit_dir / "model")) as g:
        g.enroll_vectors("a", np.eye(3, dtype=np.float32))
    out = run("calibrate", str(tmp_path / "g"), "--from-fit", str(fit_dir), "--far", "0.01")
    assert "threshold" in out and "2,000 impostor" in out.replace("2000", "2,000")
    with Gallery.open(tmp_path / "g") as g:
        assert g.threshold == pytest.approx(threshold_at_far(pairs.impostor, 0.01))
        # bad scores are refused and the stored threshold stays
        with pytest.raises(DataError, match="NaN or infinite"):
            g.calibrate_scores([0.9, float("nan")], [0.1], target_far=0.01)
        assert g.threshold == pytest.approx(threshold_at_far(pairs.impostor, 0.01))
    # a gallery built by another model: refused, nothing changed
    with Gallery.create(tmp_path / "other", EmbeddingModel.for_vectors(4)) as g:
        g.enroll_vectors("a", np.eye(4, dtype=np.float32))
    result = CliRunner().invoke(app, ["calibrate", str(tmp_path / "other"), "--from-fit", str(fit_dir)])
    assert result.exit_code != 0
    assert "is not the model of this gallery" in str(result.exception) + result.output
    with Gallery.open(tmp_path / "other") as g:
        assert g.threshold is None


def test_calibrate_from_a_run_that_chose_a_grouping_gives_it_to_discover(tmp_path: Path) -> None:
    import json

    import numpy as np

    from lookalike.fitting.calibration import UnseenPairs
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel
    from lookalike.models.export import load_model, save_model
    from lookalike.models.grouping import GroupingParams
    from lookalike.training.grouping import GroupingChoice

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_model(EmbeddingModel.for_vectors(3), run_dir / "model")
    chosen = GroupingParams(linkage="average", scale=1.0, min_size=2, mix=0)
    choice = GroupingChoice(chosen, f1=0.86, proposals=5.2, default_f1=0.82, default_proposals=6.0, trials=8)
    rng = np.random.default_rng(0)
    gen, imp = rng.uniform(0.5, 1.0, 300).astype(np.float32), rng.uniform(-0.5, 0.6, 2000).astype(np.float32)
    UnseenPairs(gen, imp, 3, grouping=choice.to_dict()).save(run_dir)
    g = str(tmp_path / "g")
    with Gallery.create(g, load_model(run_dir / "model")) as gal:
        gal.enroll_vectors("a", np.eye(3, dtype=np.float32))
    out = run("calibrate", g, "--from-fit", str(run_dir), "--far", "0.01")
    assert "discovery grouping chosen on 8 carve-outs" in out and "BCubed F1 0.860" in out
    with Gallery.open(g) as gal:
        assert gal.grouping == chosen
    # `discover` keeps the gallery's settings for the options not given
    near = np.array([[0, 1, 0.02], [0, 1, 0.0], [0.02, 0, 1], [0, 0.01, 1]], dtype=np.float32)
    with Gallery.open(g) as gal, gal.unknown_pool() as pool:
        pool.configure(enabled=True)
        pool.add(near / np.linalg.norm(near, axis=1, keepdims=True))
    run("discover", g, "--out", str(tmp_path / "found"), "--scale", "0.9")
    params = json.loads((tmp_path / "found" / "proposals.json").read_text())["params"]
    assert params == {**chosen.to_dict(), "scale": 0.9}


def test_folders_enroll_and_identify_every_file_under_them(tmp_path: Path, faces: Path) -> None:
    import shutil

    g = str(tmp_path / "gal")
    run("gallery", "create", g, "--model", "pixels")
    alice = tmp_path / "alice"
    shutil.copytree(faces / "c0", alice / "nested")  # files in sub-folders count too
    (alice / "notes.md").write_text("not an image: left out")
    (alice / "._0.png").write_bytes(b"\x00\x05\x16\x07 macOS metadata, not an image: left out")
    n = len(list((faces / "c0").glob("*.png")))
    assert f"enrolled {n} item(s) as 'alice'" in run("gallery", "enroll", g, "alice", str(alice))
    out = run("identify", g, str(faces / "c1"), str(faces / "c0" / "0.png"))
    lines = [ln for ln in out.splitlines() if "UNCALIBRATED [" in ln]
    assert len(lines) == len(list((faces / "c1").glob("*.png"))) + 1
    assert lines[0].startswith(str(sorted((faces / "c1").glob("*.png"))[0]))


def test_a_text_gallery_reads_the_txt_files_of_a_folder(tmp_path: Path) -> None:
    from lookalike.cli.gallery import _expand

    (tmp_path / "b.txt").write_text("two")
    (tmp_path / "a.TXT").write_text("one")
    (tmp_path / "c.png").write_bytes(b"")
    assert [p.name for p in _expand([tmp_path], "text")] == ["a.TXT", "b.txt"]
    assert [p.name for p in _expand([tmp_path], "image")] == ["c.png"]


def test_an_uncalibrated_gallery_of_a_fit_model_is_told_to_calibrate_from_the_fit(tmp_path: Path) -> None:
    from lookalike.cli.gallery import _how_to_calibrate

    (tmp_path / "fit" / "model").mkdir(parents=True)
    assert "--data HELD_OUT_CLASSES" in _how_to_calibrate("g", str(tmp_path / "fit" / "model"))
    (tmp_path / "fit" / "calibration.npz").write_bytes(b"")
    assert f"--from-fit {tmp_path / 'fit'}" in _how_to_calibrate("g", str(tmp_path / "fit" / "model"))
    assert "--data" in _how_to_calibrate("g", "pixels") and "--data" in _how_to_calibrate("g", None)
