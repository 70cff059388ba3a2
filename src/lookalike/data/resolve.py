"""The one data-spec resolver: ``protocol YAML | protocol:NAME | NAME | SPEC:SPLIT | folder | manifest`` → data.

Used by train (:func:`as_protocol`), evaluate, embed, gallery, bench and the demo (:func:`load_data`):

- a protocol: a ``.yaml`` path, ``protocol:NAME`` or a bare shipped name (``orl``); ``:SPLIT`` picks the split
  (``orl:val``), else the caller's default (``test`` for evaluation);
- a class-per-folder dataset (one sub-folder per class);
- a ``.csv``/``.parquet`` manifest (rows of the split when it has a ``split`` column).

A folder in FlickrLogos-27's original layout is recognised and refused with the command that converts it.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.data.protocols import SPLITS, ClassSelection, Protocol, SourceSpec, SplitSpec, ValSpec, load_protocol
from lookalike.data.scan import OnBad, check_on_bad
from lookalike.data.splits import keep_classes
from lookalike.data.types import LabeledDataset
from lookalike.errors import ConfigError, DataError

MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")
FL27_ANNOTATION = "flickr_logos_27_dataset_training_set_annotation.txt"
#: the validation carve-out of a folder or manifest used for training, unless the config gives its own
FOLDER_VAL = ValSpec(fraction=0.2, seed=0)


def split_spec(spec: str | Path) -> tuple[str, str | None]:
    """``"orl:val"`` → ``("orl", "val")``; ``"protocol:orl"`` → ``("protocol:orl", None)``; paths stay whole."""
    text = str(spec)
    head, sep, tail = text.rpartition(":")
    if sep and head and tail in (*SPLITS, "oos") and not Path(text).exists():
        return head, tail
    return text, None


def is_protocol(spec: str | Path) -> bool:
    """Whether ``spec`` names a protocol (a YAML path, ``protocol:NAME`` or a bare name that is no file)."""
    text = str(spec)
    p = Path(text)
    if text.startswith("protocol:") or p.suffix.lower() in (".yaml", ".yml"):
        return True
    return not p.exists() and p.suffix == "" and ":" not in text


def check_folder(folder: Path) -> None:
    """Refuse a folder in a raw layout the resolver knows (FlickrLogos-27), naming the command that converts it."""
    if (folder / FL27_ANNOTATION).is_file():
        raise DataError(
            f"{folder} is FlickrLogos-27's original layout (images + box annotations), not class folders; convert "
            f"it first: `lookalike import flickr27 {folder} OUT`, then use OUT (or the shipped protocol:fl27)"
        )


def refuse_skip_for_protocol(spec: str | Path, on_bad: OnBad) -> None:
    """``on_bad='skip'`` (``--skip-bad``) is for a folder or a manifest; a protocol says it in its own source."""
    if check_on_bad(on_bad) == "skip":
        raise ConfigError(
            f"--skip-bad (on_bad='skip') applies to a class folder or a manifest, and {str(spec)!r} is a protocol: "
            "write `on_bad: skip` under its `source:` instead (a copy of a shipped protocol, if it is one)"
        )


def load_data(spec: str | Path, split: str = "test", *, on_bad: OnBad = "error") -> LabeledDataset:
    """The dataset ``spec`` names (see the module docstring); ``split`` applies unless ``spec`` ends in ``:SPLIT``.

    ``on_bad='skip'`` leaves a folder's or manifest's unreadable images out (with a warning) instead of refusing
    the data; a protocol gives its own ``on_bad`` in its source.
    """
    from lookalike.data.sources import from_folder, from_manifest

    text, named = split_spec(spec)
    split = named or split
    if is_protocol(text):
        refuse_skip_for_protocol(text, on_bad)
        try:
            return load_protocol(text).dataset(split)
        except ConfigError as err:
            if not Path(text).exists() and Path(text).suffix == "" and not text.startswith("protocol:"):
                raise DataError(f"{text!r} is neither a folder, a manifest nor a protocol name ({err})") from None
            raise
    p = Path(text)
    if p.is_dir():
        check_folder(p)
        return from_folder(p, on_bad=on_bad)
    if p.suffix.lower() in MANIFEST_SUFFIXES:
        return _manifest_split(from_manifest(p, on_bad=on_bad), p, split)
    if not p.exists():
        raise DataError(f"{str(p)!r} does not exist; give a class folder, a manifest or a protocol")
    raise DataError(f"{str(p)!r}: expected a class folder, a .csv/.parquet manifest or a protocol .yaml")


def _manifest_split(ds: LabeledDataset, path: Path, split: str) -> LabeledDataset:
    meta = ds.metadata or []
    if not any("split" in m for m in meta):
        return ds
    idx = [i for i, m in enumerate(meta) if str(m.get("split")) == split]
    if not idx:
        present = sorted({str(m.get("split")) for m in meta})
        raise DataError(f"{path}: no rows with split={split!r}; the manifest has splits {present}")
    ds = ds.subset(idx)
    present_classes = [ds.class_names[i] for i in sorted({int(x) for x in ds.labels if x >= 0})]
    return keep_classes(ds, present_classes, keep_unknown=True, name=f"{ds.name}/{split}")


def as_protocol(spec: str | Path, *, on_bad: OnBad = "error") -> Protocol:
    """A protocol for training: a protocol as is; a folder or a manifest becomes one whose classes all train
    (a manifest's ``split: train`` rows when it has a split column), 20 % of them carved out for validation,
    and no held-out test split (evaluate held-out classes with ``lookalike evaluate``). ``on_bad``: as in
    :func:`load_data`."""
    text = str(spec)
    if is_protocol(text):
        refuse_skip_for_protocol(text, on_bad)
        return load_protocol(text)
    p = Path(text).expanduser()
    if p.is_dir():
        check_folder(p)
        source = SourceSpec(kind="folder", path=str(p.resolve()), on_bad=on_bad)
    elif p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file():
        source = SourceSpec(kind="manifest", path=str(p.resolve()), on_bad=on_bad)
    else:
        raise DataError(f"data {text!r}: expected a protocol (YAML, protocol:NAME), a class folder or a manifest")
    train = SplitSpec(classes=ClassSelection(all=True))
    if source.kind == "manifest":
        from lookalike.data.sources import from_manifest

        if any("split" in m for m in from_manifest(p, on_bad=on_bad).metadata or []):
            train = SplitSpec(where={"split": "train"}, classes=ClassSelection(all=True))
    return Protocol(name=p.stem or p.name, class_order="natural", source=source, train=train, val=FOLDER_VAL)


__all__ = [
    "FOLDER_VAL",
    "as_protocol",
    "check_folder",
    "is_protocol",
    "load_data",
    "refuse_skip_for_protocol",
    "split_spec",
]
