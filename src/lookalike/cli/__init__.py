"""The ``lookalike`` command line (Typer). Thin: parse, call the library, format."""

from lookalike.cli.app import app, main

__all__ = ["app", "main"]
