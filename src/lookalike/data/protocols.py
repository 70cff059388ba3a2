"""Held-out protocols as small YAML files (shipped: ``src/lookalike/protocols/*.yaml``); docs/data.md has the schema.

A protocol names its data source(s), which classes train and which are held out for the final test, how
validation classes are carved out of the training classes, and the enrollment shots. Relative data paths
resolve against the data roots of :mod:`lookalike.data.roots` (``$LOOKALIKE_DATA_ROOT`` first).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from lookalike.config import StrictModel, read_yaml, validate
from lookalike.data.roots import DATA_ROOT_ENV, config_path, data_roots, packaged_folder
from lookalike.data.splits import carve_validation, keep_classes, natural_key
from lookalike.data.types import LabeledDataset
from lookalike.errors import DataError

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test", "unknown")


class SourceSpec(StrictModel):
    """Where items come from: ``kind`` picks the reader in :mod:`lookalike.data.sources`."""

    kind: Literal["folder", "manifest", "omniglot_zip", "clinc150", "digits"]
    path: str | None = None
    on_bad: Literal["error", "skip"] = "error"
    #: CLINC150 only: which JSON parts to read (train, val, test, oos_train, oos_val, oos_test)
    parts: list[str] | None = None

    @model_validator(mode="after")
    def _path_needed(self) -> SourceSpec:
        if self.kind != "digits" and not self.path:
            raise ValueError(f"source kind {self.kind!r} needs a 'path'")
        if self.parts is not None and self.kind != "clinc150":
            raise ValueError("'parts' applies to kind clinc150 only")
        return self


class ClassSelection(StrictModel):
    """Exactly one of: ``all``, ``names``, ``first``/``last`` N in the protocol's class order, ``prefixes``."""

    all: bool = False
    names: list[str] | None = None
    first: int | None = Field(default=None, ge=1)
    last: int | None = Field(default=None, ge=1)
    prefixes: list[str] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ClassSelection:
        given = [k for k in ("names", "first", "last", "prefixes") if getattr(self, k) is not None]
        if len(given) + int(self.all) != 1:
            raise ValueError(f"give exactly one of all, names, first, last, prefixes; got {given or 'none'}")
        return self

    def pick(self, ordered: list[str]) -> list[str]:
        if self.all:
            return list(ordered)
        if self.names is not None:
            return list(self.names)
        n = self.first or self.last or 0
        if n > len(ordered):
            raise DataError(f"the protocol asks for {n} classes but the data has only {len(ordered)}")
        if self.first is not None:
            return ordered[:n]
        if self.last is not None:
            return ordered[-n:]
        return [c for c in ordered if any(c.startswith(p) for p in self.prefixes or [])]


class SplitSpec(StrictModel):
    """One split: a source (default: the protocol's), a row filter on metadata, and the classes."""

    source: SourceSpec | None = None
    #: keep items whose metadata matches, e.g. ``{split: train}`` or ``{split: [test, query]}``
    where: dict[str, str | bool | int | list[str | bool | int]] = Field(default_factory=dict)
    classes: ClassSelection = Field(default_factory=lambda: ClassSelection(all=True))
    #: keep items labelled -1 (unknown) as well as the selected classes
    keep_unknown: bool = False
    #: test split only: hold out a seeded ``fraction`` of the classes (the training split loses them)
    fraction: float | None = Field(default=None, gt=0, lt=1)
    seed: int = 0


class ValSpec(StrictModel):
    """Validation classes carved out of the training classes: a seeded ``fraction`` or explicit ``names``."""

    fraction: float | None = Field(default=None, gt=0, lt=1)
    names: list[str] | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _one(self) -> ValSpec:
        if (self.fraction is None) == (self.names is None):
            raise ValueError("give exactly one of 'fraction' or 'names' for val")
        return self


class EnrollmentSpec(StrictModel):
    """k-shot enrollment of the held-out classes: gallery sizes to evaluate and the seed."""

    shots: list[int] = Field(default_factory=lambda: [1], min_length=1)
    seed: int = 0


class Protocol(StrictModel):
    """A held-out protocol. Build splits with :meth:`dataset`; print sizes with :meth:`describe`."""

    name: str
    description: str = ""
    data_root: str | None = None
    class_order: Literal["sorted", "natural"] = "sorted"
    source: SourceSpec | None = None
    train: SplitSpec
    val: ValSpec | None = None
    #: the held-out classes; None for data that only trains (a folder or manifest given to `train`)
    test: SplitSpec | None = None
    unknown: SplitSpec | None = None
    enrollment: EnrollmentSpec | None = None
    #: Omniglot: path of all_runs.zip (official 20-way one-shot runs)
    one_shot_runs: str | None = None
    #: verification pair list (LFW pairs.txt or path_a,path_b,same,fold csv), relative to the data root
    pairs: str | None = None

    #: the YAML file's folder (None for shipped protocols and protocols built in code)
    _base_dir: Path | None = PrivateAttr(default=None)
    _sources: dict[str, LabeledDataset] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _has_sources(self) -> Protocol:
        for split in ("train", "test", "unknown"):
            spec = getattr(self, split)
            if spec is not None and spec.source is None and self.source is None:
                raise ValueError(f"split {split!r} has no source and the protocol has no top-level 'source'")
        for split in ("train", "unknown"):
            spec = getattr(self, split)
            if spec is not None and spec.fraction is not None:
                raise ValueError(f"'fraction' holds classes out of the test split only; remove it from {split!r}")
        if self.test is not None and self.test.fraction is not None and not self.test.classes.all:
            raise ValueError("test: give either 'fraction' (a seeded share of the classes) or 'classes', not both")
        return self

    def with_val(self, val: ValSpec | None) -> Protocol:
        """A copy of this protocol with another validation carve-out (``None``: every training class trains)."""
        return self.model_copy(update={"val": val})

    # -- paths -------------------------------------------------------------------------------------------
    def data_dirs(self) -> list[Path]:
        """Folders relative data paths are searched in (``$LOOKALIKE_DATA_ROOT`` alone when set)."""
        if os.environ.get(DATA_ROOT_ENV):
            return data_roots()
        if self.data_root:
            return [(self._base_dir or Path.cwd()) / self.data_root]
        return [d for d in [self._base_dir] if d is not None] + data_roots()

    def resolve(self, path: str) -> Path:
        """``path`` itself when absolute, else under the first data root that holds it (else the first root)."""
        p = Path(os.path.expanduser(path))
        if p.is_absolute():
            return p
        dirs = self.data_dirs()
        return next((d / p for d in dirs if (d / p).exists()), dirs[0] / p)

    # -- building ----------------------------------------------------------------------------------------
    def _load_source(self, spec: SourceSpec) -> LabeledDataset:
        key = spec.model_dump_json()
        if key not in self._sources:
            from lookalike.data import sources

            path = self.resolve(spec.path) if spec.path else None
            if path is not None and not path.exists():
                searched = ", ".join(repr(str(d)) for d in self.data_dirs())
                raise DataError(
                    f"protocol {self.name!r}: data {spec.path!r} is not in {searched}; set {DATA_ROOT_ENV} (or "
                    "`lookalike --data-root DIR ...`) to the folder holding the data"
                )
            if spec.kind == "folder":
                ds = sources.from_folder(path, on_bad=spec.on_bad)  # type: ignore[arg-type]
            elif spec.kind == "manifest":
                ds = sources.from_manifest(path, on_bad=spec.on_bad)  # type: ignore[arg-type]
            elif spec.kind == "omniglot_zip":
                ds = sources.from_omniglot_zip(path)  # type: ignore[arg-type]
            elif spec.kind == "clinc150":
                ds = sources.from_clinc150(path, parts=spec.parts or ("train", "val", "test"))  # type: ignore[arg-type]
            else:
                ds = sources.from_digits()
            self._sources[key] = ds
        return self._sources[key]

    def _filtered(self, spec: SplitSpec) -> LabeledDataset:
        ds = self._load_source(spec.source or self.source)  # type: ignore[arg-type]
        if not spec.where:
            return ds
        meta = ds.metadata or [{} for _ in range(len(ds))]

        def matches(m: dict[str, Any]) -> bool:
            for key, want in spec.where.items():
                options = want if isinstance(want, list) else [want]
                if str(m.get(key)).lower() not in {str(o).lower() for o in options}:
                    return False
            return True

        idx = [i for i, m in enumerate(meta) if matches(m)]
        if not idx:
            raise DataError(f"protocol {self.name!r}: no item matches where={spec.where} in {ds.name}")
        return ds.subset(idx)

    def _ordered(self, names: list[str]) -> list[str]:
        return sorted(names, key=natural_key if self.class_order == "natural" else None)

    def _present(self, ds: LabeledDataset) -> list[str]:
        present = sorted({int(x) for x in ds.labels if x >= 0})
        return self._ordered([ds.class_names[i] for i in present])

    def classes(self, split: str) -> list[str]:
        """Class names of ``split`` in the protocol's order (train excludes the carved validation classes)."""
        split = _check_split(split)
        if split in ("train", "val"):
            all_train = self._all_train()
            if self.val is None:
                if split == "val":
                    raise DataError(f"protocol {self.name!r} has no 'val' section; add val: {{fraction: 0.2}}")
                return all_train
            tr, va = carve_validation(all_train, fraction=self.val.fraction, names=self.val.names, seed=self.val.seed)
            return tr if split == "train" else va
        if split == "test" and self.test is not None and self.test.fraction is not None:
            return self._held_by_fraction()
        spec = self._spec(split)
        return spec.classes.pick(self._present(self._filtered(spec)))

    def _held_by_fraction(self) -> list[str]:
        """``test: {fraction, seed}``: a seeded share of the test source's classes, in the protocol's order."""
        test = self._spec("test")
        pool = self._present(self._filtered(test))
        if len(pool) < 2:
            raise DataError(f"protocol {self.name!r}: test fraction needs at least 2 classes; the data has {len(pool)}")
        _, held = carve_validation(pool, fraction=test.fraction, seed=test.seed)
        return held

    def _all_train(self) -> list[str]:
        """Every training class (validation ones included), minus those a test ``fraction`` holds out."""
        names = self.train.classes.pick(self._present(self._filtered(self.train)))
        if self.test is None or self.test.fraction is None:
            return names
        held = set(self._held_by_fraction())
        return [c for c in names if c not in held]

    def _spec(self, split: str) -> SplitSpec:
        spec = self.train if split == "val" else getattr(self, split)
        if spec is None:
            raise DataError(f"protocol {self.name!r} has no {split!r} split; it has {self.splits()}")
        return spec

    def dataset(self, split: str) -> LabeledDataset:
        """Items of ``split`` ("train", "val", "test", "unknown"/"oos"), labels 0..k-1 in class order."""
        split = _check_split(split)
        names = self.classes(split)
        if split == "test":
            overlap = sorted(set(names) & set(self._all_train()))
            if overlap:
                raise DataError(
                    f"protocol {self.name!r}: test classes also train: {overlap[:10]}; held out means unseen"
                )
        spec = self._spec(split)
        ds = keep_classes(self._filtered(spec), names, keep_unknown=spec.keep_unknown, name=f"{self.name}/{split}")
        log.info("%s", ds.describe())
        return ds

    def splits(self) -> list[str]:
        """The splits this protocol defines."""
        return [s for s in SPLITS if (s == "val" and self.val) or (s != "val" and getattr(self, s) is not None)]

    def describe(self) -> str:
        """One line per split with its size, e.g. for ``lookalike evaluate`` to print."""
        lines = [f"protocol {self.name}: {self.description}".rstrip(": ")]
        lines += [f"  {split:8s} {self.dataset(split).describe()}" for split in self.splits()]
        if self.enrollment:
            lines.append(f"  enrollment: {self.enrollment.shots}-shot galleries (seed {self.enrollment.seed})")
        return "\n".join(lines)


def _check_split(split: str) -> str:
    split = "unknown" if split == "oos" else split
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)} (or 'oos' for unknown)")
    return split


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol YAML: a path, ``protocol:NAME`` or a bare shipped name (``fl27``)."""
    p = config_path(path, "protocol")
    protocol = validate(Protocol, read_yaml(p), source=str(p))
    if not p.resolve().is_relative_to(packaged_folder("protocol")):
        protocol._base_dir = p.resolve().parent
    return protocol


__all__ = [
    "DATA_ROOT_ENV",
    "ClassSelection",
    "EnrollmentSpec",
    "Protocol",
    "SourceSpec",
    "SplitSpec",
    "ValSpec",
    "load_protocol",
]
