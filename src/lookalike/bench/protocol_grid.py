"""The protocol grid: baselines, the default recipe and losses x distances on a held-out protocol, over seeds.

Every trained row goes through :func:`lookalike.training.train` (validation classes only choose the epoch);
the TEST classes are embedded once per run, at the end, and scored with
:func:`lookalike.evaluation.retrieval_metrics` (MAP@R, P@1). The grid and the PML baseline train a head on
frozen backbone features cached once per protocol (feasible on a CPU); the default recipe runs as its YAML
says (read at run time). Loss x distance pairs the library refuses (:class:`ConfigError`) become rows that
say so instead of vanishing.
"""

from __future__ import annotations

import csv
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import ConfigError, DataError
from lookalike.training.config import TrainConfig, load_train_config

log = logging.getLogger(__name__)

GRID_LOSSES = (
    "triplet_margin",
    "contrastive",
    "multi_similarity",
    "arcface",
    "proxy_anchor",
    "normalized_softmax",
    "supcon",
)
GRID_DISTANCES = ("cosine", "euclidean", "hyperbolic")


@dataclass(frozen=True)
class GridSpec:
    """One protocol's grid. ``recipe`` is the protocol's default training YAML (its encoder is the grid's)."""

    recipe: Path
    work_dir: Path
    losses: Sequence[str] = GRID_LOSSES
    distances: Sequence[str] = GRID_DISTANCES
    seeds: Sequence[int] = (0, 1, 2)
    epochs: int = 5
    default_seeds: Sequence[int] | None = None  # None: same as ``seeds``; () skips the default recipe
    embedding_size: int = 128
    threads: int = 2
    cache_dir: str | None = None
    baselines: bool = True


@dataclass
class RunScore:
    """One (method, seed) run; ``refused`` holds the library's reason when the combination was refused."""

    protocol: str
    method: str
    seed: int
    map_at_r: float = math.nan
    precision_at_1: float = math.nan
    val_map_at_r: float | None = None
    best_epoch: int | None = None
    seconds: float = 0.0
    refused: str | None = None


@dataclass
class GridRow:
    """Mean ± 95 % t-interval half-width over seeds (``nan`` interval with one seed)."""

    protocol: str
    method: str
    seeds: int
    map_at_r: float
    map_at_r_ci95: float
    precision_at_1: float
    precision_at_1_ci95: float
    seconds: float
    refused: str | None = None
    notes: list[str] = field(default_factory=list)


def t_interval(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % Student-t interval); the half-width is ``nan`` for fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan
    from scipy import stats

    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, half


def _score_model(model_ref: Any, protocol: str, cache_dir: str, **load_kw: Any) -> tuple[float, float]:
    """Held-out MAP@R and P@1 of a model (exported folder or encoder spec) on the protocol's TEST split."""
    import torch

    from lookalike.data.protocols import load_protocol
    from lookalike.evaluation import retrieval_metrics
    from lookalike.models import load_model
    from lookalike.training.features import cached_features

    model = load_model(model_ref, **load_kw)
    test = load_protocol(protocol).dataset("test")
    # the backbone's test features are cached on disk by weights fingerprint: frozen-backbone runs share them
    feats = cached_features(model.network.encoder, test, cache_dir=cache_dir)[0]
    with torch.no_grad():
        emb = model.network.eval().head_only(torch.from_numpy(feats)).numpy()
    m, _ = retrieval_metrics(emb, test.labels, distance=model.distance, device="cpu")
    return float(m.map_at_r), float(m.precision_at_1)


def _grid_config(base: TrainConfig, spec: GridSpec, *, name: str, seed: int, out: Path) -> TrainConfig:
    """The recipe's data and encoder, a frozen backbone and a fresh linear head, ``spec.epochs`` epochs."""
    cfg = base.model_copy(deep=True)
    cfg.name, cfg.seed, cfg.output_dir = name, seed, str(out)
    cfg.model.backbone, cfg.model.trainable_blocks = "frozen", None
    cfg.model.head = cfg.model.head.model_copy(
        update={"type": "linear", "embedding_size": spec.embedding_size, "init": "default"}
    )
    cfg.data.augment = cfg.data.augment.model_copy(update={})
    cfg.data.feature_views = 1
    cfg.trainer = cfg.trainer.model_copy(
        update={
            "max_epochs": spec.epochs,
            "early_stopping_patience": None,
            "progress_bar": False,
            "threads": spec.threads,
            "precision": "32",
            "compile": False,
            "channels_last": False,
        }
    )
    if spec.cache_dir:
        cfg.data.cache_dir = spec.cache_dir
    return TrainConfig.model_validate(cfg.model_dump())


def _train_and_score(cfg: TrainConfig, protocol: str, method: str, cache_dir: str) -> RunScore:
    from lookalike.training import train

    start = time.perf_counter()
    try:
        res = train(cfg, resume=False)
    except (ConfigError, DataError) as err:  # the library refused the combination (or the data cannot feed it)
        shutil.rmtree(cfg.out_path, ignore_errors=True)
        return RunScore(protocol, method, cfg.seed, refused=str(err), seconds=time.perf_counter() - start)
    if res.model_dir is None:
        raise ConfigError(f"run {cfg.name!r} exported no model; the grid runs in a single process (devices: 1)")
    mapr, p1 = _score_model(res.model_dir, protocol, cache_dir)
    shutil.rmtree(res.output_dir, ignore_errors=True)  # exported weights are not kept (the table is the result)
    return RunScore(
        protocol, method, cfg.seed, mapr, p1, res.best_val_map_at_r, res.best_epoch, time.perf_counter() - start
    )


def run_protocol_grid(spec: GridSpec, *, on_run: Callable[[RunScore], None] | None = None) -> list[RunScore]:
    """Every run of the grid for one protocol (see the module docstring); ``on_run`` sees each as it ends."""
    import torch

    torch.set_num_threads(spec.threads)
    base = load_train_config(spec.recipe)
    protocol = base.data.protocol
    pname = Path(protocol).stem if protocol.endswith((".yaml", ".yml")) else protocol
    cache_dir = spec.cache_dir or base.data.cache_dir
    scores: list[RunScore] = []

    def keep(s: RunScore) -> None:
        scores.append(s)
        log.info(
            "%s %s seed %d: MAP@R %.4f P@1 %.4f (%.0f s)%s",
            s.protocol,
            s.method,
            s.seed,
            s.map_at_r,
            s.precision_at_1,
            s.seconds,
            f" refused: {s.refused}" if s.refused else "",
        )
        if on_run:
            on_run(s)

    if spec.baselines:
        start = time.perf_counter()
        mapr, p1 = _score_model(
            base.model.encoder, protocol, cache_dir, distance="cosine", **base.model.encoder_kwargs.kwargs()
        )
        keep(RunScore(pname, "untrained encoder (cosine)", 0, mapr, p1, seconds=time.perf_counter() - start))
        for seed in spec.seeds:
            cfg = _grid_config(base, spec, name=f"{pname}-pml-{seed}", seed=seed, out=spec.work_dir / f"pml-{seed}")
            cfg.model.distance = "euclidean"  # PML's default LpDistance on unit-norm embeddings
            cfg.model.head = cfg.model.head.model_copy(update={"bn": False})
            cfg.data.batch_size, cfg.data.m_per_class = 32, 4
            cfg.data.augment = cfg.data.augment.model_copy(
                update={"random_resized_crop": 0.0, "color_jitter": 0.0, "hflip": False, "rotation": 0.0}
            )
            cfg.loss = cfg.loss.model_copy(
                update={"name": "triplet_margin", "params": {"margin": 0.1}, "miner": "semi_hard", "miner_params": {}}
            )
            cfg.optim = cfg.optim.model_copy(
                update={
                    "optimizer": "adam",
                    "lr_head": 1e-3,
                    "weight_decay": 0.0,
                    "warmup_epochs": 0.0,
                    "schedule": "constant",
                    "grad_clip": None,
                }
            )
            keep(_train_and_score(cfg, pname, "PML triplet recipe (frozen features)", cache_dir))
    for seed in spec.seeds if spec.default_seeds is None else spec.default_seeds:
        cfg = base.model_copy(deep=True)
        cfg.seed, cfg.name, cfg.output_dir = seed, f"{pname}-default-{seed}", str(spec.work_dir / f"default-{seed}")
        if spec.cache_dir:
            cfg.data.cache_dir = spec.cache_dir
        keep(
            _train_and_score(
                TrainConfig.model_validate(cfg.model_dump()), pname, f"default recipe ({spec.recipe.name})", cache_dir
            )
        )
    for loss in spec.losses:
        for dist in spec.distances:
            for seed in spec.seeds:
                cfg = _grid_config(
                    base,
                    spec,
                    name=f"{pname}-{loss}-{dist}-{seed}",
                    seed=seed,
                    out=spec.work_dir / f"{loss}-{dist}-{seed}",
                )
                cfg.model.distance = dist
                cfg.loss = cfg.loss.model_copy(update={"name": loss, "params": {}, "miner": "none", "miner_params": {}})
                s = _train_and_score(cfg, pname, f"{loss} / {dist}", cache_dir)
                keep(s)
                if s.refused:
                    break  # the refusal does not depend on the seed
    return scores


def summarize(scores: Sequence[RunScore]) -> list[GridRow]:
    """One row per (protocol, method), in first-seen order."""
    groups: dict[tuple[str, str], list[RunScore]] = {}
    for s in scores:
        groups.setdefault((s.protocol, s.method), []).append(s)
    rows = []
    for (protocol, method), runs in groups.items():
        refused = next((r.refused for r in runs if r.refused), None)
        ok = [r for r in runs if not r.refused]
        m, mh = t_interval([r.map_at_r for r in ok])
        p, ph = t_interval([r.precision_at_1 for r in ok])
        rows.append(GridRow(protocol, method, len(ok), m, mh, p, ph, sum(r.seconds for r in runs), refused))
    return rows


def _fmt(mean: float, half: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def write_tables(rows: Sequence[GridRow], out_dir: Path, *, header: str = "") -> tuple[Path, Path]:
    """``grid.md`` (markdown table) and ``grid.csv`` in ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, cs = out_dir / "grid.md", out_dir / "grid.csv"
    lines = [header, ""] if header else []
    lines += ["| protocol | method | seeds | held-out MAP@R | held-out P@1 | seconds |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.refused:
            reason = r.refused.split(";")[0].replace("|", "/")
            lines.append(f"| {r.protocol} | {r.method} | - | n/a (refused: {reason}) | n/a | {r.seconds:.0f} |")
        else:
            lines.append(
                f"| {r.protocol} | {r.method} | {r.seeds} | {_fmt(r.map_at_r, r.map_at_r_ci95)} "
                f"| {_fmt(r.precision_at_1, r.precision_at_1_ci95)} | {r.seconds:.0f} |"
            )
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cols = [
        "protocol",
        "method",
        "seeds",
        "map_at_r",
        "map_at_r_ci95",
        "precision_at_1",
        "precision_at_1_ci95",
        "seconds",
        "refused",
    ]
    with cs.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([getattr(r, c) if getattr(r, c) is not None else "" for c in cols])
    return md, cs


QUICK_LOSSES = ("multi_similarity", "arcface")
QUICK_DISTANCES = ("cosine", "hyperbolic")


def resolve_recipe(name_or_path: str) -> Path:
    """``fl27`` or ``recipe:fl27`` -> the shipped recipe; ``name=path.yaml`` or a path -> that file."""
    from lookalike.data.roots import config_path

    value = name_or_path.split("=", 1)[-1]
    path = config_path(value if value.endswith((".yaml", ".yml")) or ":" in value else f"recipe:{value}", "recipe")
    if not path.is_file():
        raise ConfigError(f"no recipe for {name_or_path!r}: {path} does not exist; pass NAME=RECIPE.yaml")
    return path


def _append_run(path: Path) -> Callable[[RunScore], None]:
    """Append each finished run to ``path`` (CSV), so an interrupted grid keeps what it measured."""
    cols = list(RunScore.__dataclass_fields__)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(cols)

    def append(s: RunScore) -> None:
        with path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(["" if getattr(s, c) is None else getattr(s, c) for c in cols])

    return append


def run_grid(
    recipes: Sequence[Path],
    out_dir: Path,
    *,
    seeds: int = 3,
    epochs: int = 5,
    default_seeds: int | None = None,
    quick: bool = False,
    threads: int = 2,
    cache_dir: str | None = None,
    command: str = "",
) -> tuple[list[GridRow], Path, Path]:
    """Run the grid for every recipe's protocol and write ``grid.md`` / ``grid.csv`` (+ ``runs.csv``) to ``out_dir``."""
    import datetime
    import platform

    start = time.perf_counter()
    scores: list[RunScore] = []
    append = _append_run(out_dir / "runs.csv")  # written as runs finish
    for recipe in recipes:
        spec = GridSpec(
            recipe=recipe,
            work_dir=out_dir / "work" / recipe.stem,
            losses=QUICK_LOSSES if quick else GRID_LOSSES,
            distances=QUICK_DISTANCES if quick else GRID_DISTANCES,
            seeds=tuple(range(1 if quick else seeds)),
            epochs=1 if quick else epochs,
            default_seeds=None if default_seeds is None else tuple(range(default_seeds)),
            threads=threads,
            cache_dir=cache_dir,
        )
        scores += run_protocol_grid(spec, on_run=append)
    shutil.rmtree(out_dir / "work", ignore_errors=True)
    wall = time.perf_counter() - start
    rows = summarize(scores)
    now = datetime.datetime.now(datetime.timezone.utc)
    header = (
        f"Held-out MAP@R / P@1, mean ± 95 % t-interval over seeds. {now:%Y-%m-%d %H:%M} "
        f"UTC, {platform.node()} ({platform.processor() or platform.machine()}, {threads} torch threads), "
        f"wall time {wall:.0f} s. Command: `{command}`"
    )
    md, cs = write_tables(rows, out_dir, header=header)
    return rows, md, cs


__all__ = [
    "GRID_DISTANCES",
    "GRID_LOSSES",
    "GridRow",
    "GridSpec",
    "RunScore",
    "resolve_recipe",
    "run_grid",
    "run_protocol_grid",
    "summarize",
    "t_interval",
    "write_tables",
]
