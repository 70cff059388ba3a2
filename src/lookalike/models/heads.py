"""Heads: map encoder features to the embedding (linear or small MLP, optional BatchNorm, or none)."""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from lookalike.errors import ConfigError

HeadType = Literal["linear", "mlp", "none"]


class Head(nn.Module):
    """``none`` passes features through; ``linear`` is one Linear; ``mlp`` adds a hidden layer with ReLU.

    ``bn`` puts a BatchNorm1d on the input features (a learned per-feature standardisation, which helps
    when the backbone's features have very uneven scales). ``init="identity"`` starts a square linear head
    at the identity so training begins from the backbone's own geometry instead of a random projection;
    ``init="whiten"`` marks a linear head that training fits in closed form (:mod:`lookalike.training.whitening`).
    """

    def __init__(
        self,
        *,
        in_dim: int,
        type: HeadType = "linear",
        out_dim: int | None = None,
        hidden: int = 512,
        bn: bool = False,
        dropout: float = 0.0,
        init: Literal["default", "identity", "whiten"] = "default",
    ) -> None:
        super().__init__()
        if type == "none" and out_dim not in (None, in_dim):
            raise ConfigError(f"head type 'none' keeps the feature size {in_dim}; drop embedding_size or use linear")
        self.head_type, self.in_dim, self.hidden, self.use_bn, self.dropout, self.init = (
            type,
            in_dim,
            hidden,
            bn,
            dropout,
            init,
        )
        self.out_dim = in_dim if out_dim is None else out_dim
        layers: list[nn.Module] = []
        if bn:
            layers.append(nn.BatchNorm1d(in_dim))
        if dropout:
            layers.append(nn.Dropout(dropout))
        if type == "linear":
            layers.append(nn.Linear(in_dim, self.out_dim))
        elif type == "mlp":
            layers += [nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, self.out_dim)]
        elif type != "none":
            raise ConfigError(f"unknown head type {type!r}; use 'linear', 'mlp' or 'none'")
        self.net = nn.Sequential(*layers)
        if init == "whiten" and type != "linear":
            raise ConfigError("head init 'whiten' (fitted by lookalike.training.whitening) needs type 'linear'")
        if init == "identity":
            if type != "linear" or self.out_dim != in_dim:
                raise ConfigError("head init 'identity' needs type 'linear' with embedding_size equal to feature size")
            lin: Any = self.net[-1]
            nn.init.eye_(lin.weight)
            nn.init.zeros_(lin.bias)

    def config(self) -> dict[str, Any]:
        return {
            "type": self.head_type,
            "out_dim": self.out_dim,
            "hidden": self.hidden,
            "bn": self.use_bn,
            "dropout": self.dropout,
        }

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.net(x)


__all__ = ["Head", "HeadType"]
