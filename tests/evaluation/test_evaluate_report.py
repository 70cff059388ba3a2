"""evaluate_embeddings end to end, the report files, and the ``lookalike evaluate`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lookalike.data.types import LabeledDataset
from lookalike.errors import DataError
from lookalike.evaluation.evaluate import evaluate_embeddings, open_set_split
from lookalike.evaluation.report import write_report

REPO = Path(__file__).resolve().parents[2]
FIGURES = {"retrieval_grid.png", "worst_queries.png", "roc_det.png", "score_histograms.png", "embedding_map.png"}


def _data(n: int = 120, classes: int = 6, unknown: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.repeat(np.arange(classes), n // classes), np.full(unknown, -1)]
    centers = rng.normal(size=(classes + 1, 16))
    x = centers[labels] + 0.8 * rng.normal(size=(len(labels), 16))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_open_set_split_uses_unknown_items_or_holds_out_half_the_classes() -> None:
    _, y = _data()
    g, p, pl = open_set_split(y, 2, seed=0)
    assert len(g) == 12 and set(y[g]) == set(range(6)) and (pl[y[p] == -1] == -1).all()
    assert np.intersect1d(g, p).size == 0 and len(g) + len(p) == len(y)
    y_known = y[y >= 0]
    g, p, pl = open_set_split(y_known, 1, seed=0)
    assert len(g) == 3 and (pl == -1).sum() == 60  # 3 classes enrolled, the other 3 (60 items) play unknown
    assert np.array_equal(open_set_split(y_known, 1, seed=0)[0], g)  # seeded


def test_evaluate_embeddings_reports_every_family_and_serialises() -> None:
    x, y = _data()
    r = evaluate_embeddings(x, y, shots=(1, 3), class_names=[f"c{i}" for i in range(6)])
    assert r.retrieval.num_queries == 120  # unknown items are not queries
    assert r.info["num_unknown_items"] == 20 and r.info["num_classes"] == 6
    assert 0.5 < r.retrieval.map_at_r <= 1 and r.clustering is not None and r.verification is not None
    assert set(r.open_set) == {"1-shot", "3-shot"}
    assert r.open_set["3-shot"].num_unknown_probes == 20 and r.open_set["3-shot"].num_known_probes == 102
    text = json.dumps(r.to_dict())
    assert '"map_at_r"' in text and '"dir_at_fpir"' in text
    assert r.headline()["MAP@R"] == r.retrieval.map_at_r


def test_evaluate_embeddings_refuses_bad_labels() -> None:
    x, _ = _data()
    with pytest.raises(DataError, match="at least two known classes"):
        evaluate_embeddings(x, np.zeros(len(x), dtype=np.int64))
    with pytest.raises(DataError, match="labels must be integers"):
        evaluate_embeddings(x, np.zeros(len(x)))


def test_report_for_text_items_writes_json_html_and_figures(tmp_path: Path) -> None:
    x, y = _data(n=60, classes=3, unknown=0)
    names = ["weather", "alarm", "music"]
    texts = [f"{names[c]} request number {i} with some more words to wrap" for i, c in enumerate(y)]
    r = evaluate_embeddings(x, y, class_names=names, shots=(1,))
    r.details.dataset = LabeledDataset("text", texts, y, names)
    page = write_report(r, tmp_path, title="toy text")
    assert page.name == "report.html"
    assert {p.name for p in tmp_path.glob("*.png")} >= FIGURES
    html = page.read_text()
    for name in FIGURES:
        assert f"src='{name}'" in html
    assert json.loads((tmp_path / "metrics.json").read_text())["retrieval"]["num_queries"] == 60


@pytest.mark.slow
def test_cli_evaluates_an_exported_image_model_on_a_protocol(tmp_path: Path) -> None:
    from lookalike.models import load_model, save_model

    folder = save_model(load_model("timm:test_efficientnet", pretrained=False, input_size=32), tmp_path / "model")
    out = tmp_path / "eval"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookalike",
            "evaluate",
            str(folder),
            "--data",
            "src/lookalike/protocols/digits.yaml",
            "--out",
            str(out),
            "--k",
            "1",
            "--k",
            "4",
            "--device",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "MAP@R" in proc.stdout and "Recall@4" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["info"]["num_classes"] == 3  # held-out digits 7, 8, 9 only
    assert metrics["retrieval"]["recall_at_k"].keys() == {"1", "4"}
    assert set(metrics["open_set"]) == {"1-shot", "5-shot"}  # the protocol's enrollment shots
    assert {p.name for p in out.glob("*.png")} >= FIGURES and (out / "report.html").is_file()


def test_cli_bad_data_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lookalike", "evaluate", "identity:4", "--data", str(tmp_path / "nope.yaml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and "nope.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr
