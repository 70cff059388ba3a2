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
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_console_script_version() -> None:
    out = subprocess.run([sys.executable, "-m", "lookalike", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"lookalike {__version__}"
