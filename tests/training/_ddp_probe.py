"""Run by test_ddp.py in a subprocess: ``python _ddp_probe.py CONFIG OUT`` trains CONFIG and writes, per rank,
the dataset indices that rank drew, in order (``OUT/rank<r>.json``), so the test can check the ranks' batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import Dataset

from lookalike.training import load_train_config, train


class _Recorded(Dataset):
    """The training dataset, noting every index asked for (num_workers 0: in this process)."""

    def __init__(self, inner: Any, drawn: list[int]) -> None:
        self.inner, self.drawn = inner, drawn

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> Any:
        self.drawn.append(int(i))
        return self.inner[i]


class RecordDrawnItems(L.Callback):
    def __init__(self, out: Path) -> None:
        self.out, self.drawn = out, []  # type: ignore[var-annotated]

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dm: Any = trainer.datamodule  # set up already: Lightning runs the datamodule's setup first
        dm.train_set = _Recorded(dm.train_set, self.drawn)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        labels = [int(x) for x in trainer.datamodule.splits.train.labels]  # type: ignore[attr-defined]
        record = {"drawn": self.drawn, "labels": labels, "batches": int(trainer.num_training_batches)}
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    config, out = sys.argv[1], Path(sys.argv[2])
    train(load_train_config(config), extra_callbacks=[RecordDrawnItems(out)])
