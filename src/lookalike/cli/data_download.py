"""``lookalike data download NAME DIR`` and ``lookalike data list``: the standard benchmark datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from lookalike.cli.app import app

data = typer.Typer(name="data", help="Standard benchmark datasets: list them, download and convert one.")
app.add_typer(data, name="data")


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"≈{n / scale:.3g} {unit}"  # the published sizes, rounded
    return f"≈{n} B"


@data.command("list")
def list_datasets() -> None:
    """Name, download size, licence, classes/images and split of every standard dataset."""
    from lookalike.data.standard import get, names

    header = ("name", "size", "classes/images", "licence", "split")
    rows = [header]
    for name in names():
        ds = get(name)
        size = None if any(f.size_bytes is None for f in ds.files) else ds.size_bytes
        manual = " (manual)" if any(f.url is None for f in ds.files) else ""
        rows.append((name, _size(size) + manual, f"{ds.classes:,}/{ds.images:,}", ds.licence, ds.split))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])


@data.command("download")
def download(
    name: str = typer.Argument(..., help="Dataset name (see `lookalike data list`)."),
    directory: Path = typer.Argument(..., help="Folder to download, extract and write manifest.csv into."),
    archive: list[Path] = typer.Option(
        [], "--archive", help="A manually downloaded file to use instead of downloading (repeat for each file)."
    ),
    url: list[str] = typer.Option([], "--url", help="Download from this mirror URL instead (repeat for each file)."),
    timeout: float = typer.Option(20.0, "--timeout", help="Seconds to wait for the server before giving up."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Download (resuming a broken transfer), verify, extract and convert a dataset into a manifest."""
    from lookalike.data.standard import prepare

    result = prepare(name, directory, archives=archive, urls=url, progress=progress, timeout=timeout)
    conv = result.conversion
    typer.echo(f"{result.dataset.title}: {conv.classes:,} classes, {conv.images:,} images -> {conv.manifest}")
    for split, count in conv.splits.items():
        typer.echo(f"  {split}: {count.classes:,} classes, {count.images:,} images")
    if conv.pairs:
        typer.echo(f"  pairs: {conv.pairs:,}")
    for role, path in conv.extra.items():
        typer.echo(f"  {role}: {path}")
