"""Data layer: typed datasets, sources, importers, class-disjoint protocols, samplers, the data-spec resolver.

Public entry points (imported lazily so ``import lookalike.data`` stays cheap):

- :class:`LabeledDataset` (``types``), :func:`load_image` (``images``)
- sources: :func:`from_folder`, :func:`from_manifest`, :func:`from_omniglot_zip`, :func:`from_clinc150`,
  :func:`from_digits`, :func:`from_vectors`
- protocols: :func:`load_protocol`, :func:`load_data`, :func:`kshot_split`
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "LabeledDataset": "lookalike.data.types",
    "UNKNOWN_LABEL": "lookalike.data.types",
    "load_image": "lookalike.data.images",
    "from_folder": "lookalike.data.sources",
    "from_manifest": "lookalike.data.sources",
    "from_omniglot_zip": "lookalike.data.sources",
    "from_clinc150": "lookalike.data.sources",
    "from_digits": "lookalike.data.sources",
    "from_vectors": "lookalike.data.sources",
    "load_protocol": "lookalike.data.protocols",
    "load_data": "lookalike.data.resolve",
    "Protocol": "lookalike.data.protocols",
    "kshot_split": "lookalike.data.splits",
    "KShotSplit": "lookalike.data.splits",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lookalike.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
