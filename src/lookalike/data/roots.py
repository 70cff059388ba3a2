"""Where things are: the data root(s) relative data paths resolve against, and the shipped recipes and protocols.

Data root, first match wins: ``$LOOKALIKE_DATA_ROOT`` (``lookalike --data-root DIR`` sets it), a protocol's own
``data_root`` (relative to its YAML file), else the first of these folders that holds the path: the YAML file's
folder (user protocols), ``../shared/data`` and ``.data`` relative to the working directory, then the same two
beside a source checkout of lookalike.

Recipes (``src/lookalike/recipes/*.yaml``) and protocols (``src/lookalike/protocols/*.yaml``) are package data, so
a pip install finds them by name: ``recipe:orl``, ``protocol:orl``.
"""

from __future__ import annotations

import difflib
import os
from importlib import resources
from pathlib import Path
from typing import Literal

from lookalike.errors import ConfigError

DATA_ROOT_ENV = "LOOKALIKE_DATA_ROOT"
Kind = Literal["recipe", "protocol"]
_FOLDERS: dict[str, str] = {"recipe": "recipes", "protocol": "protocols"}


def _checkout() -> Path | None:
    """The repository root when lookalike runs from a source checkout (``src/lookalike``), else None."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "lookalike").is_dir() else None


def data_roots() -> list[Path]:
    """The folders searched for relative data paths, in order (just ``$LOOKALIKE_DATA_ROOT`` when it is set)."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return [Path(env).expanduser()]
    bases = [Path.cwd()] + [b for b in [_checkout()] if b is not None and b != Path.cwd()]
    return [base / rel for rel in (Path("..") / "shared" / "data", Path(".data")) for base in bases]


def packaged_folder(kind: Kind) -> Path:
    """The folder of the shipped recipes or protocols."""
    return Path(str(resources.files("lookalike") / _FOLDERS[kind])).resolve()


def packaged_names(kind: Kind) -> list[str]:
    """Names of the shipped recipes or protocols."""
    return sorted(p.stem for p in packaged_folder(kind).glob("*.yaml"))


def packaged(kind: Kind, name: str) -> Path:
    """The shipped ``recipe`` or ``protocol`` called ``name`` (a ConfigError lists the names when unknown)."""
    path = packaged_folder(kind) / f"{name}.yaml"
    if not path.is_file():
        known = packaged_names(kind)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {kind}:{close[0]}?)" if close else ""
        raise ConfigError(f"no shipped {kind} named {name!r}{hint}; known: {', '.join(known)}")
    return path


def config_path(spec: str | Path, kind: Kind) -> Path:
    """``recipe:NAME`` / ``protocol:NAME`` → the shipped file; a bare ``NAME`` that is not a file → the same;
    any other path as given (its existence is checked by the reader, whose error names it)."""
    text = str(spec)
    prefix = f"{kind}:"
    if text.startswith(prefix):
        return packaged(kind, text[len(prefix) :])
    p = Path(text)
    if not p.exists() and p.suffix == "" and len(p.parts) == 1:
        return packaged(kind, text)
    return p


__all__ = ["DATA_ROOT_ENV", "config_path", "data_roots", "packaged", "packaged_folder", "packaged_names"]
