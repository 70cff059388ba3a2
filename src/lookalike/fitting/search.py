"""The search: Optuna's TPE sampler over the space, each trial scored fold by fold on class carve-outs of the
training classes, pruned on its per-fold running mean (median rule), within a time budget.

Only the training classes' cached features reach this module; held-out classes are loaded after it ends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.fitting.features import FeatureBank
from lookalike.fitting.score import batch_size_for, class_folds, fold_score
from lookalike.fitting.space import Candidate, SearchSpace

log = logging.getLogger(__name__)
MAX_SKIPPED_IN_A_ROW = 10


@dataclass
class Trial:
    """One scored (or pruned, or skipped) candidate."""

    number: int
    candidate: Candidate
    params: dict[str, Any]
    state: str
    fold_scores: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: of ``seconds``, the time spent computing the features (first use of a feature option)
    feature_seconds: float = 0.0
    finished_at: float = 0.0

    @property
    def fold_seconds(self) -> float:
        """Seconds per fold, feature extraction excluded."""
        return (self.seconds - self.feature_seconds) / max(1, len(self.fold_scores))

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def std(self) -> float:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else 0.0


@dataclass
class SearchOutcome:
    trials: list[Trial]
    best: Trial
    batch_size: int
    seconds: float


def _first_trials(space: SearchSpace) -> list[dict[str, Any]]:
    """Enqueued before TPE starts: every feature option once with a mid-shrink whitening (cheap, strong)."""
    whiten = next((h for h in space.heads if h.kind == "whiten"), None)
    if whiten is None:
        return []
    lo, hi = whiten.shrink  # type: ignore[misc]
    return [
        {"feature": f, "head": whiten.name, "distance": space.distances[0], "shrink": round((lo + hi) / 2, 4)}
        for f in space.features()
    ]


def run_search(
    space: SearchSpace,
    bank: FeatureBank,
    *,
    seed: int,
    deadline: float,
    reserve: Callable[[Trial | None], float],
    affordable: Callable[[str, float], bool],
    max_trials: int | None = None,
    on_trial: Callable[[Trial, Trial | None], None] | None = None,
) -> SearchOutcome:
    """Run trials until ``deadline`` (time.monotonic) minus ``reserve(best)`` or ``max_trials``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    labels = bank.dataset.labels
    folds = class_folds(labels, folds=space.folds, fraction=space.val_fraction, seed=seed)
    min_classes = min(len(np.unique(labels[tr])) for tr, _ in folds)
    batch_size = batch_size_for(min_classes, space.training)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(5, len(space.features()))),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )
    for params in _first_trials(space):
        study.enqueue_trial(params)
    trials: list[Trial] = []
    best: Trial | None = None
    skipped_in_a_row = 0
    start = time.monotonic()
    while max_trials is None or len(trials) < max_trials:
        if time.monotonic() + reserve(best) >= deadline and best is not None:
            break
        ot = study.ask()
        cand = space.suggest(ot)
        trial = Trial(number=ot.number, candidate=cand, params=dict(ot.params), state="complete")
        fam, option = space.family(cand.feature)
        left = deadline - time.monotonic() - reserve(best)
        if not bank.has(fam, option) and not affordable(fam.name, left):
            trial.state = "skipped"  # its features would not be ready within the budget
            study.tell(ot, state=optuna.trial.TrialState.FAIL)
        else:
            t0 = time.monotonic()
            feats = bank.get(fam, option)
            trial.feature_seconds = time.monotonic() - t0
            for f, fold in enumerate(folds):
                trial.fold_scores.append(
                    fold_score(cand, feats, labels, fold, space.training, batch_size=batch_size, seed=seed + f)
                )
                ot.report(float(np.mean(trial.fold_scores)), f)
                if f + 1 < len(folds) and ot.should_prune():
                    trial.state = "pruned"
                    break
                if f + 1 < len(folds) and best is not None and time.monotonic() + reserve(best) >= deadline:
                    trial.state = "stopped"  # the budget ran out mid-trial: not a full estimate, not eligible
                    break
            trial.seconds = time.monotonic() - t0
            if trial.state in ("pruned", "stopped"):
                study.tell(ot, state=optuna.trial.TrialState.PRUNED)
            elif not all(math.isfinite(s) for s in trial.fold_scores):
                trial.state = "failed"
                study.tell(ot, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(ot, trial.mean)
                if best is None or trial.mean > best.mean:
                    best = trial
        trial.finished_at = time.monotonic() - start
        trials.append(trial)
        skipped_in_a_row = skipped_in_a_row + 1 if trial.state == "skipped" else 0
        if on_trial is not None:
            on_trial(trial, best)
        if (best is None and time.monotonic() >= deadline) or skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
            break  # out of time, or the sampler keeps proposing only what the budget cannot afford
    if best is None:
        from lookalike.errors import ConfigError

        raise ConfigError(
            "the budget ended before any candidate was scored; raise --budget (the first candidates compute "
            "their features, which takes longest)"
        )
    return SearchOutcome(trials=trials, best=best, batch_size=batch_size, seconds=time.monotonic() - start)


__all__ = ["SearchOutcome", "Trial", "run_search"]
