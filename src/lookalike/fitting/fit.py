"""``fit(data, out)``: choose a recipe on class carve-outs of the training classes, train it, test it once.

1. Resolve the data to a protocol (written to ``out/protocol.yaml`` when a fraction is held out here).
2. Pick the search space of the data's modality; cache each feature option's frozen features.
3. Search with Optuna within the budget (:mod:`lookalike.fitting.search`); never touches held-out classes.
4. Write ``recipe.yaml`` and ``calibration.npz`` (pair scores of each carve-out's classes by the fold model that
   never saw them: :mod:`lookalike.fitting.calibration`); train the recipe with ``lookalike train`` (every
   training class): ``out/model``. A closed-form choice (whitening or no head on frozen features) with enough
   training classes also gets discovery's grouping chosen on training carve-outs (the recipe's ``discovery``
   section, as many trials as the budget affords: :mod:`lookalike.training.grouping`), stored in
   ``calibration.npz`` for ``lookalike calibrate GALLERY --from-fit OUT``.
5. Evaluate the model once on the held-out classes: ``heldout.json`` (``lookalike evaluate``'s schema).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lookalike.data.scan import OnBad, check_on_bad
from lookalike.data.types import LabeledDataset
from lookalike.errors import ConfigError, DataError
from lookalike.fitting.calibration import FILE as CALIBRATION_FILE
from lookalike.fitting.calibration import unseen_pairs
from lookalike.fitting.data import resolve_data
from lookalike.fitting.features import FeatureBank
from lookalike.fitting.report import write_fit_report, write_search_csv
from lookalike.fitting.search import Trial, run_search
from lookalike.fitting.space import SearchSpace, load_space
from lookalike.paths import output_folder
from lookalike.training.config import DiscoveryConfig
from lookalike.training.grouping import GroupingChoice, min_classes

log = logging.getLogger(__name__)
#: fixed seconds of the final step besides features: building the model, Lightning set-up, export, metrics
FINAL_OVERHEAD_S = 10.0
PROBE_ITEMS = 16
#: discovery's grouping choice in the final training: its trials (``discovery.trials``' default) and the most of
#: the budget they may be kept back for (the search's share comes first)
GROUPING_TRIALS = DiscoveryConfig().trials
GROUPING_SHARE = 0.25
#: fewer trials than this would choose on noise: the library default grouping stays
MIN_GROUPING_TRIALS = 2
#: seconds of one grouping trial besides the head's four refits: the grid's groupings and the pair scores
#: (FlickrLogos-27's 5 new brands, about 200 stream items, 240 settings: 9.2 s on 2 CPU cores, 2026-12-07)
GROUPING_TRIAL_S = 10.0


@dataclass
class FitResult:
    """What ``fit`` chose and measured, and where it wrote it."""

    out_dir: Path
    recipe_path: Path
    model_dir: Path
    protocol_path: Path
    modality: str
    chosen: str
    params: dict[str, Any]
    val_map_at_r: float
    val_std: float
    val_folds: list[float]
    heldout: dict[str, Any]
    trials: int
    budget_seconds: float
    search_seconds: float
    wall_seconds: float
    #: ``calibration.npz``: pair scores of classes unseen by their fold model (:mod:`lookalike.fitting.calibration`)
    calibration_path: Path | None = None
    #: discovery's grouping for galleries calibrated ``--from-fit``: the choice's summary, or why the default stays
    grouping: str = ""

    @property
    def heldout_map_at_r(self) -> float:
        return float(self.heldout["retrieval"]["map_at_r"])


def detect_modality(ds: LabeledDataset) -> str:
    """text, vectors, small_images (median longest side <= 64 px over a sample), faces (a face found in at
    least 60 % of a sample, with the ``faces`` extra installed), small_images again for grayscale images
    (characters, scans: the space with a CNN trained from scratch) or images."""
    if ds.kind == "text":
        return "text"
    if ds.kind == "vector":
        return "vectors"
    idx = np.random.default_rng(0).choice(len(ds), size=min(16, len(ds)), replace=False)
    images = [ds.load(int(i)) for i in idx]
    if float(np.median([max(im.size) for im in images])) <= 64:
        return "small_images"
    from lookalike.models.faces.detect import looks_like_faces

    check = looks_like_faces(images, sample=len(images))
    log.info("fit: a face found in %.0f %% of %d sampled images", 100 * check.rate, check.sampled)
    if check.faces:
        return "faces"
    return "small_images" if all(_is_gray(im) for im in images) else "images"


def _is_gray(image: Any) -> bool:
    """A grayscale image (mode 1/L, or RGB with equal channels): characters, scans, line drawings."""
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    arr = np.asarray(image.convert("RGB"), dtype=np.int16)
    return bool(np.abs(arr[..., 0] - arr[..., 1]).max() <= 2 and np.abs(arr[..., 1] - arr[..., 2]).max() <= 2)


#: written into every fit's output folder first, so a fit that was stopped before its first output still
#: leaves a folder a later fit may reuse
MARKER = ".lookalike-fit"


def _prepare_out(out: Path) -> None:
    output_folder(out)
    earlier = (out / MARKER).exists() or (out / "search.csv").exists()  # search.csv: fits from before the marker
    if out.exists() and any(out.iterdir()) and not earlier:
        raise DataError(f"{out} exists and is not empty; give --out a new folder or an earlier fit's (nothing changed)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `lookalike fit`; a later fit may reuse this folder\n", encoding="utf-8")


class _Costs:
    """Seconds per item of each family's feature extraction, measured on a few items (a probe)."""

    def __init__(
        self, space: SearchSpace, bank: FeatureBank, n_final: int, n_val: int = 0, n_classes: int = 0,
        budget_s: float = 0.0,
    ) -> None:  # fmt: skip
        #: items embedded at the end (held-out + a share of training), validation items of one carve-out,
        #: training classes, the whole budget's seconds
        self.space, self.bank, self.n_final, self.n_val = space, bank, n_final, n_val
        self.n_classes, self.budget_s = n_classes, budget_s
        self.per_item: dict[str, float] = {}

    def probe(self, family_name: str) -> float:
        if family_name not in self.per_item:
            fam = next(f for f in self.space.families if f.name == family_name)
            sub = self.bank.dataset.subset(np.arange(min(PROBE_ITEMS, len(self.bank.dataset))))
            probe = FeatureBank(sub, cache_dir=self.bank.cache_dir.parent, batch_size=PROBE_ITEMS)
            self.per_item[family_name] = probe.probe_seconds(fam) / len(sub)
        return self.per_item[family_name]

    def extraction(self, family_name: str, items: int) -> float:
        return self.probe(family_name) * items

    def grouping_trial(self, best: Trial | None) -> float | None:
        """Seconds one trial of discovery's grouping choice takes for ``best`` (four refits of its whitening, each
        about one of its folds, plus :data:`GROUPING_TRIAL_S`), or ``None`` where none can be chosen: a trained
        candidate, or too few training classes (:func:`lookalike.training.grouping.min_classes`)."""
        if best is None or not best.candidate.closed_form(self.space):
            return None
        head = best.candidate.shrink is not None
        if self.n_classes < min_classes(head):
            return None
        return (4 * best.fold_seconds if head else 0.0) + GROUPING_TRIAL_S

    def grouping(self, best: Trial | None) -> float:
        """Seconds kept back for the grouping choice: all its trials, at most :data:`GROUPING_SHARE` of the budget."""
        per = self.grouping_trial(best)
        return 0.0 if per is None else min(GROUPING_TRIALS * per, GROUPING_SHARE * self.budget_s)

    def final(self, best: Trial | None) -> float:
        """Seconds to keep for scoring the carve-outs' pairs once more (``calibration.npz``: each fold's head again,
        or each kept fold network embedding its validation items), training the chosen recipe (with its grouping
        choice: :meth:`grouping`) and testing it once (an ensemble embeds the held-out items with each fold network
        too)."""
        return self.core(best) + self.grouping(best)

    def core(self, best: Trial | None) -> float:
        """:meth:`final` without the grouping choice."""
        if best is None:
            return 0.0
        fam, _ = self.space.family(best.candidate.feature)
        members = len(best.nets) * best.embed_seconds_per_item * self.n_final
        pairs = len(best.nets) * best.embed_seconds_per_item * self.n_val if fam.is_scratch else (
            len(best.fold_scores) * best.fold_seconds)  # fmt: skip
        return self.extraction(fam.name, self.n_final) + 2 * best.fold_seconds + members + pairs + FINAL_OVERHEAD_S


def fit(
    data: str | Path,
    out: str | Path,
    *,
    budget: float = 10.0,
    holdout: float = 0.2,
    seed: int = 0,
    space: str | Path | SearchSpace | None = None,
    max_trials: int | None = None,
    cache_dir: str = "~/.cache/lookalike/features",
    progress: bool | None = None,
    on_bad: OnBad = "error",
) -> FitResult:
    """Choose, train and test a model for ``data`` within ``budget`` minutes; see the module docstring.

    ``space``: a modality name, a search-space YAML or a :class:`SearchSpace` (default: the data's modality).
    ``max_trials`` caps the search (the budget still applies). ``progress``: a bar with ETA (default: when
    stderr is a terminal), else one log line per trial. ``on_bad='skip'``: a folder's or manifest's unreadable
    images are left out (recorded in ``out/protocol.yaml``) instead of refusing the data.
    """
    t_start = time.monotonic()
    if not budget > 0:
        raise ConfigError(f"--budget must be a positive number of minutes; got {budget}")
    if not 0 < holdout < 1:
        raise ConfigError(f"--holdout must lie strictly between 0 and 1 (a fraction of the classes); got {holdout}")
    check_on_bad(on_bad)
    out_dir = Path(out)
    _prepare_out(out_dir)
    fd = resolve_data(data, out_dir, holdout=holdout, seed=seed, on_bad=on_bad)
    input_dim = int(np.asarray(fd.train.items).shape[1]) if fd.train.kind == "vector" else None
    modality = detect_modality(fd.train)
    sp = space if isinstance(space, SearchSpace) else load_space(space or modality, input_dim=input_dim)
    bank = FeatureBank(fd.train, cache_dir=cache_dir)
    n_test = _count_test_items(fd)
    # the final training reuses the cached training features; the held-out items are embedded once
    costs = _Costs(
        sp, bank, n_final=n_test + len(fd.train) // 10, n_val=int(sp.val_fraction * len(fd.train)),
        n_classes=len(np.unique(fd.train.labels)), budget_s=budget * 60.0,
    )  # fmt: skip
    deadline = t_start + budget * 60.0

    def need(fam: str) -> float:
        return costs.extraction(fam, len(fd.train)) + costs.extraction(fam, costs.n_final) + FINAL_OVERHEAD_S

    cheapest = min(sp.families, key=lambda f: need(f.name))
    if time.monotonic() + need(cheapest.name) > deadline:
        raise ConfigError(
            f"--budget {budget:g} min is too small for even one candidate: the cheapest ({cheapest.name}) needs "
            f"about {need(cheapest.name) / 60:.1f} min on this machine for {len(fd.train)} training and {n_test} "
            f"held-out items; give --budget {max(0.5, np.ceil(need(cheapest.name) / 30) / 2):g} or more"
        )
    left = deadline - time.monotonic()
    dropped = [f.name for f in sp.families if need(f.name) >= left]
    if dropped:  # their features alone would not be ready in time on this machine (measured, not guessed)
        log.warning("fit: families %s left out: their features need more than the %.0f s left", dropped, left)
        sp = sp.model_copy(update={"families": [f for f in sp.families if f.name not in dropped]})
    log.info("fit: %s, modality %s, %d training items, budget %.1f min", fd.protocol.name, modality, len(fd.train),
             budget)  # fmt: skip
    bar = _Progress(budget * 60.0, progress)
    outcome = run_search(
        sp, bank, seed=seed, deadline=deadline, reserve=costs.final,
        affordable=lambda fam, left: need(fam) < left,
        max_trials=max_trials, on_trial=bar.update,
    )  # fmt: skip
    bar.close()
    best = outcome.best
    search_csv = write_search_csv(outcome.trials, sp.folds, out_dir / "search.csv")
    log.info("chose %s: validation MAP@R %.3f ± %.3f over %d folds", best.candidate.describe(), best.mean, best.std,
             len(best.fold_scores))  # fmt: skip

    grouping_trials, grouping_note = _grouping_trials(costs, best, deadline - time.monotonic())
    recipe = best.candidate.train_config(
        sp, protocol=str(fd.protocol_path), output_dir=str((out_dir / "train").resolve()), seed=seed,
        batch_size=outcome.batch_size, cache_dir=cache_dir, n_classes=outcome.min_classes,
        discovery_trials=grouping_trials,
    )  # fmt: skip
    recipe_text = _recipe_header(best, sp, fd.protocol.name) + yaml.safe_dump(recipe, sort_keys=False)
    recipe_path = out_dir / "recipe.yaml"
    recipe_path.write_text(recipe_text, encoding="utf-8")
    pairs = unseen_pairs(outcome, sp, bank, seed=seed)
    calibration_path = pairs.save(out_dir) if pairs is not None else None
    if calibration_path is None:  # a reused folder must not keep an earlier fit's pairs beside this fit's model
        (out_dir / CALIBRATION_FILE).unlink(missing_ok=True)
    bank.seed_training_cache(*sp.family(best.candidate.feature), cache_dir=cache_dir, seed=seed)
    members = best.nets if sp.family(best.candidate.feature)[0].ensembles else None
    model_dir, heldout = train_and_test(recipe_path, fd.protocol_path, out_dir, members=members)
    if grouping_trials:
        choice = _trained_grouping(out_dir / "train")
        if choice is None:
            grouping_note = "the library default (the training chose none; see its log)"
        elif pairs is None:
            grouping_note = f"{choice.summary()}; not kept: no {CALIBRATION_FILE} to keep it in"
        else:
            pairs = replace(pairs, grouping=choice.to_dict())
            calibration_path = pairs.save(out_dir)
            grouping_note = choice.summary()
    log.info("fit: discovery grouping: %s", grouping_note)
    wall = time.monotonic() - t_start
    summary = {
        "data": str(data), "protocol": str(fd.protocol_path), "modality": modality, "budget (min)": budget,
        "trials": len(outcome.trials), "repeated proposals answered from the cache": outcome.repeats,
        "search seconds": round(outcome.seconds, 1),
        "families left out (too slow for the budget)": ", ".join(dropped) or "none",
        "chosen": best.candidate.describe(),
        "exported model": (f"ensemble of {len(members) + 1} networks: the final one and the search's fold networks"
                           if members else "one network"),
        "validation MAP@R (mean ± std over folds)": f"{best.mean:.4f} ± {best.std:.4f}",
        "held-out MAP@R": f"{heldout['retrieval']['map_at_r']:.4f}", "wall seconds": round(wall, 1),
        "pair scores of unseen classes for calibration": (
            f"{len(pairs.genuine):,} genuine / {len(pairs.impostor):,} impostor over {pairs.folds} carve-outs "
            f"({CALIBRATION_FILE})" if pairs is not None else "not kept"),
        "accept thresholds for new classes (those pairs)": pairs.operating_points() if pairs is not None else "-",
        "discovery grouping (galleries calibrated --from-fit)": grouping_note,
    }  # fmt: skip
    write_fit_report(out_dir, trials=outcome.trials, folds=sp.folds, summary=summary, recipe_yaml=recipe_text)
    log.info("wrote %s, %s, %s", recipe_path, search_csv, out_dir / "report.html")
    return FitResult(
        out_dir=out_dir, recipe_path=recipe_path, model_dir=model_dir, protocol_path=fd.protocol_path,
        modality=modality, chosen=best.candidate.describe(), params=dict(best.params), val_map_at_r=best.mean,
        val_std=best.std, val_folds=list(best.fold_scores), heldout=heldout, trials=len(outcome.trials),
        budget_seconds=budget * 60.0, search_seconds=outcome.seconds, wall_seconds=wall,
        calibration_path=calibration_path, grouping=grouping_note,
    )  # fmt: skip


def _grouping_trials(costs: _Costs, best: Trial, left: float) -> tuple[int, str]:
    """How many carve-out trials of discovery's grouping choice the time ``left`` affords after the rest of the
    final step (at most :data:`GROUPING_TRIALS`; 0 below :data:`MIN_GROUPING_TRIALS`), and why, in words."""
    per = costs.grouping_trial(best)
    if per is None:
        why = ("a trained candidate" if not best.candidate.closed_form(costs.space)
               else f"{costs.n_classes} training classes; a choice needs "
                    f"{min_classes(best.candidate.shrink is not None)}")  # fmt: skip
        return 0, f"the library default ({why})"
    trials = min(GROUPING_TRIALS, int(max(0.0, left - costs.core(best)) // per))
    if trials < MIN_GROUPING_TRIALS:
        return (
            0,
            f"the library default (the budget left {max(0.0, left):.0f} s; {MIN_GROUPING_TRIALS} trials need "
            f"about {costs.core(best) + MIN_GROUPING_TRIALS * per:.0f} s with the final training)",
        )
    return trials, f"chosen on {trials} carve-out trials"


def _trained_grouping(train_dir: Path) -> GroupingChoice | None:
    """The grouping ``lookalike train`` chose and stored in ``train_dir``'s ``calibration.npz``, if any."""
    from lookalike.training.calibration import read_unseen_pairs

    if not (train_dir / CALIBRATION_FILE).is_file():
        return None
    g = read_unseen_pairs(train_dir).grouping
    return None if g is None else GroupingChoice.from_dict(g)


def _count_test_items(fd: Any) -> int:
    """How many held-out items the final evaluation embeds (counted from labels only, never their content)."""
    return len(fd.protocol.dataset("test"))


def _recipe_header(best: Trial, space: SearchSpace, protocol: str) -> str:
    folds = ", ".join(f"{s:.3f}" for s in best.fold_scores)
    members = (
        f"# trainer.ensemble: the model joins the network trained on every class with the {len(best.nets)} fold\n"
        "# networks the search trained (the same carve-outs and seeds; `lookalike train` retrains them).\n"
        if best.nets else ""
    )  # fmt: skip
    return (
        f"# written by lookalike fit for protocol {protocol!r} ({space.modality} search space).\n"
        f"# chosen: {best.candidate.describe()}\n"
        f"# validation MAP@R {best.mean:.4f} ± {best.std:.4f} over {len(best.fold_scores)} class carve-outs of the "
        f"training classes ({folds}).\n"
        f"{members}"
        "# reproduce: lookalike train recipe.yaml   (trains on every training class; no held-out class is used)\n"
    )


def train_and_test(
    recipe_path: Path, protocol_path: Path, out_dir: Path, *, members: list[Any] | None = None
) -> tuple[Path, dict[str, Any]]:
    """Train ``recipe_path`` with ``lookalike train``, copy its model to ``out/model``, write ``heldout.json``.
    ``members``: the recipe's ``trainer.ensemble`` members, already trained (the search's fold networks)."""
    import torch

    from lookalike.evaluation.evaluate import evaluate_model
    from lookalike.evaluation.inputs import load_evaluation_data
    from lookalike.evaluation.report import write_metrics
    from lookalike.models.export import load_model
    from lookalike.training import load_train_config, train

    threads = torch.get_num_threads()
    try:
        trained = train(load_train_config(recipe_path), resume=False, members=members)
    finally:
        torch.set_num_threads(threads)  # a recipe may set trainer.threads; the caller's setting comes back
    if trained.model_dir is None:
        raise DataError("training the chosen recipe produced no model folder; see the log above")
    model_dir = out_dir / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(trained.model_dir, model_dir)
    model = load_model(model_dir)
    ev = load_evaluation_data(protocol_path)
    result = evaluate_model(model, ev.dataset, runs=ev.runs, shots=ev.shots, seed=ev.seed)
    result.info["data_spec"] = str(protocol_path)
    path = write_metrics(result, out_dir / "heldout.json")
    return model_dir, json.loads(path.read_text(encoding="utf-8"))


class _Progress:
    """A tqdm bar over the budget's seconds (ETA) on a terminal; one log line per trial otherwise."""

    def __init__(self, total_s: float, enabled: bool | None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.monotonic()
        self.bar = None
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=round(total_s), unit="s", desc="fit", leave=True)

    def update(self, trial: Trial, best: Trial | None) -> None:
        best_s = f"{best.mean:.3f}" if best is not None else "n/a"
        if self.bar is not None:
            self.bar.n = min(self.bar.total, round(time.monotonic() - self.t0))
            self.bar.set_postfix_str(f"trial {trial.number} best {best_s}")
            self.bar.refresh()
        else:
            score = f"{trial.mean:.3f}" if trial.fold_scores else "-"
            log.info("trial %d %s: %s (%s, %.1f s); best %s", trial.number, trial.state, score,
                     trial.candidate.describe(), trial.seconds, best_s)  # fmt: skip

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


__all__ = ["FitResult", "detect_modality", "fit", "train_and_test"]
