"""``train(cfg)``: build, fit with Lightning, pick the best validation epoch, export a model folder."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from lookalike.errors import ConfigError
from lookalike.models.embedder import EmbeddingModel
from lookalike.models.export import save_model
from lookalike.paths import output_folder
from lookalike.training.builder import build
from lookalike.training.config import TrainConfig

log = logging.getLogger(__name__)
MONITOR = "val/map_at_r"


@dataclass
class TrainResult:
    """What a run produced."""

    model_dir: Path | None
    output_dir: Path
    best_val_map_at_r: float | None
    best_epoch: int | None
    epochs_run: int
    wall_seconds: float
    resumed_from: Path | None


def _callbacks(cfg: TrainConfig, ckpt_dir: Path, has_val: bool) -> list:
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

    if has_val:
        best = ModelCheckpoint(
            dirpath=ckpt_dir,
            monitor=MONITOR,
            mode="max",
            save_last=True,
            filename="best-{epoch:03d}",
            save_top_k=1,
            auto_insert_metric_name=False,
        )
    else:
        best = ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0)
    cbs = [best, LearningRateMonitor(logging_interval="epoch")]
    if has_val and cfg.trainer.early_stopping_patience:
        cbs.append(EarlyStopping(monitor=MONITOR, mode="max", patience=cfg.trainer.early_stopping_patience))
    return cbs


def resolve_precision(precision: str, accelerator: str = "auto") -> Any:
    """``"auto"`` → ``"bf16-mixed"`` where a CUDA device supports bfloat16 (and the run may use it), else ``"32"``."""
    if precision != "auto":
        return precision
    gpu_ok = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return "bf16-mixed" if gpu_ok else "32"


def _set_auto_threads(cfg: TrainConfig, network: Any) -> None:
    """``trainer.threads: auto``: one or all of torch's threads, whichever trains a batch of this network faster
    (measured on a random batch of its input shape; only where the whole network trains on images)."""
    from lookalike.training.threads import resolve_threads

    size = network.encoder.preprocessing().get("input_size")
    trains_images = cfg.model.backbone != "frozen" and network.encoder.kind == "image" and size
    shape = (cfg.data.batch_size, 3, int(size or 0), int(size or 0))
    n = resolve_threads("auto", network, (lambda: torch.randn(shape)) if trains_images else None)
    if n:
        torch.set_num_threads(n)
    log.info("trainer.threads auto: %d torch thread(s)", torch.get_num_threads())


def train(
    cfg: TrainConfig, *, resume: bool = True, extra_callbacks: Sequence[Any] = (), members: Sequence[Any] | None = None
) -> TrainResult:
    """Run ``cfg``; with ``resume`` a run killed earlier continues from ``<output>/checkpoints/last.ckpt``.

    ``extra_callbacks`` are Lightning callbacks added to the run's own (a throughput timer, say). With
    ``trainer.ensemble`` the members are trained after the main network (``<output>/members/<f>``), or taken
    from ``members`` (networks already trained on exactly those carve-outs and seeds: ``lookalike fit``'s folds).
    """
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from lookalike.training.datamodule import EmbeddingDataModule

    start = time.perf_counter()
    ens = cfg.trainer.ensemble
    if members is not None and (ens is None or len(members) != ens.folds):
        raise ConfigError(
            f"{len(members)} trained members were given but the config asks for "
            f"{'no ensemble' if ens is None else f'{ens.folds} (trainer.ensemble.folds)'}; give one per fold"
        )
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if isinstance(cfg.trainer.threads, int):
        torch.set_num_threads(cfg.trainer.threads)
    out = output_folder(cfg.out_path, "output_dir")
    if resume and (out / "checkpoints" / "last.ckpt").is_file():
        check_resumable(cfg, out)
        check_checkpoint(out / "checkpoints" / "last.ckpt")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
    built = build(cfg)
    if cfg.trainer.threads == "auto":
        _set_auto_threads(cfg, built.network)
    frozen = cfg.model.backbone == "frozen"
    dm = EmbeddingDataModule(splits=built.splits, network=built.network, data=cfg.data, frozen=frozen, seed=cfg.seed)
    if cfg.trainer.channels_last:
        built.network.to(memory_format=torch.channels_last)
    if cfg.trainer.compile:
        target = built.network.head if frozen else built.network.encoder
        target.forward = torch.compile(target.forward)  # type: ignore[method-assign]
    ckpt_dir = out / "checkpoints"
    has_val = built.splits.val is not None
    callbacks = _callbacks(cfg, ckpt_dir, has_val)
    callbacks += list(extra_callbacks)
    trainer = L.Trainer(
        max_epochs=cfg.trainer.max_epochs,
        precision=resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator),
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        use_distributed_sampler=False,  # the m-per-class samplers are DDP-aware themselves
        callbacks=callbacks,
        logger=[CSVLogger(out, name="logs", version=""), TensorBoardLogger(out, name="tb", version="")],
        gradient_clip_val=cfg.optim.grad_clip,
        check_val_every_n_epoch=cfg.trainer.val_every_n_epochs,
        enable_progress_bar=cfg.trainer.progress_bar,
        limit_train_batches=cfg.trainer.limit_train_batches,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=out,
    )
    if cfg.model.head.init == "whiten":
        _fit_whitened_head(built.network.head, dm, cfg.model.head.whiten_shrink, cfg.model.head.embedding_size)
    last = ckpt_dir / "last.ckpt"
    resumed = last if resume and last.is_file() else None
    if resumed:
        log.info("resuming from %s", resumed)
    best_cb = callbacks[0]
    best_score, best_epoch = None, None
    if cfg.trainer.max_epochs == 0:  # closed-form head only: validate it once, export it as it is
        if has_val:
            best_score = float(trainer.validate(built.module, datamodule=dm, verbose=False)[0][MONITOR])
    else:
        trainer.fit(built.module, datamodule=dm, ckpt_path=str(resumed) if resumed else None)
        best_score = float(best_cb.best_model_score) if has_val and best_cb.best_model_score is not None else None
    if cfg.trainer.max_epochs and has_val and best_cb.best_model_path:
        state = torch.load(best_cb.best_model_path, map_location="cpu", weights_only=False)
        built.module.load_state_dict(state["state_dict"])
        best_epoch = int(state["epoch"])
    model_dir = None
    if trainer.is_global_zero:
        network = built.network.cpu().float().eval()
        if cfg.trainer.channels_last:
            network.to(memory_format=torch.contiguous_format)
        if cfg.trainer.ensemble is not None:
            nets = list(members) if members is not None else _train_members(cfg, built.splits.train, resume=resume)
            network = _join_members(network, nets)
        extra = {
            "run": cfg.name,
            "best_val_map_at_r": best_score,
            "best_epoch": best_epoch,
            "train_config": json.loads(cfg.model_dump_json()),
        }
        model = EmbeddingModel.from_network(
            network, label_names=built.splits.train.class_names, extra=extra,
            query_expansion=cfg.model.query_expansion, database_augmentation=cfg.model.database_augmentation,
            diffusion=cfg.model.diffusion,
        )  # fmt: skip
        model_dir = save_model(model, out / "model")
        _write_unseen_pairs(cfg, dm, built.network.distance, out)
    result = TrainResult(
        model_dir, out, best_score, best_epoch, int(trainer.current_epoch), time.perf_counter() - start, resumed
    )
    if trainer.is_global_zero:
        (out / "result.json").write_text(json.dumps(asdict(result), default=str, indent=2), encoding="utf-8")
    return result


def member_configs(cfg: TrainConfig, train_set: Any) -> list[TrainConfig]:
    """The run of each ``trainer.ensemble`` member: seed ``seed + f``, fold ``f``'s classes left out."""
    import numpy as np

    from lookalike.data.splits import class_folds

    ens = cfg.trainer.ensemble
    assert ens is not None
    folds = class_folds(train_set.labels, folds=ens.folds, fraction=ens.fraction, seed=cfg.seed)
    out = []
    for f, (_, held) in enumerate(folds):
        raw = cfg.model_dump()
        raw["seed"] = cfg.seed + f
        raw["name"] = f"{cfg.name}-member{f + 1}"
        raw["output_dir"] = str(cfg.out_path / "members" / str(f + 1))
        raw["trainer"]["ensemble"] = None
        raw["data"]["exclude_classes"] = [train_set.class_names[c] for c in np.unique(train_set.labels[held])]
        out.append(TrainConfig.model_validate(raw))
    return out


#: settings a resumed run may change: how long it trains and how it runs, not what it trains
RESUMABLE_CHANGES = frozenset(
    {
        "trainer.max_epochs", "trainer.val_every_n_epochs", "trainer.progress_bar", "trainer.threads",
        "trainer.accelerator", "trainer.devices", "data.num_workers", "data.cache_dir", "model.query_expansion",
        "model.database_augmentation", "model.diffusion",
    }
)  # fmt: skip


def check_resumable(cfg: TrainConfig, out: Path) -> None:
    """Refuse to resume ``out``'s checkpoint under a config that trains something else.

    Lightning would load the old weights and optimizer state and carry on (or, when the old run had finished,
    export the old weights under the new config's name): a changed learning rate, loss, data or model would be
    silently ignored. More epochs, threads or workers are fine.
    """
    previous = out / "config.json"
    if not previous.is_file():  # a run from before config.json was written: nothing to compare with
        return
    before = _flat(json.loads(previous.read_text(encoding="utf-8")))
    now = _flat(json.loads(cfg.model_dump_json()))
    # keys in both only: a setting added to the schema since the checkpoint was written is not a change
    changed = [k for k in sorted(set(before) & set(now)) if before[k] != now[k] and k not in RESUMABLE_CHANGES]
    if changed:
        shown = "; ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed[:5])
        more = f" (and {len(changed) - 5} more)" if len(changed) > 5 else ""
        raise ConfigError(
            f"{out / 'checkpoints' / 'last.ckpt'} belongs to a run with another config ({shown}{more}); resuming "
            "would continue that run, not this one. Start over with --fresh (train(..., resume=False)) or give "
            f"another output_dir; a resumed run may change only {', '.join(sorted(RESUMABLE_CHANGES))}"
        )


def check_checkpoint(path: Path) -> None:
    """A checkpoint to resume from must be a whole file: torch writes a zip archive, whose directory comes last,
    so a file cut short (a full disk, a copy interrupted) fails here cheaply instead of deep inside Lightning."""
    import zipfile

    try:
        with zipfile.ZipFile(path):
            pass
    except (zipfile.BadZipFile, OSError) as err:
        raise ConfigError(
            f"{path} is damaged ({err}): resuming from it is impossible. Start over with --fresh "
            "(train(..., resume=False)), or put back a good copy of it"
        ) from None


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _train_members(cfg: TrainConfig, train_set: Any, *, resume: bool) -> list[Any]:
    from lookalike.models.export import load_model

    nets = []
    for member in member_configs(cfg, train_set):
        log.info("ensemble member %s: %d classes left out", member.name, len(member.data.exclude_classes))
        result = train(member, resume=resume)
        assert result.model_dir is not None
        nets.append(load_model(result.model_dir).network)
    return nets


def _join_members(network: Any, members: Sequence[Any]) -> Any:
    """One network whose ``convnet`` encoder holds the main network's body, then each member's."""
    from lookalike.models.convnet import ConvNetEncoder
    from lookalike.models.heads import Head
    from lookalike.models.network import EmbeddingNet

    encoder = ConvNetEncoder.combine([network.encoder, *(m.encoder for m in members)])
    head = Head(in_dim=encoder.feature_dim, type="none")
    return EmbeddingNet(encoder=encoder, head=head, distance=network.distance).eval()


def _write_unseen_pairs(cfg: TrainConfig, dm: Any, distance: Any, out: Path) -> None:
    """``out/calibration.npz`` for a closed-form whitening head (pairs of class carve-outs, each scored by the
    whitening refitted without it: :mod:`lookalike.training.calibration`), or, with a ``discovery`` section, for a
    head-less frozen model too (nothing was fitted: every training pair is unseen); with ``discovery`` it also
    holds the grouping chosen on training carve-outs (:mod:`lookalike.training.grouping`). Any earlier run's file
    is removed otherwise (a trained head or network is not what those pairs describe)."""
    from lookalike.models.pair_scoring import pair_scores
    from lookalike.training.calibration import FILE, UnseenPairs, whitening_unseen_pairs
    from lookalike.training.grouping import choose_grouping

    stale = out / FILE
    if stale.is_file():
        stale.unlink()
    whiten = cfg.model.head.init == "whiten" and cfg.trainer.max_epochs == 0 and cfg.trainer.ensemble is None
    if not (whiten or cfg.discovery is not None):  # the config allows discovery only where nothing is trained
        return
    if dm.train_set is None:  # nothing was fitted (no head): the frozen features are cached now
        dm.setup("fit")
    feats, labels = dm.train_set.features[0].numpy(), dm.train_set.labels.numpy()
    shrink, dim = (cfg.model.head.whiten_shrink, cfg.model.head.embedding_size) if whiten else (None, None)
    if shrink is not None:
        pairs = whitening_unseen_pairs(feats, labels, distance, shrink=shrink, dim=dim, seed=cfg.seed)
    else:
        x = distance.embed(torch.from_numpy(feats)).numpy()
        scored = pair_scores(x, labels, distance, max_pairs=2_000_000, seed=cfg.seed)
        pairs = UnseenPairs(scored.genuine.astype("float32"), scored.impostor.astype("float32"), folds=0)
    if pairs is None:
        return
    if cfg.discovery is not None:
        d = cfg.discovery
        choice = choose_grouping(
            feats, labels, distance, shrink=shrink, dim=dim, far=d.far, shots=d.shots, trials=d.trials, seed=cfg.seed
        )
        pairs = replace(pairs, grouping=None if choice is None else choice.to_dict())
    path = pairs.save(out)
    log.info("unseen-class pair scores for calibration: %s (%s)", path, pairs.operating_points())


def _fit_whitened_head(head: Any, dm: Any, shrink: float, dim: int | None) -> None:
    """Set the linear head to the learned whitening of the clean cached training features."""
    from lookalike.training.whitening import fit_whitening

    dm.setup("fit")
    feats = dm.train_set.features[0].numpy()
    weight, bias = fit_whitening(feats, dm.train_set.labels.numpy(), shrink=shrink, dim=dim)
    lin = head.net[-1]
    if tuple(lin.weight.shape) != weight.shape:
        raise ConfigError(f"whitened head: Linear is {tuple(lin.weight.shape)}, whitening gives {weight.shape}")
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(weight))
        lin.bias.copy_(torch.from_numpy(bias))
    log.info("whitened head fitted on %d training features (shrink %.2f)", len(feats), shrink)


__all__ = ["TrainResult", "member_configs", "resolve_precision", "train"]
