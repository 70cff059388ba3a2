"""Pair-list verification: k-fold accuracy on toy scores, pairs.txt parsing, and `lookalike evaluate` on a mini
LFW archive built from ORL faces (same pairs.txt format and converter as the real LFW)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _extras import require_extra
from lookalike.errors import DataError
from lookalike.evaluation.pairs import best_threshold, load_pairs, pair_verification


def test_fold_threshold_is_chosen_on_the_other_folds() -> None:
    # fold 1 separates at 0.5; fold 2 is shifted, so the threshold learnt on fold 1 (0.5) misplaces one pair
    scores = [0.9, 0.8, 0.2, 0.1, 0.6, 0.55, 0.45, 0.3]
    same = [1, 1, 0, 0, 1, 1, 1, 0]
    fold = [1, 1, 1, 1, 2, 2, 2, 2]
    out = pair_verification(scores, same, fold, fars=(0.5,))
    assert out.fold_thresholds[1] == pytest.approx(0.5)  # midpoint of 0.8 and 0.2, learnt on fold 1
    assert out.fold_accuracies == [1.0, 0.75]  # fold 2: 0.45 (same) falls below 0.5
    assert out.fold_thresholds[0] == pytest.approx(0.375)  # learnt on fold 2: between 0.3 and 0.45
    assert out.accuracy == pytest.approx(0.875) and out.accuracy_std == pytest.approx(0.125)
    assert out.roc.roc_auc == pytest.approx(1.0)
    assert best_threshold(np.array([0.1, 0.9]), np.array([False, True])) == pytest.approx(0.5)


def write_pairs_txt(root: Path, text: str, people: dict[str, int]) -> Path:
    from PIL import Image

    for name, n in people.items():
        (root / "lfw" / name).mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            Image.new("RGB", (8, 8)).save(root / "lfw" / name / f"{name}_{i:04d}.jpg")
    (root / "pairs.txt").write_text(text, encoding="utf-8")
    return root / "pairs.txt"


def test_pairs_txt_is_read_with_paths_under_its_folder(tmp_path: Path) -> None:
    path = write_pairs_txt(tmp_path, "1\t1\nAnn\t1\t2\nAnn\t1\tBo\t1\n", {"Ann": 2, "Bo": 1})
    pairs = load_pairs(path)
    assert pairs.same.tolist() == [True, False] and pairs.fold.tolist() == [1, 1]
    assert pairs.a[0] == str(tmp_path / "lfw" / "Ann" / "Ann_0001.jpg")
    assert pairs.b[1] == str(tmp_path / "lfw" / "Bo" / "Bo_0001.jpg")
    assert len(pairs.paths()) == 3


def test_bad_pair_lists_are_named(tmp_path: Path) -> None:
    path = write_pairs_txt(tmp_path, "1\t1\nAnn\t1\t2\nAnn\t1\tBo\t3\n", {"Ann": 2, "Bo": 1})
    with pytest.raises(DataError, match=r"1 image.*missing.*Bo_0003"):
        load_pairs(path)
    bad = tmp_path / "p.csv"
    bad.write_text("a,b\nx,y\n", encoding="utf-8")
    with pytest.raises(DataError, match="needs the columns"):
        load_pairs(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_pairs(tmp_path / "none.txt")


PEOPLE = ["Ann_Lee", "Bob_Ray", "Cy_Dee", "Di_Fox", "Ed_Gum", "Flo_Hu"]
# 2 folds x (3 matched + 3 mismatched); person k is ORL s(31+k), image i its photo i
MINI_PAIRS = """2\t3
Ann_Lee\t1\t2
Bob_Ray\t1\t3
Cy_Dee\t2\t3
Ann_Lee\t1\tBob_Ray\t1
Cy_Dee\t1\tDi_Fox\t2
Ed_Gum\t1\tFlo_Hu\t1
Di_Fox\t1\t3
Ed_Gum\t2\t3
Flo_Hu\t1\t2
Ann_Lee\t3\tFlo_Hu\t2
Bob_Ray\t2\tEd_Gum\t3
Cy_Dee\t3\tDi_Fox\t1
"""


@pytest.mark.realdata
def test_evaluate_reports_lfw_verification_on_a_mini_archive(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_extra("dlib", "faces")
    from PIL import Image
    from typer.testing import CliRunner

    from lookalike.cli.app import app
    from lookalike.data.standard.lfw import convert

    root = tmp_path / "data" / "lfw"  # laid out as `lookalike data download lfw .data/lfw` leaves it
    for k, name in enumerate(PEOPLE):
        (root / "lfw" / name).mkdir(parents=True)
        for i in range(1, 4):
            img = Image.open(shared_data / "orl_faces" / f"s{31 + k}" / f"{i}.pgm").convert("RGB")
            img.save(root / "lfw" / name / f"{name}_{i:04d}.jpg", quality=95)
    (root / "pairs.txt").write_text(MINI_PAIRS, encoding="utf-8")
    convert(root)
    monkeypatch.setenv("LOOKALIKE_DATA_ROOT", str(tmp_path / "data"))
    protocol = Path(__file__).resolve().parents[2] / "src" / "lookalike" / "protocols" / "lfw.yaml"
    result = CliRunner().invoke(
        app, ["evaluate", "face:dlib", "--data", str(protocol), "--out", str(tmp_path / "ev"), "--no-report"]
    )
    assert result.exit_code == 0, result.output
    assert "pairs 2-fold accuracy" in result.output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())["pair_verification"]
    assert metrics["num_genuine"] == 6 and metrics["num_impostor"] == 6
    assert len(metrics["fold_accuracies"]) == 2
    assert metrics["accuracy"] >= 5 / 6 and metrics["roc_auc"] >= 0.9  # dlib tells ORL people apart
