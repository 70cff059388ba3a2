"""``lookalike import flickr27 RAW_DIR OUT_DIR``: convert a dataset's original layout into lookalike's."""

from __future__ import annotations

from pathlib import Path

import typer

from lookalike.cli.app import app

importer = typer.Typer(name="import", help="Convert a dataset's original layout (FlickrLogos-27) into class folders.")
app.add_typer(importer, name="import")


@importer.command("flickr27")
def flickr27(
    raw_dir: Path = typer.Argument(..., help="FlickrLogos-27 as published: images folder + annotation files."),
    out_dir: Path = typer.Argument(..., help="Folder to write <Brand>/ crops and queries.csv into."),
) -> None:
    """Crop every distinct valid logo box into one folder per brand; list the query set in queries.csv."""
    from lookalike.data.flickr27 import import_flickr27

    result = import_flickr27(raw_dir, out_dir)
    width = max((len(b) for b in result.counts), default=5)
    for brand, n in result.counts.items():
        typer.echo(f"{brand:<{width}}  {n}")
    typer.echo(f"{'total':<{width}}  {result.crops}")
    typer.echo(result.summary())
