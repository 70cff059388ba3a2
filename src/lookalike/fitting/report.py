"""``search.csv`` (every trial) and ``report.html`` (trials table, validation score over time, the recipe)."""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

from lookalike.fitting.search import Trial

PARAMS = ("feature", "head", "distance", "shrink", "loss", "lr_head", "epochs", "lr_net", "net_epochs", "augment",
          "rotation_classes", "trainable_blocks")  # fmt: skip


def trial_rows(trials: list[Trial], folds: int) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        row: dict[str, Any] = {"trial": t.number, "state": t.state, "recipe": t.candidate.describe()}
        row.update({p: t.params.get(p, "") for p in PARAMS})
        # the expansion the trial kept (its fold scores are that search's), and its plain search's mean
        row["query_expansion"] = t.candidate.query_expansion if t.fold_scores else ""
        row["database_augmentation"] = t.candidate.database_augmentation if t.fold_scores else ""
        row["diffusion"] = t.candidate.diffusion if t.fold_scores else ""
        plain = t.expansion_scores.get((0, 0, 0), [])
        row["mean_no_expansion"] = f"{sum(plain) / len(plain):.4f}" if plain else ""
        for f in range(folds):
            row[f"fold_{f + 1}"] = f"{t.fold_scores[f]:.4f}" if f < len(t.fold_scores) else ""
        row["mean"] = f"{t.mean:.4f}" if t.fold_scores else ""
        row["std"] = f"{t.std:.4f}" if t.fold_scores else ""
        row["seconds"] = f"{t.seconds:.2f}"
        rows.append(row)
    return rows


def write_search_csv(trials: list[Trial], folds: int, path: Path) -> Path:
    rows = trial_rows(trials, folds)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _plot(trials: list[Trial], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in trials if t.state == "complete"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.scatter([t.finished_at for t in done], [t.mean for t in done], s=12, label="trial (mean over folds)")
    best, xs, ys = -1.0, [], []
    for t in done:
        best = max(best, t.mean)
        xs.append(t.finished_at)
        ys.append(best)
    ax.step(xs, ys, where="post", color="C1", label="best so far")
    ax.set_xlabel("seconds into the search")
    ax.set_ylabel("validation MAP@R")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_fit_report(
    out: Path, *, trials: list[Trial], folds: int, summary: dict[str, Any], recipe_yaml: str
) -> Path:  # fmt: skip
    """``out/report.html`` (+ ``out/search.png``)."""
    _plot(trials, out / "search.png")
    rows = trial_rows(trials, folds)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>lookalike fit</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}pre{{background:#f6f6f6;padding:1em}}</style>
</head><body><h1>lookalike fit</h1>
<p>Selection used only class carve-outs of the training classes; the held-out classes were evaluated once,
after the choice.</p>
<h2>Summary</h2><table>{facts}</table>
<h2>The chosen recipe (<code>recipe.yaml</code>)</h2><pre>{html.escape(recipe_yaml)}</pre>
<h2>Validation score over time</h2><img src="search.png" alt="validation MAP@R of every trial over time">
<h2>Every trial</h2><table><tr>{head}</tr>{body}</table></body></html>
"""
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["trial_rows", "write_fit_report", "write_search_csv"]
