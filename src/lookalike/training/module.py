"""The LightningModule: takes *built* objects (network, loss, miner) and optimisation settings.

Frozen-backbone batches are cached features (``head_only``); fine-tuning batches are model inputs.
Validation embeds the validation classes and logs ``val/map_at_r`` (each DDP rank scores all of them), which
checkpointing and early stopping monitor.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn

from lookalike.models.network import EmbeddingNet
from lookalike.training.config import OptimConfig
from lookalike.training.metrics import map_at_r


def set_bn_eval(module: nn.Module) -> None:
    """Keep BatchNorm running statistics fixed (their affine weights may still train)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def warmup_cosine(step: int, *, warmup: int, total: int, cosine: bool) -> float:
    """LR multiplier: linear warmup from ~0 over ``warmup`` steps, then cosine to 0 (or constant)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if not cosine or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1 + math.cos(math.pi * progress))


class EmbeddingModule(L.LightningModule):
    """Metric-learning training of an :class:`EmbeddingNet`."""

    def __init__(
        self,
        *,
        network: EmbeddingNet,
        loss: nn.Module,
        miner: nn.Module | None,
        optim: OptimConfig,
        frozen_backbone: bool,
        freeze_bn: bool = True,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.network = network
        self.loss_fn = loss
        self.miner = miner
        self.optim = optim
        self.frozen_backbone = frozen_backbone
        self.freeze_bn = freeze_bn
        self.channels_last = channels_last
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        if frozen_backbone:
            network.encoder.requires_grad_(False)

    # -- forward ---------------------------------------------------------------------------------------
    def forward(self, x: Any) -> torch.Tensor:
        if self.frozen_backbone:
            return self.network.head_only(x)
        if self.channels_last and isinstance(x, torch.Tensor) and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.network(x)

    def on_train_epoch_start(self) -> None:
        if self.frozen_backbone:
            self.network.encoder.eval()
            return
        self.network.train()  # Hugging Face models load in eval mode: fine-tuning uses their dropout
        if self.freeze_bn:
            set_bn_eval(self.network.encoder)

    def training_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        emb = self(x).float()
        tuples = self.miner(emb, y) if self.miner is not None else None
        loss = self.loss_fn(emb, y, tuples)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(y), sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self._val.append((self(x).float().detach(), y.detach()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        emb = torch.cat([e for e, _ in self._val])
        lab = torch.cat([y for _, y in self._val])
        self._val.clear()
        # the validation loader is not sharded, so every rank scores the full validation set
        score = map_at_r(emb.cpu(), lab.cpu(), self.network.distance)
        self.log("val/map_at_r", score, prog_bar=True, sync_dist=False, rank_zero_only=False)

    # -- optimisation ------------------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        o = self.optim
        groups: list[dict[str, Any]] = [
            {
                "name": "backbone",
                "params": [p for p in self.network.encoder.parameters() if p.requires_grad],
                "lr": o.lr_backbone,
            },
            {"name": "head", "params": [p for p in self.network.head.parameters() if p.requires_grad], "lr": o.lr_head},
            {
                "name": "loss",
                "params": [p for p in self.loss_fn.parameters() if p.requires_grad],
                "lr": o.lr_loss,
                "weight_decay": 0.0,
            },
        ]
        return [g for g in groups if g["params"] and g["lr"] > 0]

    def configure_optimizers(self) -> Any:
        o = self.optim
        groups = self.param_groups()
        if o.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=o.lr_head, momentum=0.9, weight_decay=o.weight_decay
            )
        elif o.optimizer == "adam":
            opt = torch.optim.Adam(groups, lr=o.lr_head, weight_decay=o.weight_decay)
        else:
            opt = torch.optim.AdamW(groups, lr=o.lr_head, weight_decay=o.weight_decay)
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        warmup = round(o.warmup_epochs * per_epoch)
        cosine = o.schedule == "cosine"
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, warmup=warmup, total=total, cosine=cosine)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


__all__ = ["EmbeddingModule", "set_bn_eval", "warmup_cosine"]
