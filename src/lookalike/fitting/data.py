"""What ``fit`` trains and holds out: a protocol YAML as given, or a protocol written for a folder/manifest.

Without a protocol, a seeded ``holdout`` fraction of the classes is held out (``test: {fraction, seed}``) and
the protocol used is written to ``OUT/protocol.yaml``. Validation never uses the held-out classes: ``fit``
carves its folds out of the training classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lookalike.data.protocols import Protocol, load_protocol
from lookalike.data.resolve import refuse_skip_for_protocol
from lookalike.data.roots import config_path
from lookalike.data.scan import OnBad
from lookalike.data.types import LabeledDataset
from lookalike.errors import DataError

MIN_CLASSES = 4


@dataclass
class FitData:
    """The protocol (file and object) and its training classes, every one of them (no validation carve-out)."""

    protocol: Protocol
    protocol_path: Path
    train: LabeledDataset


def resolve_data(data: str | Path, out: Path, *, holdout: float, seed: int, on_bad: OnBad = "error") -> FitData:
    """Load or write the protocol; check the training classes can be searched on.

    ``on_bad='skip'`` (a folder or manifest only) is written into the protocol's source, so the recipe that
    points at that protocol retrains on the same items.
    """
    p = Path(data)
    if p.suffix.lower() in (".yaml", ".yml") or str(data).startswith("protocol:"):
        refuse_skip_for_protocol(data, on_bad)
        path = config_path(data, "protocol").resolve()
    elif p.is_dir() or p.suffix.lower() in (".csv", ".parquet", ".pq"):
        if not p.exists():
            raise DataError(f"{str(p)!r} does not exist; give a class-per-folder tree, a manifest or a protocol YAML")
        if p.is_dir() and not any(c.is_dir() and not c.name.startswith(".") for c in p.iterdir()):
            raise DataError(
                f"{str(p)!r} has no class sub-folders; put each class's items in its own folder (DATA/<class>/<item>)"
            )
        kind = "folder" if p.is_dir() else "manifest"
        proto: dict[str, Any] = {
            "name": p.stem if kind == "manifest" else p.name,
            "description": f"{p}: a seeded {holdout:g} of the classes held out by lookalike fit (seed {seed})",
            "class_order": "natural",
            "source": {"kind": kind, "path": str(p.resolve()), **({"on_bad": on_bad} if on_bad != "error" else {})},
            "train": {},
            "test": {"fraction": holdout, "seed": seed},
        }
        out.mkdir(parents=True, exist_ok=True)
        path = out / "protocol.yaml"
        path.write_text(yaml.safe_dump(proto, sort_keys=False), encoding="utf-8")
    else:
        raise DataError(
            f"{str(p)!r}: give a class-per-folder tree, a .csv/.parquet manifest or a protocol .yaml"
            + ("" if p.exists() else " (nothing exists at that path)")
        )
    protocol = load_protocol(path).with_val(None)  # fit carves its own folds out of every training class
    train = protocol.dataset("train")
    check_trainable(train)
    if protocol.test is not None:  # checked now, not after the search and the final training
        test = protocol.dataset("test")
        held = len(np.unique(test.labels[test.labels >= 0]))
        if held < 2:
            raise DataError(
                f"{test.name}: {held} held-out class(es); the final test needs at least 2 (retrieval among one class "
                "measures nothing). Hold out more (a larger --holdout) or add classes"
            )
    return FitData(protocol=protocol, protocol_path=path, train=train)


def check_trainable(ds: LabeledDataset) -> None:
    """At least 4 training classes, each with 2+ items (retrieval among a class needs two of it)."""
    counts = np.bincount(ds.labels[ds.labels >= 0], minlength=len(ds.class_names))
    present = int((counts > 0).sum())
    if present < MIN_CLASSES:
        raise DataError(
            f"{ds.name}: {present} training classes; fit needs at least {MIN_CLASSES} (some to learn from, some to "
            "validate on, in every fold). Add classes, or hold out fewer (--holdout)"
        )
    single = [ds.class_names[i] for i in np.nonzero(counts == 1)[0]]
    if single:
        raise DataError(
            f"{ds.name}: {len(single)} classes have a single item ({', '.join(single[:5])}"
            f"{' ...' if len(single) > 5 else ''}); every class needs at least 2 items. Add items or remove them"
        )


__all__ = ["MIN_CLASSES", "FitData", "check_trainable", "resolve_data"]
