"""Configuration: strict pydantic models, YAML loading and ``key=value`` overrides.

Every config model derives from :class:`StrictModel`, which rejects unknown keys; validation errors are
re-raised as :class:`~lookalike.errors.ConfigError` with the dotted path of each offending key, so a typo
in a YAML file reads ``train.lr_backbone: unknown key (did you mean ...)`` instead of a stack trace.
Domain configs (training, service, protocols) live next to the code that uses them and derive from
``StrictModel``; this module is the only place YAML text becomes validated objects.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from lookalike.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of all config models: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (itself, or the members of a union / list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def _known_keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """Field names of the sub-model found at ``loc`` (best effort, for 'did you mean').

    A discriminated union puts its tag in ``loc`` (``encoder_kwargs.timm.out_blok``): the member whose
    ``kind`` default is that tag is followed.
    """
    candidates: list[type[BaseModel]] = _models_in(model)
    for part in loc[:-1]:
        if isinstance(part, int) or not candidates:
            continue
        tagged = [c for c in candidates if "kind" in c.model_fields and c.model_fields["kind"].default == part]
        if tagged and len(candidates) > 1:
            candidates = tagged
            continue
        fields = candidates[0].model_fields
        if part not in fields:
            return []
        candidates = _models_in(fields[part].annotation)
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def format_validation_error(err: ValidationError, model: Any, source: str) -> str:
    """One line per problem, each starting with the dotted key path."""
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in loc) or "<root>"
        if e["type"] == "extra_forbidden":
            known = _known_keys(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"  {path}: unknown key{hint}; allowed keys here: {', '.join(known) or 'none'}")
        else:
            # a check across keys (a model validator) reports a whole section as its input: the message names
            # the keys already, so the section is not echoed back
            got = "" if isinstance(e.get("input"), dict) else f" (got {e.get('input')!r})"
            lines.append(f"  {path}: {e['msg'].removeprefix('Value error, ')}{got}")
    return "\n".join(lines)


def validate(model: type[M], data: Any, source: str = "<config>") -> M:
    """Validate ``data`` as ``model`` or raise :class:`ConfigError` naming every bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, model, source)) from None


def validate_as(tp: Any, data: Any, source: str = "<config>") -> Any:
    """Like :func:`validate`, for a type that is not a model (e.g. a discriminated union)."""
    try:
        return TypeAdapter(tp).validate_python(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, tp, source)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=0.1"`` → (["train", "lr"], 0.1); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form key.path=value (e.g. train.epochs=5)")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({err})") from None
    return [p for p in key.strip().split(".") if p], value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key.path=value`` override set (missing levels created)."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(data)) if data else {}
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {text!r}: {part!r} is a value, not a section")
            node = nxt
        node[path[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"config file {str(p)!r} does not exist; check the path (shipped: recipe:NAME, protocol:NAME)"
        )
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {str(p)!r} is not UTF-8 (offset {err.start}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping at the top, got {type(data).__name__}")
    return data


def load_config(model: type[M], path: str | Path | None = None, overrides: list[str] | None = None) -> M:
    """Load ``path`` (optional), apply ``overrides``, validate as ``model``."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    source = str(path) if path is not None else "<overrides>"
    return validate(model, data, source)


__all__ = ["StrictModel", "apply_overrides", "load_config", "parse_override", "read_yaml", "validate", "validate_as"]
