"""``lookalike fit DATA --out DIR``: choose, train and test a model automatically and honestly."""

from __future__ import annotations

from pathlib import Path

import typer

from lookalike.cli.app import app, on_bad, skip_bad_option


@app.command("fit")
def fit(
    data: str = typer.Argument(
        ..., help="A protocol YAML (its train/test split is used), a class folder or a manifest."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder: recipe.yaml, model/, search.csv, report.html ..."),
    budget: float = typer.Option(10.0, "--budget", help="Minutes for the whole fit (search, training, test)."),
    holdout: float = typer.Option(0.2, "--holdout", help="Share of classes held out when DATA is not a protocol."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out share, the folds and the sampler."),
    space: str | None = typer.Option(
        None, "--space", help="Search space: images, small_images, text, vectors or a YAML file (default: by data)."
    ),
    max_trials: int | None = typer.Option(None, "--max-trials", min=1, help="Stop after this many trials."),
    skip_bad: bool = skip_bad_option(),
) -> None:
    """Search encoders, heads and distances on class carve-outs of the training classes, train the best, and
    evaluate it once on the held-out classes.

    Examples:

      lookalike fit ../shared/data/orl_faces --out fits/orl --budget 10

      lookalike fit protocol:digits --out fits/digits --budget 3
    """
    from lookalike.fitting import fit as run_fit

    r = run_fit(
        data,
        out,
        budget=budget,
        holdout=holdout,
        seed=seed,
        space=space,
        max_trials=max_trials,
        on_bad=on_bad(skip_bad),
    )
    folds = ", ".join(f"{s:.3f}" for s in r.val_folds)
    typer.echo(
        "\n".join(
            [
                f"chosen ({r.modality} space, {r.trials} trials in {r.search_seconds:.0f} s): {r.chosen}",
                f"validation MAP@R {r.val_map_at_r:.3f} ± {r.val_std:.3f} over class carve-outs ({folds})",
                f"held-out MAP@R {r.heldout_map_at_r:.3f}",
                f"wrote {r.recipe_path}, {r.model_dir}, {r.out_dir / 'search.csv'}, {r.out_dir / 'report.html'}, "
                f"{r.out_dir / 'heldout.json'}",
                *(
                    [
                        f"unseen-class pair scores: {r.calibration_path} "
                        f"(lookalike calibrate GALLERY --from-fit {r.out_dir})"
                    ]
                    if r.calibration_path is not None
                    else []
                ),
                f"discovery grouping: {r.grouping}",
                f"wall time {r.wall_seconds:.0f} s (budget {r.budget_seconds:.0f} s)",
            ]
        )
    )
