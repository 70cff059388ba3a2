"""Output folders given by the user (``--out``, ``output_dir``): checked before any work is done."""

from __future__ import annotations

from pathlib import Path

from lookalike.errors import DataError


def output_folder(path: str | Path, option: str = "--out") -> Path:
    """``path`` as a :class:`Path`, or :class:`DataError` when a file already sits there (a folder, existing or
    not, is fine). Checked up front, so a long run does not end in a traceback when it comes to write."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise DataError(f"{option} {str(out)!r} is a file; give a folder (a new one, or one this command wrote)")
    return out


__all__ = ["output_folder"]
