"""Optional extras in tests: skip on a user's clone without the extra, fail in CI (``CI`` set), where
requirements.lock installs every extra, so a broken install can never pass as a skip."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module`` (from the pip extra ``extra``): skip without it, except in CI where its absence fails."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} not installed (pip extra: {extra})", allow_module_level=True)
