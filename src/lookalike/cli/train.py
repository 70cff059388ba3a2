"""``lookalike train``, ``lookalike export`` and ``lookalike embed``."""

from __future__ import annotations

from pathlib import Path

import typer

from lookalike.cli.app import app, on_bad, skip_bad_option
from lookalike.errors import ConfigError, DataError


@app.command("train")
def train_command(
    config: str = typer.Argument(..., help="a recipe: recipe:NAME (shipped: orl, fl27, ...) or a YAML file"),
    data: str = typer.Option(
        None,
        "--data",
        help="train on this instead of the recipe's data: protocol:NAME, protocol YAML, folder, manifest",
    ),
    set_: list[str] = typer.Option([], "--set", help="override a config key, e.g. --set optim.lr_head=3e-4"),
    fresh: bool = typer.Option(False, "--fresh", help="ignore <output>/checkpoints/last.ckpt instead of resuming"),
    skip_bad: bool = skip_bad_option(),
) -> None:
    """Train an embedding model; the best validation epoch is exported to <output_dir>/model/."""
    from lookalike.training import load_train_config, train

    overrides = [*([f"data.protocol={data}"] if data else []), *(["data.on_bad=skip"] if skip_bad else []), *set_]
    cfg = load_train_config(config, overrides)
    result = train(cfg, resume=not fresh)
    if result.resumed_from:
        typer.echo(f"resumed from {result.resumed_from}")
    score = f"{result.best_val_map_at_r:.4f}" if result.best_val_map_at_r is not None else "n/a (no validation)"
    typer.echo(f"epochs run: {result.epochs_run}; best validation MAP@R: {score} (epoch {result.best_epoch})")
    typer.echo(f"wall time: {result.wall_seconds:.0f} s")
    if result.model_dir:
        typer.echo(f"model: {result.model_dir}")


@app.command("export")
def export_command(
    model: str = typer.Argument(..., help="model folder or encoder spec (timm:tf_efficientnet_lite0)"),
    out: Path = typer.Argument(..., help="output: a model folder, or an .onnx file with --onnx"),
    onnx: bool = typer.Option(
        False, "--onnx", help="write an ONNX graph (text models: the tokenizer goes beside it in NAME.tokenizer/)"
    ),
    check: bool = typer.Option(True, "--check/--no-check", help="compare onnxruntime with torch on sample input"),
) -> None:
    """Export a model folder (safetensors + lookalike.json), or ONNX for onnxruntime."""
    from lookalike.models import load_model, save_model

    m = load_model(model)
    if not onnx:
        typer.echo(f"model folder: {save_model(m, out)} (fingerprint {m.fingerprint[:12]})")
        return
    from lookalike.models.onnx import export_onnx

    report = export_onnx(m, out, check=check)
    typer.echo(f"onnx: {report.path}")
    if report.max_abs_diff is not None:
        typer.echo(f"max |onnxruntime - torch| on sample input: {report.max_abs_diff:.2e}")


@app.command("embed")
def embed_command(
    model: str = typer.Argument(..., help="model folder or encoder spec"),
    data: str = typer.Option(..., "--data", help="class folder, manifest, or protocol[:split] (fl27:test)"),
    out: Path = typer.Option(..., "--out", help="FILE.npy (embeddings) or FILE.parquet (item, label, embedding)"),
    batch_size: int = typer.Option(64, "--batch-size"),
    skip_bad: bool = skip_bad_option(),
) -> None:
    """Embed a dataset with a model and write the vectors."""
    import numpy as np

    from lookalike.data.resolve import load_data
    from lookalike.models import load_model

    if out.suffix not in (".npy", ".parquet"):
        raise ConfigError(f"--out must end in .npy or .parquet; got {out.name!r}")
    ds = load_data(data, "test", on_bad=on_bad(skip_bad))
    m = load_model(model)
    if ds.kind != m.kind:
        raise DataError(f"{data!r} holds {ds.kind} items but the model embeds {m.kind} items")
    emb = m.embed_dataset(ds, batch_size=batch_size, progress=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, emb)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        items = [str(x) if not isinstance(x, np.ndarray) else f"#{i}" for i, x in enumerate(ds.items)]
        table = pa.table({"item": items, "label": [ds.label_name(i) for i in range(len(ds))], "embedding": list(emb)})
        pq.write_table(table, out)
    typer.echo(f"{len(emb)} x {emb.shape[1]} embeddings ({m.distance.name}) -> {out}")
