"""Retrieval and open-set figures with query expansion, against a brute-force computation."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.evaluation.evaluate import evaluate_embeddings
from lookalike.evaluation.openset import open_set_metrics
from lookalike.evaluation.retrieval import metrics_from_neighbours, retrieval_metrics


def _unit(deg: list[float]) -> np.ndarray:
    a = np.deg2rad(np.asarray(deg, np.float64))
    return np.stack([np.cos(a), np.sin(a)], 1).astype(np.float32)


def _brute_force(x: np.ndarray, y: np.ndarray, depth: int) -> np.ndarray:
    """Per query, the others ranked by the query plus the mean of its ``depth`` nearest others (cosine)."""
    n = len(x)
    out = []
    for i in range(n):
        others = np.array([j for j in range(n) if j != i])
        s = x[others] @ x[i]
        nb = others[np.argsort(-s, kind="stable")[:depth]]
        q = x[i] + x[nb].mean(0)
        q /= np.linalg.norm(q)
        out.append(others[np.argsort(-(x[others] @ q), kind="stable")])
    return np.stack(out)


def test_leave_one_out_expansion_matches_brute_force_and_never_returns_the_query() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 8)
    x = rng.normal(size=(32, 6)).astype(np.float32) + np.eye(6, dtype=np.float32)[y] * 1.5
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    got, knn = retrieval_metrics(x, y, query_expansion=3)
    assert not (knn.indices == np.arange(32)[:, None]).any()
    ranked = _brute_force(x, y, depth=3)  # 8 items per class: the depth cap (4) leaves 3
    want = metrics_from_neighbours(y[ranked], y, y, exclude_self=True)
    assert got.map_at_r == pytest.approx(want.map_at_r, abs=1e-6)
    assert got.precision_at_1 == pytest.approx(want.precision_at_1, abs=1e-6)
    plain, _ = retrieval_metrics(x, y)
    assert retrieval_metrics(x, y, query_expansion=0)[0].map_at_r == plain.map_at_r
    assert got.map_at_r != pytest.approx(plain.map_at_r, abs=1e-9)  # expansion did change the ranking


def test_expansion_recovers_a_class_stretched_along_an_arc() -> None:
    # class 0 spread along an arc, class 1 beside its end: the end items' nearest item is of class 1, but their
    # expanded query leans back into the arc
    x = _unit([0, 8, 16, 24, 32, 40, 48, 56, 66, 95, 120, 150, 170, 175, 178, 180])
    y = np.array([0] * 8 + [1] * 8)
    plain, _ = retrieval_metrics(x, y)
    expanded, _ = retrieval_metrics(x, y, query_expansion=4)
    assert expanded.map_at_r > plain.map_at_r


def test_open_set_candidate_follows_the_expanded_probe_and_keeps_its_plain_score() -> None:
    gallery = _unit([0, 5, 10, 20, 30, 31, 60, 90, 100, 110, 120, 130])
    g_labels = np.array([0] * 6 + [1] * 6)
    probe, p_labels = _unit([46]), np.array([0])
    plain = open_set_metrics(gallery, g_labels, probe, p_labels)
    assert plain.rank1_accuracy == 0.0  # nearest item: 60 degrees, identity 1
    expanded = open_set_metrics(gallery, g_labels, probe, p_labels, query_expansion=3)
    assert expanded.rank1_accuracy == 1.0  # 46 averaged with 60, 31 and 30 degrees lies nearer identity 0
    # only 5-shot galleries and such: the cap (half the median identity) can switch expansion off entirely
    small = open_set_metrics(gallery[[5, 6]], g_labels[[5, 6]], probe, p_labels, query_expansion=3)
    assert small.rank1_accuracy == 0.0


def test_evaluate_reports_both_figures() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(6), 10)
    x = rng.normal(size=(60, 8)).astype(np.float32) + np.eye(8, dtype=np.float32)[y] * 1.2
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    r = evaluate_embeddings(x, y, query_expansion=4, clustering=False, verification=False, discovery=False)
    assert r.info["query_expansion"] == 4
    assert r.info["without_query_expansion"]["map_at_r"] == pytest.approx(retrieval_metrics(x, y)[0].map_at_r)
    assert r.retrieval.map_at_r == pytest.approx(retrieval_metrics(x, y, query_expansion=4)[0].map_at_r)
    assert "without_query_expansion" not in evaluate_embeddings(x, y, clustering=False, verification=False).info


def test_headline_shows_the_plain_search_beside_the_expanded_one() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(4), 10)
    x = rng.normal(size=(40, 8)).astype(np.float32) + np.eye(8, dtype=np.float32)[y]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    head = evaluate_embeddings(x, y, query_expansion=4, clustering=False, verification=False).headline()
    assert head["MAP@R, no expansion (model: 4)"] == pytest.approx(retrieval_metrics(x, y)[0].map_at_r)
    assert not any("no expansion" in k for k in evaluate_embeddings(x, y, clustering=False).headline())


def test_cli_evaluate_query_expansion_flag_overrides_the_models(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from PIL import Image
    from sklearn.datasets import load_digits
    from typer.testing import CliRunner

    from lookalike.cli.app import app

    d = load_digits()
    for c in range(4):
        (tmp_path / "data" / str(c)).mkdir(parents=True)
        for j, i in enumerate(np.nonzero(d.target == c)[0][:12]):
            Image.fromarray((d.images[i] * 15).astype(np.uint8)).save(tmp_path / "data" / str(c) / f"{j}.png")

    def evaluate(*extra: str) -> dict:
        out = tmp_path / f"out{len(extra)}"
        args = ["evaluate", "pixels", "--data", str(tmp_path / "data"), "--out", str(out), "--no-report", *extra]
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads((out / "metrics.json").read_text())

    plain = evaluate()
    assert plain["info"]["query_expansion"] == 0 and "without_query_expansion" not in plain["info"]
    expanded = evaluate("--query-expansion", "3")
    assert expanded["info"]["query_expansion"] == 3
    assert expanded["info"]["without_query_expansion"]["map_at_r"] == pytest.approx(plain["retrieval"]["map_at_r"])
    bad = CliRunner().invoke(app, ["evaluate", "pixels", "--data", str(tmp_path / "data"), "--query-expansion", "-1"])
    assert bad.exit_code == 2 and "query-expansion" in bad.output
