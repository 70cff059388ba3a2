"""lookalike: metric learning and open-set recognition.

Learn a distance so items of one class land close together, then enroll never-seen classes into a
gallery without retraining and answer "who is this — or nobody we know?" and "are these two the same?".

This module imports nothing heavy; the public API is re-exported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from lookalike._version import __version__
from lookalike.errors import LookalikeError

# name -> module that defines it; imported on first attribute access (keeps `import lookalike` cheap).
_LAZY: dict[str, str] = {
    "fit": "lookalike.fitting",
    "FitResult": "lookalike.fitting",
    "train": "lookalike.training",
    "load_train_config": "lookalike.training",
    "TrainResult": "lookalike.training",
    "load_model": "lookalike.models",
    "EmbeddingModel": "lookalike.models",
    "evaluate_model": "lookalike.evaluation",
    "evaluate_embeddings": "lookalike.evaluation",
    "EvaluationResult": "lookalike.evaluation",
    "Gallery": "lookalike.gallery",
    "Identification": "lookalike.gallery",
    "Verification": "lookalike.gallery",
}

__all__ = ["LookalikeError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lookalike' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
