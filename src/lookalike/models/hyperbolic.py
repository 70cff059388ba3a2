"""Poincaré-ball geometry (Ermolov et al., CVPR 2022, "Hyperbolic Vision Transformers"; hyptorch).

Written here because no maintained library we depend on provides it with PML's distance interface.
All functions take a curvature ``c > 0`` (the ball has radius ``1/sqrt(c)``) and work in the input dtype.
"""

from __future__ import annotations

import torch

_EPS = {torch.float32: 4e-3, torch.float64: 1e-5, torch.float16: 4e-3, torch.bfloat16: 4e-3}


def _artanh(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(-1 + 1e-7, 1 - 1e-7) if x.dtype == torch.float64 else x.clamp(-1 + 1e-5, 1 - 1e-5)
    return 0.5 * (torch.log1p(x) - torch.log1p(-x))


def clip_features(x: torch.Tensor, r: float | None) -> torch.Tensor:
    """Feature clipping (Guo et al., 2022) used before the exponential map: scale ``x`` to norm ≤ ``r``."""
    if r is None:
        return x
    norm = x.norm(dim=-1, keepdim=True).clamp_min(1e-5)
    return x * torch.clamp(r / norm, max=1.0)


def project(x: torch.Tensor, c: float) -> torch.Tensor:
    """Pull points back inside the ball (norm ≤ (1 - eps)/sqrt(c)) for numerical safety."""
    norm = x.norm(dim=-1, keepdim=True).clamp_min(1e-5)
    maxnorm = (1 - _EPS.get(x.dtype, 1e-3)) / c**0.5
    return torch.where(norm > maxnorm, x / norm * maxnorm, x)


def expmap0(u: torch.Tensor, c: float) -> torch.Tensor:
    """Exponential map at the origin: tangent vectors → points of the ball."""
    sqrt_c = c**0.5
    norm = u.norm(dim=-1, keepdim=True).clamp_min(1e-5)
    return project(torch.tanh(sqrt_c * norm) * u / (sqrt_c * norm), c)


def to_ball(x: torch.Tensor, c: float, clip_r: float | None = 2.3) -> torch.Tensor:
    """What a hyperbolic head applies to raw features: clip, then map onto the ball."""
    return expmap0(clip_features(x, clip_r), c)


def mobius_add(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    """Möbius addition x ⊕_c y (row-wise)."""
    xy = (x * y).sum(-1, keepdim=True)
    x2 = (x * x).sum(-1, keepdim=True)
    y2 = (y * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    return num / (1 + 2 * c * xy + c**2 * x2 * y2).clamp_min(1e-15)


def dist(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    """Row-wise geodesic distance d_c(x, y) = 2/sqrt(c) · artanh(sqrt(c) · ‖(−x) ⊕_c y‖)."""
    sqrt_c = c**0.5
    return 2 / sqrt_c * _artanh(sqrt_c * mobius_add(-x, y, c).norm(dim=-1))


def dist_matrix(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    """All-pairs geodesic distances (n, m) without an (n, m, d) intermediate.

    ‖(−x) ⊕ y‖² is expanded in the inner products <x, y>, ‖x‖², ‖y‖², so memory is O(n·m).
    """
    sqrt_c = c**0.5
    xy = x @ y.T  # (n, m)
    x2 = (x * x).sum(-1, keepdim=True)  # (n, 1)
    y2 = (y * y).sum(-1, keepdim=True).T  # (1, m)
    a = 1 - 2 * c * xy + c * y2  # coefficient of (−x)
    b = 1 - c * x2  # coefficient of y
    num2 = a * a * x2 - 2 * a * b * xy + b * b * y2
    den = 1 - 2 * c * xy + c**2 * x2 * y2
    norm = num2.clamp_min(0).sqrt() / den.clamp_min(1e-15)
    return 2 / sqrt_c * _artanh(sqrt_c * norm)


__all__ = ["clip_features", "dist", "dist_matrix", "expmap0", "mobius_add", "project", "to_ball"]
