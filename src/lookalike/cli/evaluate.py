"""``lookalike evaluate MODEL --data SPEC``: every metric on held-out data, plus metrics.json and report.html."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from lookalike.cli.app import app, on_bad, skip_bad_option


@app.command("evaluate")
def evaluate(
    model: str = typer.Argument(
        ...,
        help="Exported model folder, or an encoder spec for an untrained baseline (e.g. timm:tf_efficientnet_lite0).",
    ),
    data: str = typer.Option(
        ..., "--data", help="Class folder, manifest (.csv/.parquet) or protocol YAML/name (its TEST split is used)."
    ),
    out: Path = typer.Option(None, "--out", help="Folder for metrics.json, report.html and figures."),
    k: list[int] = typer.Option([1, 5, 10], "--k", help="K values for Recall@K and MAP@K (repeatable)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Items per embedding batch."),
    device: str = typer.Option("auto", "--device", help="Where neighbour search runs: cpu, cuda or auto."),
    distance: str = typer.Option(
        "cosine", "--distance", help="Distance for an encoder spec (an exported model records its own)."
    ),
    report: bool = typer.Option(True, "--report/--no-report", help="Draw the figures and report.html."),
    query_expansion: int = typer.Option(
        None,
        "--query-expansion",
        min=0,
        max=100,
        help="Neighbours of query expansion in retrieval and open-set search (default: the model's; 0 = plain).",
    ),
    database_augmentation: int = typer.Option(
        None,
        "--database-augmentation",
        min=0,
        max=100,
        help="Neighbours each searched item is mixed with in retrieval and open-set search (default: the model's).",
    ),
    diffusion: int = typer.Option(
        None,
        "--diffusion",
        min=0,
        max=100,
        help="Graph neighbours of diffusion re-ranking in retrieval and open-set search (default: the model's; "
        "0 = plain; cosine only, instead of the two above).",
    ),
    skip_bad: bool = skip_bad_option(),
) -> None:
    """Evaluate MODEL on DATA: retrieval (MAP@R ...), clustering, verification, open-set and few-shot."""
    from lookalike.evaluation.evaluate import evaluate_model
    from lookalike.evaluation.inputs import load_evaluation_data
    from lookalike.evaluation.report import write_metrics, write_report
    from lookalike.models import load_model
    from lookalike.paths import output_folder

    # the data and the output first: a wrong path fails before a model loads and evaluates for minutes
    if out is not None:
        output_folder(out)
    ev = load_evaluation_data(data, on_bad=on_bad(skip_bad))
    loaded = load_model(model, distance=distance)
    typer.echo(
        f"evaluating {loaded.card.encoder} on {ev.dataset.name}: {len(ev.dataset)} items, "
        f"{len(set(int(x) for x in ev.dataset.labels if x >= 0))} classes",
        err=True,
    )
    result = evaluate_model(
        loaded,
        ev.dataset,
        runs=ev.runs,
        pairs=ev.pairs,
        batch_size=batch_size,
        ks=k,
        shots=ev.shots,
        seed=ev.seed,
        device=device,
        query_expansion=loaded.query_expansion if query_expansion is None else query_expansion,
        database_augmentation=(
            loaded.database_augmentation if database_augmentation is None else database_augmentation
        ),
        diffusion=(  # asking for expansion or augmentation turns the model's diffusion off: it replaces them
            (0 if query_expansion or database_augmentation else loaded.diffusion) if diffusion is None else diffusion
        ),
    )
    result.info["data_spec"] = data
    width = max(len(name) for name in result.headline())
    for name, value in result.headline().items():
        typer.echo(f"{name:<{width}}  {'n/a' if value is None else f'{value:.4f}'}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if report:
            page = write_report(
                result,
                out,
                title=f"{loaded.card.encoder} on {ev.dataset.name}",
                command=" ".join(["lookalike", *sys.argv[1:]]),
            )
            typer.echo(f"wrote {out / 'metrics.json'} and {page}", err=True)
        else:
            typer.echo(f"wrote {write_metrics(result, out / 'metrics.json')}", err=True)
