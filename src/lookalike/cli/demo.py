"""``lookalike demo``: the whole flow end to end on bundled data (or a class-folder dataset)."""

from __future__ import annotations

from pathlib import Path

import typer

from lookalike.cli.app import app, on_bad, skip_bad_option
from lookalike.demo import FIT_BUDGET_MIN


@app.command("demo")
def demo(
    data: Path | None = typer.Option(
        None,
        "--data",
        help="A class-per-folder dataset (e.g. ../shared/data/orl_faces); default: bundled digits.",
    ),
    out: Path = typer.Option(Path("lookalike-demo"), "--out", help="Output folder (model, gallery, report)."),
    shots: int = typer.Option(5, "--shots", min=1, help="Examples enrolled per held-out class."),
    far: float = typer.Option(1e-3, "--far", min=1e-6, max=0.5, help="Target false-accept rate for the threshold."),
    budget: float = typer.Option(
        FIT_BUDGET_MIN, "--budget", help="Minutes lookalike fit may use to choose and train the model."
    ),
    skip_bad: bool = skip_bad_option(),
) -> None:
    """Fit, evaluate on held-out classes, enroll some of them into a gallery, identify the rest.

    Examples:

      lookalike demo

      lookalike demo --data ../shared/data/orl_faces --out /tmp/orl-demo
    """
    import numpy as np

    from lookalike.demo import run_demo

    typer.echo("lookalike demo: data -> fit -> evaluate held-out classes -> gallery -> identify")
    r = run_demo(out_dir=out, data=data, shots=shots, target_far=far, budget=budget, on_bad=on_bad(skip_bad))
    val = f"{r.best_val_map_at_r:.3f}" if r.best_val_map_at_r is not None else "n/a"
    lines = [""]
    if r.trained:
        lines += [
            f"fit on classes {', '.join(r.train_classes)}; recipe chosen on class carve-outs of them "
            f"(validation MAP@R {val})",
            f"held-out classes {', '.join(r.heldout_classes)}: MAP@R {r.heldout_map_at_r:.3f}, "
            f"Precision@1 {r.heldout_precision_at_1:.3f} (untrained backbone: MAP@R {r.untrained_map_at_r:.3f}; "
            f"raw pixels: {r.pixels_map_at_r:.3f})",
        ]
        if r.heldout_map_at_r_plain is not None:
            lines.append(
                f"  (the model re-ranks with the searched items' neighbours; the plain search: MAP@R "
                f"{r.heldout_map_at_r_plain:.3f})"
            )
    lines += [
        f"gallery: enrolled {', '.join(r.enrolled)} with {r.shots} examples each; "
        f"threshold {r.threshold:.4f} calibrated at FAR {r.target_far:g}",
        f"identification of enrolled classes: {r.identified}/{r.known_probes} = {r.identification_rate:.1%}",
    ]
    if r.unknown_probes:
        lines.append(
            f"never-enrolled {', '.join(r.never_enrolled)} rejected as unknown: {r.rejected}/{r.unknown_probes} = "
            f"{r.rejection_rate:.1%}"
        )
    ident, rej = np.array(r.draws, dtype=float).reshape(-1, 2).T
    if len(ident) and not np.isnan(ident).any():
        line = (f"over {len(r.draws)} enrollment draws (seeds 0-{len(r.draws) - 1}, same threshold): identified "
                f"mean {ident.mean():.1%} ({ident.min():.1%}-{ident.max():.1%})")  # fmt: skip
        if not np.isnan(rej).any():
            line += f", rejected mean {rej.mean():.1%} ({rej.min():.1%}-{rej.max():.1%})"
        lines.append(line)
    lines += [*(f"note: {n}" for n in r.notes), f"report: {r.report}", f"model: {r.model_dir}",
              f"gallery: {r.gallery_dir}", f"wall time: {r.wall_seconds:.0f} s"]  # fmt: skip
    typer.echo("\n".join(lines))
