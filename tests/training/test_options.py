"""Training options: fine-tuning with bf16 autocast + channels_last, partial unfreezing, frozen BN, schedule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from lookalike.models import load_model
from lookalike.training import load_train_config, train
from lookalike.training.builder import build_network, freeze_all_but_last_blocks
from lookalike.training.module import set_bn_eval, warmup_cosine


def test_finetune_bf16_channels_last_two_batches(tmp_path: Path, make_tiny_config) -> None:  # type: ignore[no-untyped-def]
    cfg = load_train_config(
        make_tiny_config(tmp_path),
        [
            "model.backbone=finetune",
            "model.trainable_blocks=2",
            "trainer.precision=bf16-mixed",
            "trainer.channels_last=true",
            "trainer.limit_train_batches=2",
        ],
    )
    seen: dict[str, object] = {}

    class _Probe(Callback):
        """Records, during a real training step, the backbone input's layout and the conv output's dtype."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # type: ignore[no-untyped-def]
            if "handle" in seen:
                return

            def hook(module, args, output):  # type: ignore[no-untyped-def]
                if module.training and "dtype" not in seen:
                    seen["channels_last"] = args[0].is_contiguous(memory_format=torch.channels_last)
                    seen["dtype"] = output.dtype

            seen["handle"] = pl_module.network.encoder.backbone.conv_stem.register_forward_hook(hook)

    result = train(cfg, extra_callbacks=[_Probe()])
    assert result.epochs_run == 1 and result.best_val_map_at_r is not None
    assert seen.get("dtype") == torch.bfloat16, "bf16-mixed did not autocast the backbone's convolutions"
    assert seen.get("channels_last") is True, "channels_last did not reach the backbone's input"
    model = load_model(result.model_dir)
    out = model.embed([np.zeros((8, 8), np.uint8)])
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_partial_unfreezing_and_frozen_bn(tmp_path: Path, make_tiny_config) -> None:  # type: ignore[no-untyped-def]
    cfg = load_train_config(make_tiny_config(tmp_path), ["model.backbone=finetune"])
    net = build_network(cfg)
    bb = net.encoder.backbone
    freeze_all_but_last_blocks(net.encoder, 1)
    assert not any(p.requires_grad for p in bb.conv_stem.parameters())
    assert not any(p.requires_grad for p in bb.blocks[0].parameters())
    assert all(p.requires_grad for p in bb.blocks[-1].parameters())
    assert all(p.requires_grad for p in bb.conv_head.parameters())  # layers after the blocks train too
    net.train()
    set_bn_eval(net.encoder)
    bns = [m for m in net.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = bns[0].running_mean.clone()
    net.encoder(torch.randn(4, 3, 32, 32) * 5 + 3)
    assert torch.equal(bns[0].running_mean, before)


@pytest.mark.parametrize(("step", "expected"), [(0, 0.1), (9, 1.0), (10, 1.0), (55, 0.5), (100, 0.0)])
def test_warmup_then_cosine(step: int, expected: float) -> None:
    assert warmup_cosine(step, warmup=10, total=100, cosine=True) == pytest.approx(expected, abs=1e-6)


def test_extra_callbacks_see_every_training_batch(tmp_path: Path, make_tiny_config) -> None:  # type: ignore[no-untyped-def]
    import lightning as L

    class Count(L.Callback):
        batches = 0

        def on_train_batch_end(self, *args: object) -> None:
            self.batches += 1

    counter = Count()
    cfg = load_train_config(make_tiny_config(tmp_path), ["trainer.limit_train_batches=3"])
    train(cfg, extra_callbacks=[counter])
    assert counter.batches == 3
