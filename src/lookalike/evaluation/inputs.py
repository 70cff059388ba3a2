"""What to evaluate on, from one ``--data`` spec: a class folder, a manifest, or a protocol YAML / name.

For a protocol the held-out TEST split is evaluated (never training classes), its ``unknown`` split (if any)
joins as unknown probes labelled -1, its enrollment ``shots``/``seed`` set the open-set galleries, and its
``one_shot_runs`` (Omniglot's ``all_runs.zip``) add N-way K-shot accuracy, and its ``pairs`` (LFW's pairs.txt)
add pair-list verification (10-fold accuracy, ROC AUC, TAR@FAR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.data.scan import OnBad
from lookalike.data.types import LabeledDataset


@dataclass
class EvaluationData:
    """A dataset to evaluate (unknown items labelled -1) with the protocol's settings."""

    dataset: LabeledDataset
    shots: list[int] = field(default_factory=lambda: [1])
    seed: int = 0
    runs: list[Any] = field(default_factory=list)
    protocol: str | None = None
    pairs: Any = None  #: a :class:`~lookalike.evaluation.pairs.PairList` from the protocol's ``pairs``


def with_unknown(known: LabeledDataset, unknown: LabeledDataset) -> LabeledDataset:
    """``known`` followed by ``unknown``'s items, all of the latter labelled -1."""
    if unknown.kind != known.kind:
        from lookalike.errors import DataError

        raise DataError(f"unknown split holds {unknown.kind} items but the test split holds {known.kind} items")
    meta = None
    if known.metadata is not None or unknown.metadata is not None:
        meta = list(known.metadata or [{}] * len(known)) + list(unknown.metadata or [{}] * len(unknown))
    items = list(known.items) + list(unknown.items)
    if known.kind == "vector":
        items = np.concatenate([np.asarray(known.items), np.asarray(unknown.items)])  # type: ignore[assignment]
    labels = np.r_[known.labels, np.full(len(unknown), -1, dtype=np.int64)]
    return LabeledDataset(known.kind, items, labels, list(known.class_names), meta, known.name, known.max_pixels)


def load_evaluation_data(spec: str | Path, *, on_bad: OnBad = "error") -> EvaluationData:
    """The evaluation set for ``spec`` (see the module docstring); ``on_bad='skip'`` leaves a folder's or a
    manifest's unreadable images out (a protocol says so in its source)."""
    from lookalike.data.protocols import load_protocol
    from lookalike.data.resolve import is_protocol, load_data, refuse_skip_for_protocol, split_spec

    text, split = split_spec(spec)
    if not is_protocol(text) or split not in (None, "test"):
        return EvaluationData(dataset=load_data(spec, split="test", on_bad=on_bad))
    refuse_skip_for_protocol(text, on_bad)
    protocol = load_protocol(text)
    ds = protocol.dataset("test")
    if "unknown" in protocol.splits():
        ds = with_unknown(ds, protocol.dataset("unknown"))
    runs: list[Any] = []
    if protocol.one_shot_runs:
        from lookalike.data.omniglot import omniglot_runs

        runs = list(omniglot_runs(protocol.resolve(protocol.one_shot_runs)))
    shots, seed = [1], 0
    if protocol.enrollment is not None:
        shots, seed = list(protocol.enrollment.shots), protocol.enrollment.seed
    pairs = None
    if protocol.pairs:
        from lookalike.evaluation.pairs import load_pairs

        pairs = load_pairs(protocol.resolve(protocol.pairs))
    return EvaluationData(dataset=ds, shots=shots, seed=seed, runs=runs, protocol=protocol.name, pairs=pairs)


__all__ = ["EvaluationData", "load_evaluation_data", "with_unknown"]
