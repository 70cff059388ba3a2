"""CLINC150 intent data (``data_full.json``): keys ``train``/``val``/``test`` and ``oos_train``/``oos_val``/
``oos_test``, each a list of ``[utterance, intent]``. Out-of-scope utterances get label -1 (unknown)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.data.types import UNKNOWN_LABEL, LabeledDataset
from lookalike.errors import DataError

PARTS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
OOS_INTENT = "oos"


def from_clinc150(
    json_path: str | Path,
    *,
    parts: Sequence[str] = ("train", "val", "test"),
    name: str | None = None,
) -> LabeledDataset:
    """Utterances of the JSON ``parts`` (in that order) as a text dataset.

    Class names are all in-scope intents of the file, sorted (150 for ``data_full.json``), whatever ``parts``
    holds, so labels agree between datasets built from different parts. Utterances of intent ``oos`` (the
    ``oos_*`` parts) get label -1. Each item's metadata records its part as ``split``.
    """
    path = Path(json_path)
    if not path.is_file():
        raise DataError(f"CLINC150 file {str(path)!r} does not exist; expected text/clinc150/data_full.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    unknown = [p for p in parts if p not in data]
    if unknown:
        raise DataError(f"{path}: parts {unknown} are not in the file; it has {sorted(data)}")
    intents = sorted({intent for p in data if p in PARTS for _, intent in data[p] if intent != OOS_INTENT})
    index = {n: i for i, n in enumerate(intents)}
    items: list[str] = []
    labels: list[int] = []
    metadata: list[dict[str, str]] = []
    for part in parts:
        for row in data[part]:
            if not (isinstance(row, list) and len(row) == 2):
                raise DataError(f"{path}: part {part!r} has a row that is not [utterance, intent]: {row!r}")
            text, intent = row
            items.append(str(text))
            labels.append(UNKNOWN_LABEL if intent == OOS_INTENT else index[intent])
            metadata.append({"split": part})
    return LabeledDataset("text", items, np.asarray(labels, dtype=np.int64), intents, metadata, name or "clinc150")


__all__ = ["PARTS", "from_clinc150"]
