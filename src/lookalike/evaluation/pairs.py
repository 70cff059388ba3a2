"""Pair-list verification (LFW's protocol): k-fold accuracy, ROC AUC and TAR@FAR over a given list of pairs.

A pair list is LFW's ``pairs.txt`` (header ``folds n`` or ``n``; per fold ``n`` matched lines ``name i j`` and ``n``
mismatched lines ``name1 i name2 j``; image ``i`` of ``name`` is ``<name>/<name>_<i:04d>.jpg`` under the list's
image folder) or a ``.csv`` with columns ``path_a, path_b, same, fold`` (what ``lookalike data download lfw``
writes). Paths are relative to the list's folder (``pairs.txt``: to ``<folder>/<images>``, default ``lfw``).

Accuracy is the standard "unrestricted" 10-fold figure: for each fold, the threshold that maximises accuracy on
the other folds is applied to it; the mean and standard deviation over folds are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import DataError
from lookalike.evaluation.verification import DEFAULT_FARS, VerificationMetrics, verification_metrics
from lookalike.models.pair_scoring import accepts


@dataclass(frozen=True)
class PairList:
    """Pairs of image paths with ``same`` (bool) and ``fold`` (1-based) per pair."""

    a: list[str]
    b: list[str]
    same: np.ndarray
    fold: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    def paths(self) -> list[str]:
        """Every distinct path, in first-seen order."""
        return list(dict.fromkeys([*self.a, *self.b]))


@dataclass(frozen=True)
class PairVerification:
    """Outcome of a pair-list verification."""

    accuracy: float
    accuracy_std: float
    fold_accuracies: list[float]
    fold_thresholds: list[float]
    roc: VerificationMetrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "accuracy_std": self.accuracy_std,
            "fold_accuracies": self.fold_accuracies,
            "fold_thresholds": self.fold_thresholds,
            **self.roc.to_dict(),
        }


def load_pairs(path: str | Path, *, images: str = "lfw") -> PairList:
    """A :class:`PairList` from ``pairs.txt`` (LFW format) or ``.csv``, with absolute paths (see module doc)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"pair list {str(p)!r} does not exist; give LFW's pairs.txt or a path_a,path_b,same,fold csv")
    if p.suffix.lower() == ".csv":
        from lookalike.data.manifest import read_table

        rows = read_table(p)  # UTF-8 (a BOM allowed), shifted rows refused, like a manifest
        need = {"path_a", "path_b", "same", "fold"}
        if not rows or not need <= set(rows[0]):
            raise DataError(f"{p}: a pair csv needs the columns {sorted(need)}; got {sorted(rows[0]) if rows else []}")
    else:
        from lookalike.data.standard.lfw import read_pairs

        rows = [
            {**r, "path_a": str(r["path_a"]).replace("lfw/", f"{images}/", 1),
             "path_b": str(r["path_b"]).replace("lfw/", f"{images}/", 1)}
            for r in read_pairs(p)
        ]  # fmt: skip
    try:
        same = np.array([int(r["same"]) for r in rows]).astype(bool)
        fold = np.array([int(r["fold"]) for r in rows], dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{p}: 'same' and 'fold' must be integers ({err})") from None
    a = [str(p.parent / r["path_a"]) for r in rows]
    b = [str(p.parent / r["path_b"]) for r in rows]
    missing = [x for x in dict.fromkeys(a + b) if not Path(x).is_file()]
    if missing:
        raise DataError(f"{p}: {len(missing)} image(s) of the pair list are missing, e.g. {missing[0]}")
    if same.all() or not same.any():
        raise DataError(f"{p}: the pair list needs both matched and mismatched pairs")
    return PairList(a, b, same, fold)


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (accept when ``score >= t``) with the highest accuracy on ``scores``; midpoint between
    scores."""
    s = np.sort(np.unique(scores))
    cands = np.r_[s[0] - 1.0, (s[:-1] + s[1:]) / 2, s[-1] + 1.0]
    acc = [(accepts(scores, t) == same).mean() for t in cands]
    return float(cands[int(np.argmax(acc))])


def pair_verification(scores: Any, same: Any, fold: Any, *, fars: Sequence[float] = DEFAULT_FARS) -> PairVerification:
    """k-fold accuracy (threshold chosen on the other folds), ROC AUC and TAR@FAR from pair similarity scores."""
    sc = np.asarray(scores, dtype=np.float64).ravel()
    sm = np.asarray(same).astype(bool).ravel()
    fd = np.asarray(fold).ravel()
    if not len(sc) == len(sm) == len(fd):
        raise DataError(f"pair_verification: scores, same and fold differ in length ({len(sc)}, {len(sm)}, {len(fd)})")
    folds = np.unique(fd)
    accs, thresholds = [], []
    for k in folds:
        test = fd == k
        train = ~test if len(folds) > 1 else test
        t = best_threshold(sc[train], sm[train])
        thresholds.append(t)
        accs.append(float((accepts(sc[test], t) == sm[test]).mean()))
    roc = verification_metrics(sc[sm], sc[~sm], fars=fars)
    return PairVerification(float(np.mean(accs)), float(np.std(accs)), accs, thresholds, roc)


__all__ = ["PairList", "PairVerification", "best_threshold", "load_pairs", "pair_verification"]
