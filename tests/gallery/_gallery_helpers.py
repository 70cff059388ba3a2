"""Toy data shared by the gallery tests."""

from __future__ import annotations

import numpy as np


def clustered(
    n_ids: int, per_id: int, dim: int = 8, *, spread: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``n_ids`` random centres; returns (vectors float32, labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    x = np.repeat(centres, per_id, axis=0) + spread * rng.normal(size=(n_ids * per_id, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(n_ids), per_id)
