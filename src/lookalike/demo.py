"""The end-to-end demo: data → train → evaluate on held-out classes → gallery → identify, with "unknown".

``run_demo()`` (the ``lookalike demo`` command) needs nothing but the install: by default it uses
scikit-learn's bundled handwritten digits — trains a BatchNorm head over frozen mid-level features of the
offline ImageNet EfficientNet-Lite0 on digits 0–6 (validation digits 5–6 carved
out of them), measures MAP@R on the never-seen digits 7–9, enrolls 7 and 8 with a few examples each into an
embedded gallery, calibrates the accept threshold on the validation digits, identifies every other 7, 8 and 9,
and writes the HTML evaluation report. With ``data=`` it runs the same flow on a class-per-folder dataset
(e.g. ORL faces) with a frozen ImageNet EfficientNet-Lite0 and a trained BatchNorm head.

The recipe and protocol are written as YAML into the output folder, so ``lookalike train OUT/train.yaml``
reproduces the training step on its own.
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

from lookalike.errors import DataError

log = logging.getLogger(__name__)
MARKER = ".lookalike-demo"
FL27_ANNOTATION = "flickr_logos_27_dataset_training_set_annotation.txt"

DIGITS_PROTOCOL: dict[str, Any] = {
    "name": "digits",
    "description": "scikit-learn digits: train 0-6 (validation 5-6), hold out 7-9",
    "source": {"kind": "digits"},
    "train": {"classes": {"names": ["0", "1", "2", "3", "4", "5", "6"]}},
    "val": {"names": ["5", "6"]},
    "test": {"classes": {"names": ["7", "8", "9"]}},
}


def frozen_recipe(name: str, *, input_size: int, out_block: int, batch_size: int, m_per_class: int) -> dict[str, Any]:
    """The demo's training recipe: a BatchNorm head over frozen, GeM-pooled mid-level features of the offline
    ImageNet EfficientNet-Lite0 (block ``out_block``), trained with multi-similarity loss on cached features."""
    return {
        "name": name,
        "seed": 0,
        "data": {"batch_size": batch_size, "m_per_class": m_per_class},
        "model": {
            "encoder": "timm:tf_efficientnet_lite0",
            "encoder_kwargs": {"pretrained": True, "input_size": input_size, "resize": "squash",
                               "out_block": out_block, "global_pool": "gem"},
            "head": {"type": "none", "bn": True},
            "distance": "cosine",
            "backbone": "frozen",
        },
        "loss": {"name": "multi_similarity", "miner": "multi_similarity"},
        "optim": {"lr_head": 1e-3, "warmup_epochs": 1, "grad_clip": 1.0},
        "trainer": {"max_epochs": 10, "progress_bar": True},
    }  # fmt: skip


#: 8x8 digits upscaled to 64 px: shallower features (block 4) separate strokes better than late ones
DIGITS_RECIPE = frozen_recipe("digits", input_size=64, out_block=4, batch_size=64, m_per_class=16)
#: photos (faces, logos): the recipe of configs/orl_bnhead.yaml (trained BN head on block-6 GeM features)
FOLDER_RECIPE = frozen_recipe("folder", input_size=224, out_block=6, batch_size=32, m_per_class=4)


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
    threshold: float
    target_far: float
    known_probes: int
    identified: int
    unknown_probes: int
    rejected: int
    wall_seconds: float
    notes: list[str] = field(default_factory=list)
    #: False when the data had too few items per class to train on (the pretrained backbone was used)
    trained: bool = True

    @property
    def identification_rate(self) -> float:
        return self.identified / self.known_probes if self.known_probes else float("nan")

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.unknown_probes if self.unknown_probes else float("nan")


def _prepare_out(out: Path, fresh: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DataError(
                f"{out} exists and is not a demo folder; pass --out with a new or empty folder (nothing was changed)"
            )
        if fresh:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `lookalike demo`; safe to delete\n", encoding="utf-8")


def _folder_protocol(folder: Path) -> tuple[dict[str, Any], list[str]]:
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
        "source": {"kind": "folder", "path": str(folder.resolve())},
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
    max_epochs: int | None = None,
    fresh: bool = True,
) -> DemoResult:
    """Run the whole flow; see the module docstring. Returns the figures it measured."""
    from lookalike.data.protocols import load_protocol
    from lookalike.data.splits import kshot_split
    from lookalike.evaluation.evaluate import evaluate_model
    from lookalike.evaluation.report.page import write_report
    from lookalike.gallery import Gallery
    from lookalike.models.export import load_model
    from lookalike.training import load_train_config, train

    t0 = time.perf_counter()
    out = Path(out_dir)
    _prepare_out(out, fresh)
    if data is None:
        protocol_dict, recipe = DIGITS_PROTOCOL, dict(DIGITS_RECIPE)
    else:
        folder = Path(data)
        if not folder.is_dir():
            raise DataError(f"--data {str(folder)!r} is not a folder; give a class-per-folder dataset")
        if (folder / FL27_ANNOTATION).is_file():
            return _run_flickr27_raw(folder, out, target_far=target_far, t0=t0)
        protocol_dict, _ = _folder_protocol(folder)
        recipe = dict(FOLDER_RECIPE)
    protocol_path = _write_yaml(out / "protocol.yaml", protocol_dict)
    recipe = {**recipe, "data": {**recipe["data"], "protocol": str(protocol_path.resolve())}}
    recipe["output_dir"] = str((out / "run").resolve())
    if max_epochs is not None:
        recipe["trainer"] = {**recipe["trainer"], "max_epochs": int(max_epochs)}
    train_yaml = _write_yaml(out / "train.yaml", recipe)

    protocol = load_protocol(protocol_path)
    log.info("%s", protocol.describe())
    trained = train(load_train_config(train_yaml), resume=False)
    if trained.model_dir is None:
        raise DataError("training produced no model folder; see the log above")
    model = load_model(trained.model_dir)

    # 1. held-out retrieval metrics (classes never seen in training), report with figures
    test = protocol.dataset("test")
    result = evaluate_model(model, test, progress=True, shots=(shots,))
    report = write_report(result, out / "report", title=f"lookalike demo: {protocol.name} held-out classes",
                          command=f"lookalike demo --out {out}")  # fmt: skip

    baseline = load_model(recipe["model"]["encoder"], distance=model.distance, **recipe["model"]["encoder_kwargs"])
    base = evaluate_model(baseline, test, clustering=False, verification=False, shots=())

    # 2. open set: enroll the first held-out classes with `shots` examples, never the last one(s)
    heldout = list(test.class_names)
    n_enrolled = max(1, math.ceil(len(heldout) * 2 / 3)) if len(heldout) > 1 else 1
    enrolled, never = heldout[:n_enrolled], heldout[n_enrolled:]
    split = kshot_split(test.select_classes(enrolled), shots, seed=0)
    gallery_dir = out / "gallery"
    notes: list[str] = []
    with Gallery.create(gallery_dir, model, model_source=str(trained.model_dir)) as gallery:
        for name in enrolled:
            idx = np.nonzero(split.gallery.labels == split.gallery.class_names.index(name))[0]
            gallery.enroll(name, [split.gallery.load(int(i)) for i in idx], {"source": "demo"})
        calib = gallery.calibrate(protocol.dataset("val"), target_far=target_far)
        notes.append(
            f"calibration on {calib.n_impostor} impostor / {calib.n_genuine} genuine validation pairs: "
            f"FAR {calib.far:.2%}, FRR {calib.frr:.1%} ({calib.confidence:.0%} CI "
            f"{calib.frr_ci[0]:.1%}-{calib.frr_ci[1]:.1%})"
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

    train_classes = list(protocol.dataset("train").class_names)
    return DemoResult(
        out_dir=out, model_dir=Path(trained.model_dir), gallery_dir=gallery_dir, report=report,
        train_classes=train_classes, val_classes=list(protocol.dataset("val").class_names),
        heldout_classes=heldout, enrolled=enrolled, never_enrolled=never, shots=shots,
        best_val_map_at_r=trained.best_val_map_at_r, heldout_map_at_r=float(result.retrieval.map_at_r),
        heldout_precision_at_1=float(result.retrieval.precision_at_1),
        untrained_map_at_r=float(base.retrieval.map_at_r), threshold=threshold, target_far=target_far,
        known_probes=len(known_q), identified=int(identified), unknown_probes=n_unknown, rejected=int(rejected),
        wall_seconds=time.perf_counter() - t0, notes=notes,
    )  # fmt: skip


def _run_flickr27_raw(raw: Path, out: Path, *, target_far: float, t0: float) -> DemoResult:
    """FlickrLogos-27's original layout: crop the annotated boxes, enroll every brand, identify the query set.

    The raw layout holds about one annotated box per brand, too few to train or to measure retrieval on, so
    the pretrained backbone is used as is (said in the result's notes). The query images are whole photos: 27
    show a brand, 27 show none and must come out "unknown".
    """
    from lookalike.data.flickr27 import import_flickr27
    from lookalike.data.sources import from_folder, from_manifest
    from lookalike.gallery import Gallery
    from lookalike.models.export import load_model

    imported = import_flickr27(raw, out / "imported")
    log.info("%s", imported.summary())
    if imported.query_manifest is None:
        raise DataError(f"{raw} has no query annotation file; the demo needs the query set to identify")
    crops, queries = from_folder(out / "imported"), from_manifest(imported.query_manifest)
    encoder = FOLDER_RECIPE["model"]
    model = load_model(encoder["encoder"], distance=encoder["distance"], **encoder["encoder_kwargs"])
    notes = [
        f"{imported.crops} crops of {len(imported.counts)} brands: too few per brand to train on or to measure "
        "retrieval; the pretrained backbone is used untrained and held-out MAP@R is not computed"
    ]
    gallery_dir = out / "gallery"
    with Gallery.create(gallery_dir, model, model_source=encoder["encoder"]) as gallery:
        for name in crops.class_names:
            idx = np.nonzero(crops.labels == crops.class_names.index(name))[0]
            gallery.enroll(name, [crops.load(int(i)) for i in idx], {"source": "flickr27 raw"})
        calib = gallery.calibrate(crops, target_far=target_far)
        notes.append(
            f"threshold calibrated on the enrolled crops themselves ({calib.n_impostor} impostor / "
            f"{calib.n_genuine} genuine pairs): a rough threshold, not a held-out one"
        )
        results = gallery.identify([queries.load(i) for i in range(len(queries))], k=3)
        threshold = float(gallery.threshold) if gallery.threshold is not None else float("nan")
    known = [i for i in range(len(queries)) if queries.labels[i] >= 0]
    unknown = [i for i in range(len(queries)) if queries.labels[i] < 0]
    identified = sum(results[i].identity == queries.label_name(i) for i in known)
    rejected = sum(results[i].decision == "unknown" for i in unknown)
    brands = list(crops.class_names)
    return DemoResult(
        out_dir=out, model_dir=Path(encoder["encoder"]), gallery_dir=gallery_dir, report=out / "imported",
        train_classes=[], val_classes=[], heldout_classes=brands, enrolled=brands, never_enrolled=["none"],
        shots=max(imported.counts.values()), best_val_map_at_r=None, heldout_map_at_r=float("nan"),
        heldout_precision_at_1=float("nan"), untrained_map_at_r=float("nan"), threshold=threshold,
        target_far=target_far, known_probes=len(known), identified=int(identified), unknown_probes=len(unknown),
        rejected=int(rejected), wall_seconds=time.perf_counter() - t0, notes=notes, trained=False,
    )  # fmt: skip


__all__ = ["DemoResult", "run_demo"]
