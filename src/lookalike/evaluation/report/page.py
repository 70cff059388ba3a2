"""Write ``metrics.json`` and a static ``report.html`` that shows the metrics and the figures next to it."""

from __future__ import annotations

import html
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.evaluation.result import EvaluationResult

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .7rem;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #eee}
.muted{color:#666;font-size:.9rem}
"""


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_metrics(result: EvaluationResult, path: str | Path) -> Path:
    """``result.to_dict()`` as pretty JSON (NaN/inf become null)."""
    p = Path(path)
    p.write_text(json.dumps(_json_safe(result.to_dict()), indent=2) + "\n", encoding="utf-8")
    return p


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td class=num>{_fmt(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _grid_rows(result: EvaluationResult, n: int, seed: int) -> list[int]:
    """One query per class (seeded), up to ``n`` classes, as rows into the known items."""
    det = result.details
    assert det is not None
    rng = np.random.default_rng(seed)
    q_idx = result.retrieval.query_index
    q_labels = det.labels[det.known_index[q_idx]]
    classes = np.unique(q_labels)
    pick = np.sort(rng.permutation(classes)[:n])
    return [int(rng.choice(q_idx[q_labels == c])) for c in pick]


def _figures(result: EvaluationResult, out: Path, k: int, seed: int) -> dict[str, Path]:
    from lookalike.evaluation.report import figures

    det = result.details
    assert det is not None
    made: dict[str, Path] = {}
    made["grid"] = figures.retrieval_grid(
        out / "retrieval_grid.png", result, _grid_rows(result, 8, seed), k=k, title="Retrieval: queries and top-k"
    )
    order = np.argsort(result.retrieval.map_at_r_per_query, kind="stable")[:6]
    worst = [int(result.retrieval.query_index[i]) for i in order]
    notes = [f"MAP@R {result.retrieval.map_at_r_per_query[i]:.2f}" for i in order]
    made["worst"] = figures.retrieval_grid(
        out / "worst_queries.png", result, worst, k=k, title="Worst queries (lowest MAP@R)", row_notes=notes
    )
    if det.pairs is not None and result.verification is not None:
        made["roc"] = figures.roc_det(
            out / "roc_det.png", det.pairs.genuine, det.pairs.impostor, result.verification.eer
        )
        made["hist"] = figures.score_histograms(
            out / "score_histograms.png", det.pairs.genuine, det.pairs.impostor, result.verification.eer_threshold
        )
    made["map"] = figures.embedding_map(
        out / "embedding_map.png", det.embeddings, det.labels, det.class_names, seed=seed
    )
    return made


def write_report(
    result: EvaluationResult,
    out_dir: str | Path,
    *,
    title: str = "lookalike evaluation",
    k: int = 6,
    seed: int = 0,
    command: str | None = None,
) -> Path:
    """Write ``metrics.json``, the PNG figures and ``report.html`` into ``out_dir``; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_metrics(result, out / "metrics.json")
    figs = _figures(result, out, k, seed) if result.details is not None else {}
    r = result.retrieval
    info = result.info
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    meta = [
        ("model", info.get("model")),
        ("data", info.get("dataset")),
        ("items", info.get("num_items")),
        ("known classes", info.get("num_classes")),
        ("unknown items", info.get("num_unknown_items")),
        ("distance", (info.get("distance") or {}).get("name")),
        ("embedding size", info.get("embedding_size")),
    ]
    parts.append(_table([(k_, v) for k_, v in meta if v is not None]))
    if command:
        parts.append(f"<p class=muted>command: <code>{html.escape(command)}</code></p>")
    parts.append("<h2>Retrieval (leave-one-out, Musgrave et al. 2020)</h2>")
    rows: list[tuple[str, Any]] = [
        ("MAP@R", r.map_at_r),
        ("R-Precision", r.r_precision),
        ("Precision@1", r.precision_at_1),
    ]
    rows += [(f"Recall@{kk}", v) for kk, v in r.recall_at_k.items()]
    rows += [(f"MAP@{kk}", v) for kk, v in r.map_at_k.items()]
    rows += [("queries", r.num_queries)]
    if result.clustering:
        rows += [("NMI (k-means)", result.clustering.nmi), ("AMI (k-means)", result.clustering.ami)]
    parts.append(_table(rows))
    if "grid" in figs:
        parts.append(f"<img src='{figs['grid'].name}' alt='retrieval grid'>")
    if result.verification:
        v = result.verification
        parts.append("<h2>Verification (all pairs" + (", sampled" if v.sampled_pairs else "") + ")</h2>")
        vrows: list[tuple[str, Any]] = [("ROC AUC", v.roc_auc), ("EER", v.eer), ("EER threshold", v.eer_threshold)]
        vrows += [(f"TAR @ FAR={f:g}", t) for f, t in v.tar_at_far.items()]
        parts.append(_table(vrows))
        for key in ("roc", "hist"):
            if key in figs:
                parts.append(f"<img src='{figs[key].name}' alt='{key}'>")
    if result.open_set:
        parts.append("<h2>Open-set identification (DIR / FNIR at FPIR)</h2>")
        for name, m in result.open_set.items():
            orows: list[tuple[str, Any]] = [("rank-1 accuracy (known probes)", m.rank1_accuracy)]
            orows += [(f"DIR @ FPIR={f:g}", d) for f, d in m.dir_at_fpir.items()]
            orows += [
                ("known / unknown probes", f"{m.num_known_probes} / {m.num_unknown_probes}"),
                ("gallery items", m.num_gallery_items),
            ]
            det = (result.unknown_detection() or {}).get(name)
            if det is not None:
                orows += [
                    ("unknown detection AUROC (max similarity)", det["auroc"]),
                    ("unknown FPR @ 95% TPR", det["fpr_at_95_tpr"]),
                ]
            parts.append(f"<h3>{html.escape(name)} gallery</h3>" + _table(orows))
    if result.discovery:
        d = result.discovery
        parts.append("<h2>Discovery of never-enrolled classes (BCubed)</h2>")
        drows: list[tuple[str, Any]] = [
            ("BCubed precision / recall / F1", f"{d.bcubed_precision:.4f} / {d.bcubed_recall:.4f} / {d.bcubed_f1:.4f}"),
            ("proposals / true new classes", f"{d.num_proposals} / {d.num_true_classes}"),
            ("grouped / stream items", f"{d.num_grouped} / {d.num_items}"),
        ]
        parts.append(_table(drows))
    if result.few_shot:
        fs = result.few_shot
        parts.append(f"<h2>{fs.ways}-way {fs.shots}-shot classification</h2>")
        parts.append(_table([("accuracy", fs.accuracy), ("episodes", fs.num_episodes), ("queries", fs.num_queries)]))
    if "map" in figs:
        parts.append(f"<h2>Embedding map</h2><img src='{figs['map'].name}' alt='embedding map'>")
    if "worst" in figs:
        parts.append(f"<h2>Worst queries</h2><img src='{figs['worst'].name}' alt='worst queries'>")
    parts.append("<p class=muted>Full numbers: <a href='metrics.json'>metrics.json</a></p></body></html>")
    page = out / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    log.info("wrote %s and %d figures", page, len(figs))
    return page


__all__ = ["write_metrics", "write_report"]
