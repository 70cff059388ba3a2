"""Root Typer application. Sub-commands live in sibling modules and are attached in ``_attach``.

Command modules import heavy libraries (torch, faiss) inside the command functions only, so
``lookalike --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lookalike._version import __version__
from lookalike.errors import LookalikeError

if TYPE_CHECKING:
    from lookalike.data.scan import OnBad

app = typer.Typer(
    name="lookalike",
    help="Metric learning and open-set recognition: train, evaluate, enroll, identify, verify, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def skip_bad_option() -> bool:
    """The ``--skip-bad`` flag of the commands that read a class folder or a manifest."""
    return typer.Option(  # type: ignore[no-any-return]
        False,
        "--skip-bad",
        help="Leave a class folder's or manifest's unreadable images out (with a warning) instead of refusing "
        "the data. A protocol says so itself: `on_bad: skip` under its source.",
    )


def on_bad(skip_bad: bool) -> OnBad:
    """The ``on_bad`` value ``--skip-bad`` stands for."""
    return "skip" if skip_bad else "error"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"lookalike {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    data_root: Path = typer.Option(
        None, "--data-root", help="folder holding the datasets protocols name (sets $LOOKALIKE_DATA_ROOT)"
    ),
) -> None:
    """lookalike: learn a distance, then recognise what it was never trained on."""
    from lookalike.logs import setup_logging

    setup_logging(log_level)
    if data_root is not None:
        import os

        from lookalike.data.roots import DATA_ROOT_ENV
        from lookalike.errors import ConfigError

        if not data_root.is_dir():
            raise ConfigError(f"--data-root {str(data_root)!r} is not a folder; give the folder holding the datasets")
        os.environ[DATA_ROOT_ENV] = str(data_root.resolve())


def _attach() -> None:
    """Register every command module (each adds its commands to ``app``)."""
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"lookalike.cli.{name}")


# Modules under lookalike/cli/ that define commands; each does `from lookalike.cli.app import app`.
_COMMAND_MODULES: list[str] = [
    "data_download",
    "serve",
    "evaluate",
    "train",
    "data_import",
    "gallery",
    "discover",
    "demo",
    "bench",
    "fit",
]


def main() -> None:
    """Console entry point: usage errors print a usage line and exit 2 (click's standalone mode); any
    LookalikeError becomes one clear line on stderr and exit code 1; neither shows a traceback."""
    try:
        app(standalone_mode=True, prog_name="lookalike")
    except LookalikeError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)


_attach()
