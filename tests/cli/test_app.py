import subprocess
import sys

from typer.testing import CliRunner

from lookalike import __version__
from lookalike.cli import app


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"lookalike {__version__}"


def test_help_lists_commands() -> None:
    import typer.main

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    group = typer.main.get_command(app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    # Every command module attached, each command and group listed in the help with its summary.
    assert {"train", "evaluate", "embed", "identify", "verify", "calibrate", "serve", "demo", "gallery"} <= set(names)
    for name in names:
        assert f" {name} " in result.output, f"'lookalike --help' does not list the command {name!r}"


def test_console_script_version() -> None:
    out = subprocess.run([sys.executable, "-m", "lookalike", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"lookalike {__version__}"
