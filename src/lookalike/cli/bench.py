"""``lookalike bench``: the held-out protocol grid (baselines, default recipe, losses x distances over seeds)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from lookalike.cli.app import app


@app.command("bench")
def bench_command(
    protocols: list[str] = typer.Argument(..., help="shipped recipes (fl27, orl, omniglot) or recipe YAML paths"),
    out: Path = typer.Option(..., "--out", help="folder for grid.md, grid.csv and runs.csv"),
    seeds: int = typer.Option(3, "--seeds", min=1, help="seeds per trained row"),
    epochs: int = typer.Option(5, "--epochs", min=1, help="epochs of the frozen-feature grid runs"),
    default_seeds: int = typer.Option(None, "--default-seeds", min=0, help="seeds of the default recipe (= --seeds)"),
    quick: bool = typer.Option(False, "--quick", help="1 seed, 1 epoch, 2 losses x 2 distances"),
    threads: int = typer.Option(2, "--threads", min=1, help="torch CPU threads"),
    cache_dir: str = typer.Option(None, "--cache-dir", help="frozen-feature cache (default: the recipe's)"),
) -> None:
    """Held-out MAP@R / P@1 (mean ± 95 % t-interval over seeds) of the protocol grid, as markdown and CSV."""
    from lookalike.bench import resolve_recipe, run_grid

    recipes = [resolve_recipe(p) for p in protocols]
    _, md, cs = run_grid(
        recipes,
        out,
        seeds=seeds,
        epochs=epochs,
        default_seeds=default_seeds,
        quick=quick,
        threads=threads,
        cache_dir=cache_dir,
        command=" ".join(["lookalike", *sys.argv[1:]]),
    )
    typer.echo(md.read_text(encoding="utf-8"))
    typer.echo(f"wrote {md} and {cs}", err=True)
