"""The end-to-end demo: data → fit → evaluate on held-out classes → gallery → identify, with "unknown".

``run_demo()`` (the ``lookalike demo`` command) needs nothing but the install: by default it uses
scikit-learn's bundled handwritten digits — ``lookalike fit`` chooses and trains a model on digits 0–6 with no
dataset-specific setting (selection on class carve-outs of 0–6 only), measures MAP@R on the never-seen digits
7–9 against the untrained ImageNet backbone and raw pixels, enrolls 7 and 8 with a few examples each into an
embedded gallery, calibrates the accept threshold (on fit's carve-outs: pairs of training digits scored by fold
models that never saw them, :mod:`lookalike.fitting.calibration`), identifies every other 7, 8 and 9, and writes
the HTML evaluation report. With ``data=`` it runs the same flow on a class-per-folder dataset (e.g. ORL faces).

The chosen recipe is written to ``OUT/fit/recipe.yaml``: ``lookalike train`` on it reproduces the model.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lookalike.data.scan import OnBad, check_on_bad
from lookalike.errors import DataError
from lookalike.paths import output_folder

log = logging.getLogger(__name__)
MARKER = ".lookalike-demo"
#: the untrained baselines the demo compares with: shipped recipes (``src/lookalike/recipes/``)
BASELINES = {"backbone": "recipe:untrained_backbone", "pixels": "recipe:pixels"}
#: minutes ``fit`` may use inside the demo (the demo's whole run must stay within 5 minutes)
FIT_BUDGET_MIN = 2.0
#: enrollment draws the open-set check is repeated over (draw 0 is the gallery the demo writes): which few
#: examples are enrolled moves the rates a lot (on digits 7/8 with 5 shots, 9s rejected 66-97 % over 3 draws)
DRAWS = 5


@dataclass
class DemoResult:
    """What the demo measured and where it wrote things."""

    out_dir: Path
    model_dir: Path
    gallery_dir: Path
    report: Path
    train_classes: list[str]
    val_classes: list[str]
    heldout_classes: list[str]
    enrolled: list[str]
    never_enrolled: list[str]
    shots: int
    best_val_map_at_r: float | None
    heldout_map_at_r: float
    heldout_precision_at_1: float
    untrained_map_at_r: float
    pixels_map_at_r: float
    threshold: float
    target_far: float
    known_probes: int
    identified: int
    unknown_probes: int
    rejected: int
    wall_seconds: float
    notes: list[str] = field(default_factory=list)
    #: the held-out MAP@R of the plain search, when the model re-ranks (query expansion, augmentation or diffusion)
    heldout_map_at_r_plain: float | None = None
    #: False when the data had too few items per class to train on (the pretrained backbone was used)
    trained: bool = True
    #: (identified, rejected) rates of each of :data:`DRAWS` enrollment draws (seeds 0, 1, ...; same model and
    #: threshold, the gallery's own vector path); rejected is NaN when no class is left never enrolled
    draws: list[tuple[float, float]] = field(default_factory=list)

    @property
    def identification_rate(self) -> float:
        return self.identified / self.known_probes if self.known_probes else float("nan")

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.unknown_probes if self.unknown_probes else float("nan")


def _draws(model: Any, known: Any, unknown: Any, shots: int, threshold: float) -> list[tuple[float, float]]:
    """The open-set check over :data:`DRAWS` enrollment draws: each a fresh gallery (in a temporary folder) of
    ``shots`` items per known class drawn with seed 0, 1, ... (as :func:`lookalike.data.splits.kshot_split`),
    the given threshold, every other known item and every ``unknown`` item identified."""
    import tempfile

    from lookalike.data.splits import kshot_indices
    from lookalike.gallery import Gallery

    xk = model.embed_dataset(known)
    xu = model.embed_dataset(unknown) if unknown is not None else None
    out = []
    for seed in range(DRAWS):
        enrolled = kshot_indices(known.labels, shots, np.random.default_rng(seed))
        queries = np.setdiff1d(np.arange(len(known)), enrolled)
        with tempfile.TemporaryDirectory() as tmp, Gallery.create(Path(tmp) / "g", model) as g:
            for c, name in enumerate(known.class_names):
                g.enroll_vectors(name, xk[enrolled[known.labels[enrolled] == c]])
            g.set_threshold(threshold)
            found = g.identify_vectors(xk[queries], k=3) if len(queries) else []
            hits = [r.identity == known.label_name(int(i)) for r, i in zip(found, queries, strict=True)]
            identified = float(np.mean(hits)) if hits else float("nan")  # every item enrolled: nothing to identify
            rejected = float("nan")
            if xu is not None:
                rejected = float(np.mean([r.decision == "unknown" for r in g.identify_vectors(xu, k=3)]))
        out.append((identified, rejected))
    return out


def _prepare_out(out: Path, fresh: bool) -> None:
    output_folder(out)
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DataError(
                f"{out} exists and is not a demo folder; pass --out with a new or empty folder (nothing was changed)"
            )
        if fresh:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `lookalike demo`; safe to delete\n", encoding="utf-8")


def _folder_protocol(folder: Path, on_bad: OnBad = "error") -> tuple[dict[str, Any], list[str]]:
    """A held-out protocol for a class-per-folder dataset: first 75 % of classes (natural order) train."""
    from lookalike.data.splits import natural_key

    classes = sorted((p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key)
    if len(classes) < 6:
        raise DataError(
            f"{folder} has {len(classes)} class folders; the demo needs at least 6 (some to train on, "
            "some held out to enroll and some never enrolled)"
        )
    n_train = max(4, round(0.75 * len(classes)))
    protocol = {
        "name": folder.name,
        "description": f"{folder}: first {n_train} classes train, last {len(classes) - n_train} held out",
        "class_order": "natural",
        "source": {
            "kind": "folder",
            "path": str(folder.resolve()),
            **({"on_bad": on_bad} if on_bad != "error" else {}),
        },
        "train": {"classes": {"first": n_train}},
        "val": {"fraction": 0.25, "seed": 0},
        "test": {"classes": {"last": len(classes) - n_train}},
    }
    return protocol, classes


def _write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_demo(
    *,
    out_dir: str | Path = "lookalike-demo",
    data: str | Path | None = None,
    shots: int = 5,
    target_far: float = 1e-3,
    budget: float = FIT_BUDGET_MIN,
    max_trials: int | None = None,
    space: str | Path | None = None,
    fresh: bool = True,
    on_bad: OnBad = "error",
) -> DemoResult:
    """Run the whole flow; see the module docstring. Returns the figures it measured.

    ``budget`` (minutes), ``max_trials`` and ``space`` go to :func:`lookalike.fitting.fit`. ``on_bad='skip'``
    leaves the unreadable images of ``data`` out (written into the demo's protocol.yaml).
    """
    from lookalike.config import read_yaml
    from lookalike.data.protocols import load_protocol
    from lookalike.data.resolve import check_folder
    from lookalike.data.roots import packaged
    from lookalike.data.splits import kshot_split
    from lookalike.evaluation.evaluate import evaluate_model
    from lookalike.evaluation.report.page import write_report
    from lookalike.fitting import fit
    from lookalike.fitting.calibration import read_unseen_pairs
    from lookalike.gallery import Gallery
    from lookalike.models.export import load_model
    from lookalike.training.config import load_train_config

    check_on_bad(on_bad)
    t0 = time.perf_counter()
    out = Path(out_dir)
    _prepare_out(out, fresh)
    if data is None:
        protocol_dict = read_yaml(packaged("protocol", "digits"))
    else:
        folder = Path(data)
        if not folder.is_dir():
            raise DataError(f"--data {str(folder)!r} is not a folder; give a class-per-folder dataset")
        check_folder(folder)
        protocol_dict, _ = _folder_protocol(folder, on_bad)
    protocol_path = _write_yaml(out / "protocol.yaml", protocol_dict)
    fitted = fit(protocol_path, out / "fit", budget=budget, max_trials=max_trials, space=space)
    model = load_model(fitted.model_dir)
    protocol = load_protocol(protocol_path)
    log.info("%s", protocol.describe())

    # 1. held-out retrieval metrics (classes never seen in training), report with figures
    test = protocol.dataset("test")
    result = evaluate_model(model, test, progress=True, shots=(shots,))
    report = write_report(result, out / "report", title=f"lookalike demo: {protocol.name} held-out classes",
                          command=f"lookalike demo --out {out}")  # fmt: skip
    baselines = {}
    for name, recipe in BASELINES.items():
        m = load_train_config(recipe).model
        base = load_model(m.encoder, distance=m.distance, **m.encoder_kwargs.kwargs())
        baselines[name] = evaluate_model(base, test, clustering=False, verification=False, shots=())

    # 2. open set: enroll the first held-out classes with `shots` examples, never the last one(s)
    heldout = list(test.class_names)
    n_enrolled = max(1, math.ceil(len(heldout) * 2 / 3)) if len(heldout) > 1 else 1
    enrolled, never = heldout[:n_enrolled], heldout[n_enrolled:]
    split = kshot_split(test.select_classes(enrolled), shots, seed=0)
    gallery_dir = out / "gallery"
    notes = [f"fit chose {fitted.chosen} (validation MAP@R {fitted.val_map_at_r:.3f} ± {fitted.val_std:.3f}, "
             f"{fitted.trials} trials); recipe {fitted.recipe_path}"]  # fmt: skip
    calib_data = protocol.dataset("val") if protocol.val is not None else protocol.dataset("train")
    with Gallery.create(gallery_dir, model, model_source=str(fitted.model_dir)) as gallery:
        for name in enrolled:
            idx = np.nonzero(split.gallery.labels == split.gallery.class_names.index(name))[0]
            gallery.enroll(name, [split.gallery.load(int(i)) for i in idx], {"source": "demo"})
        if fitted.calibration_path is not None:
            # pairs of training classes scored by the fold models that never saw them (fit's carve-outs)
            pairs = read_unseen_pairs(fitted.out_dir)
            calib = gallery.calibrate_scores(pairs.genuine, pairs.impostor, target_far=target_far)
            notes.append(
                f"threshold calibrated on fit's {pairs.folds} carve-outs of the training classes, each scored by the "
                f"fold model that never saw it: {calib.n_impostor} impostor / {calib.n_genuine} genuine pairs, "
                f"FAR {calib.far:.2%}, FRR {calib.frr:.1%}"
            )
        else:
            calib = gallery.calibrate(calib_data, target_far=target_far)
            notes.append(
                f"threshold calibrated on training classes {', '.join(calib_data.class_names)} (seen in training, "
                f"so not held out): {calib.n_impostor} impostor / {calib.n_genuine} genuine pairs, FAR "
                f"{calib.far:.2%}, FRR {calib.frr:.1%}"
            )
        if calib.warning:
            notes.append(calib.warning)
        known_q = split.queries
        unknown_q = test.select_classes(never) if never else None
        known_ids = gallery.identify([known_q.load(i) for i in range(len(known_q))], k=3)
        identified = sum(r.identity == known_q.label_name(i) for i, r in enumerate(known_ids))
        rejected, n_unknown = 0, 0
        if unknown_q is not None:
            unknown_ids = gallery.identify([unknown_q.load(i) for i in range(len(unknown_q))], k=3)
            rejected, n_unknown = sum(r.decision == "unknown" for r in unknown_ids), len(unknown_ids)
        threshold = float(gallery.threshold) if gallery.threshold is not None else float("nan")
    draws = (
        _draws(model, test.select_classes(enrolled), unknown_q, shots, threshold) if math.isfinite(threshold) else []
    )

    train_ds = protocol.dataset("train")
    return DemoResult(
        out_dir=out, model_dir=Path(fitted.model_dir), gallery_dir=gallery_dir, report=report,
        train_classes=list(train_ds.class_names) + list(calib_data.class_names if protocol.val else []),
        val_classes=[], heldout_classes=heldout, enrolled=enrolled, never_enrolled=never, shots=shots,
        best_val_map_at_r=fitted.val_map_at_r, heldout_map_at_r=float(result.retrieval.map_at_r),
        heldout_precision_at_1=float(result.retrieval.precision_at_1),
        untrained_map_at_r=float(baselines["backbone"].retrieval.map_at_r),
        pixels_map_at_r=float(baselines["pixels"].retrieval.map_at_r), threshold=threshold, target_far=target_far,
        known_probes=len(known_q), identified=int(identified), unknown_probes=n_unknown, rejected=int(rejected),
        wall_seconds=time.perf_counter() - t0, notes=notes,
        heldout_map_at_r_plain=(result.info.get("without_query_expansion") or {}).get("map_at_r"), draws=draws,
    )  # fmt: skip


__all__ = ["DRAWS", "DemoResult", "run_demo"]
