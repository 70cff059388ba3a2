"""``lookalike serve``: help with examples, and one clear error line (exit 1) for bad settings."""

from __future__ import annotations

import subprocess
import sys


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_SERVICE_")}
    return subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
    )


def test_help_has_examples():
    out = _run("--help")
    assert out.returncode == 0
    assert "--write-key" in out.stdout and "lookalike serve gallery/" in out.stdout


def test_no_key_is_one_line_and_exit_1(vector_gallery):
    out = _run(str(vector_gallery.store.location))
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no API key configured") and "--no-auth" in lines[0]


def test_gallery_without_recorded_model_asks_for_model(vector_gallery):
    out = _run(str(vector_gallery.store.location), env={"LOOKALIKE_SERVICE_WRITE_KEYS": "write-key-0001"})
    assert out.returncode == 1 and "pass it with --model" in out.stderr
