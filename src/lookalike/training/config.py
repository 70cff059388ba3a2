"""The training configuration: one validated pydantic tree, loaded from YAML with ``--set`` overrides.

Nothing below this module reads raw config dicts: :mod:`lookalike.training.builder` turns a
:class:`TrainConfig` into built objects (network, loss, miner, data) in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from lookalike.config import StrictModel, apply_overrides, read_yaml, validate
from lookalike.data.protocols import ValSpec
from lookalike.data.roots import config_path
from lookalike.models.encoder_options import EncoderOptions, TimmOptions, spec_kind, with_kind


class AugmentConfig(StrictModel):
    """Training-time image augmentation (applied to training batches only)."""

    random_resized_crop: float = Field(default=0.0, ge=0, lt=1, description="min area scale; 0 = off")
    hflip: bool = False
    color_jitter: float = Field(default=0.0, ge=0)
    grayscale: float = Field(default=0.0, ge=0, le=1, description="probability")
    rotation: float = Field(default=0.0, ge=0, description="max degrees")
    translate: float = Field(default=0.0, ge=0, lt=0.5, description="max shift, a fraction of the width/height")
    scale: float = Field(default=0.0, ge=0, lt=1, description="max relative zoom in or out (0.1: 0.9x to 1.1x)")
    #: what fills the corners a rotation/shift uncovers: mid-gray, or the median of the image's border pixels
    #: (keeps the background of characters and digits)
    fill: Literal["gray", "border"] = "gray"


class DataConfig(StrictModel):
    protocol: str = Field(
        description="the data: a protocol (YAML path, protocol:NAME or a bare name), a class folder or a manifest"
    )
    #: replaces the protocol's validation carve-out (classes are always taken from the training classes)
    val: ValSpec | None = None
    #: 'carve' trains on protocol train classes minus validation ones and selects the best epoch on validation;
    #: 'all' trains on every training class (validation included) for a fixed number of epochs (the final fit)
    train_classes: Literal["carve", "all"] = "carve"
    batch_size: int = Field(default=32, ge=2)
    m_per_class: int = Field(default=4, ge=1)
    num_workers: int = Field(default=0, ge=0)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    #: fine-tuning only: train on every class's 90/180/270-degree rotations as 3 more classes each
    rotation_classes: bool = False
    #: frozen-backbone mode: cached feature views per training item (view 0 clean, the others augmented)
    feature_views: int = Field(default=1, ge=1)
    cache_dir: str = Field(default="~/.cache/lookalike/features", description="frozen-backbone feature cache")
    #: training classes this run leaves out (an ensemble member's carve-out; see ``trainer.ensemble``)
    exclude_classes: list[str] = Field(default_factory=list)
    #: a class folder or manifest as ``protocol``: 'skip' leaves its unreadable images out (with a warning)
    #: instead of refusing the data; a protocol says so under its own ``source:``
    on_bad: Literal["error", "skip"] = "error"


class HeadConfig(StrictModel):
    type: Literal["linear", "mlp", "none"] = "linear"
    embedding_size: int | None = Field(default=None, gt=0, description="None: keep the feature size")
    hidden: int = Field(default=512, gt=0)
    bn: bool = False
    dropout: float = Field(default=0.0, ge=0, lt=1)
    #: 'whiten': a linear head fitted in closed form on the training features (learned whitening,
    #: frozen backbone only); gradient epochs may follow, or none (``trainer.max_epochs: 0``)
    init: Literal["default", "identity", "whiten"] = "default"
    whiten_shrink: float = Field(default=0.5, ge=0, lt=1, description="within-class covariance shrinkage")


class ModelConfig(StrictModel):
    encoder: str = Field(description="'timm:<model>', 'hf:<folder>', 'mlp', ...")
    #: the encoder's typed options; YAML gives a mapping, its ``kind`` is the encoder spec's prefix
    encoder_kwargs: EncoderOptions = Field(default_factory=TimmOptions)
    head: HeadConfig = Field(default_factory=HeadConfig)
    distance: str | dict[str, Any] = "cosine"
    #: 'frozen': backbone features computed once and cached on disk, only the head trains;
    #: 'finetune': end to end (``trainable_blocks`` limits it to the last blocks of a timm backbone)
    backbone: Literal["frozen", "finetune"] = "frozen"
    trainable_blocks: int | None = Field(
        default=None, ge=0, description="None = all; timm EfficientNet blocks, or hf: transformer layers"
    )
    freeze_bn: bool = True
    #: neighbours of query expansion in every search with the exported model (0 = none;
    #: :mod:`lookalike.models.expansion`); ``lookalike fit`` chooses it on the training classes' carve-outs
    query_expansion: int = Field(default=0, ge=0, le=100)
    #: neighbours each searched item is mixed with (database-side augmentation; 0 = none), chosen like it
    database_augmentation: int = Field(default=0, ge=0, le=100)
    #: graph neighbours of diffusion re-ranking (0 = none; cosine only; :mod:`lookalike.models.diffusion`), chosen
    #: like them
    diffusion: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="before")
    @classmethod
    def _options_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "encoder" in data:
            data = {**data, "encoder_kwargs": with_kind(data["encoder"], data.get("encoder_kwargs"))}
        return data

    @model_validator(mode="after")
    def _options_match(self) -> ModelConfig:
        if self.encoder_kwargs.kind != spec_kind(self.encoder):
            raise ValueError(
                f"encoder_kwargs are {self.encoder_kwargs.kind!r} options but encoder {self.encoder!r} is "
                f"{spec_kind(self.encoder)!r}; drop encoder_kwargs.kind"
            )
        name = self.distance if isinstance(self.distance, str) else self.distance.get("name", "")
        if self.diffusion and name != "cosine":
            raise ValueError(f"model.diffusion needs distance cosine (got {name!r}): set model.diffusion to 0")
        if self.diffusion and (self.query_expansion or self.database_augmentation):
            raise ValueError(
                "model.diffusion replaces query expansion and database augmentation: set model.query_expansion and "
                "model.database_augmentation to 0"
            )
        return self


class LossConfig(StrictModel):
    name: str = "multi_similarity"
    params: dict[str, Any] = Field(default_factory=dict)
    miner: str = "none"
    miner_params: dict[str, Any] = Field(default_factory=dict)


class OptimConfig(StrictModel):
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr_backbone: float = Field(default=1e-5, ge=0)
    lr_head: float = Field(default=1e-3, gt=0)
    lr_loss: float = Field(default=1e-2, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_epochs: float = Field(default=1.0, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: float | None = Field(default=1.0, gt=0)


class EnsembleConfig(StrictModel):
    """``trainer.ensemble``: beside the network trained on every training class, ``folds`` more, member ``f`` trained
    with seed ``seed + f`` on the training classes minus fold ``f``'s seeded ``fraction`` of them
    (:func:`lookalike.data.splits.class_folds`, the carve-outs ``lookalike fit`` scores on); exported as one
    ``convnet`` encoder with ``folds + 1`` members, their normalised features side by side."""

    folds: int = Field(ge=1, le=7)
    fraction: float = Field(default=0.25, gt=0, lt=1)


class TrainerConfig(StrictModel):
    max_epochs: int = Field(default=20, ge=0, description="0: no gradient epochs (whitened head)")
    #: 'auto': bf16-mixed on a GPU that supports bfloat16, else 32 (CPU autocast is slower than fp32 without AMX)
    precision: Literal["32", "bf16-mixed", "16-mixed", "auto"] = "32"
    channels_last: bool = False
    compile: bool = False
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    early_stopping_patience: int | None = Field(default=None, ge=1)
    val_every_n_epochs: int = Field(default=1, ge=1)
    progress_bar: bool = True
    limit_train_batches: int | float | None = None
    #: torch CPU threads; ``auto``: one or all, whichever trains a batch of this model faster (measured at the start)
    threads: Annotated[int, Field(ge=1)] | Literal["auto"] | None = None
    ensemble: EnsembleConfig | None = None


class DiscoveryConfig(StrictModel):
    """``discovery``: choose discovery's grouping settings for this model on carve-outs of its training classes
    (:mod:`lookalike.training.grouping`) and store them in ``calibration.npz``. Only for a model with nothing trained
    by gradient (a closed-form whitening head, or no head, on a frozen encoder), since each carve-out refits the
    head without its classes; costs four refits of the head per trial (FlickrLogos-27, 2,952-d features: 286 s on
    2 CPU cores)."""

    trials: int = Field(default=8, ge=1, le=64, description="seeded draws of enrolled and new training classes")
    far: float = Field(default=1e-3, gt=0, lt=1, description="target FAR of the accept threshold in each draw")
    shots: int = Field(default=5, ge=1, description="items enrolled per known class in each draw")


class TrainConfig(StrictModel):
    """A whole training run: ``lookalike train CONFIG.yaml --set optim.lr_head=3e-4``."""

    name: str = "run"
    seed: int = 0
    data: DataConfig
    model: ModelConfig
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    discovery: DiscoveryConfig | None = None
    output_dir: str = Field(default="runs/{name}", description="logs, checkpoints and the exported model/")

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.data.batch_size % self.data.m_per_class:
            raise ValueError(
                f"data.batch_size ({self.data.batch_size}) must be a multiple of data.m_per_class "
                f"({self.data.m_per_class}) so every batch holds whole classes"
            )
        if self.model.head.init == "whiten" and (self.model.backbone != "frozen" or self.model.head.type != "linear"):
            raise ValueError("head init 'whiten' needs model.backbone: frozen and head type: linear")
        closed_form = self.model.head.init == "whiten" or self.model.head.type == "none"
        trained = self.model.backbone != "frozen" or self.trainer.max_epochs != 0 or self.trainer.ensemble is not None
        if self.discovery is not None and (trained or not closed_form):
            raise ValueError(
                "discovery (choosing the grouping on training carve-outs) needs a model with nothing trained by "
                "gradient: model.backbone: frozen, trainer.max_epochs: 0, and head init: whiten or type: none; "
                "remove the discovery section for this recipe"
            )
        if self.model.head.init == "whiten" and (self.model.head.bn or self.model.head.dropout):
            raise ValueError("head init 'whiten' fits the Linear on the raw features; set head bn: false, dropout: 0")
        if self.trainer.max_epochs == 0 and self.model.head.init != "whiten" and self.model.head.type != "none":
            raise ValueError("trainer.max_epochs 0 trains nothing; it is meant for head init 'whiten' or type 'none'")
        if self.trainer.max_epochs == 0 and self.model.head.type == "none" and self.model.head.bn:
            raise ValueError("head bn needs training; with trainer.max_epochs 0 set head bn: false")
        if self.trainer.ensemble is not None:
            self._check_ensemble()
        if self.data.rotation_classes and (self.model.backbone != "finetune" or self.data.feature_views != 1):
            raise ValueError("data.rotation_classes rotates training images: it needs model.backbone: finetune")
        if self.data.train_classes == "all" and self.trainer.early_stopping_patience:
            raise ValueError("early stopping needs validation classes; use train_classes: carve or drop the patience")
        return self

    def _check_ensemble(self) -> None:
        m = self.model
        if m.encoder != "convnet" or m.backbone != "finetune" or m.head.type != "none":
            raise ValueError(
                "trainer.ensemble joins convnet networks trained from scratch: it needs model.encoder: convnet, "
                f"backbone: finetune and head type: none (got {m.encoder!r}, {m.backbone!r}, {m.head.type!r})"
            )
        if getattr(m.encoder_kwargs, "members", None) not in (None, 1):
            raise ValueError("trainer.ensemble sets the convnet's members itself; remove model.encoder_kwargs.members")
        if self.trainer.devices not in (1, "1") or "ddp" in self.trainer.strategy:
            raise ValueError("trainer.ensemble trains its members one after another in one process; set "
                             "trainer.devices: 1 and no ddp strategy")  # fmt: skip
        if self.data.train_classes != "all" or self.data.exclude_classes:
            raise ValueError("trainer.ensemble carves its members' classes itself: it needs data.train_classes: all "
                             "and no data.exclude_classes")  # fmt: skip

    @property
    def out_path(self) -> Path:
        return Path(self.output_dir.format(name=self.name)).expanduser()


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read, override and validate a training YAML: a path or a shipped ``recipe:NAME`` (errors name the bad keys).

    A relative protocol ``.yaml`` that is not found from the working directory is taken beside the recipe.
    """
    file = config_path(path, "recipe")
    data = apply_overrides(read_yaml(file), overrides or [])
    proto = (data.get("data") or {}).get("protocol") if isinstance(data.get("data"), dict) else None
    if isinstance(proto, str) and Path(proto).suffix in (".yaml", ".yml") and not Path(proto).is_absolute():
        beside = file.resolve().parent / proto
        if not Path(proto).exists() and beside.exists():
            data = {**data, "data": {**data["data"], "protocol": str(beside)}}
    return validate(TrainConfig, data, source=str(file))


__all__ = [
    "DataConfig",
    "HeadConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "TrainerConfig",
    "load_train_config",
]
