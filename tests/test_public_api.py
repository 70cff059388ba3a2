"""The package's top level re-exports the public API lazily: `import lookalike` stays light."""

from __future__ import annotations

import subprocess
import sys

import lookalike


def test_every_public_name_resolves() -> None:
    for name in lookalike.__all__:
        assert getattr(lookalike, name) is not None, name
    assert lookalike.Gallery.__name__ == "Gallery" and callable(lookalike.fit) and callable(lookalike.load_model)


def test_import_is_light() -> None:
    heavy = "('torch', 'faiss', 'timm', 'lightning')"
    code = f"import sys, lookalike; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"'import lookalike' imported {out}"
