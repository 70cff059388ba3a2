"""Every component registry of the package rejects an unknown name and lists the names it knows."""

import importlib
import pkgutil

import pytest

import lookalike
from lookalike.errors import UnknownNameError
from lookalike.registry import Registry

# modules that need optional server-side packages are still importable here (all extras are in the lock)
_SKIP_PREFIXES = ("lookalike.__main__",)


def _all_registries() -> dict[str, Registry]:
    found: dict[str, Registry] = {}
    for mod in pkgutil.walk_packages(lookalike.__path__, "lookalike."):
        if mod.name.startswith(_SKIP_PREFIXES):
            continue
        module = importlib.import_module(mod.name)
        for value in vars(module).values():
            if isinstance(value, Registry):
                found.setdefault(value.kind, value)
    return found


REGISTRIES = _all_registries()


def test_the_known_registries_are_found() -> None:
    assert {"distance", "encoder", "loss", "miner", "gallery store", "standard dataset"} <= set(REGISTRIES)


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_unknown_name_lists_known_names(kind: str) -> None:
    registry = REGISTRIES[kind]
    names = registry.names()
    assert names, f"registry {kind!r} is empty"
    with pytest.raises(UnknownNameError) as exc:
        registry.create("no-such-component-xyz")
    message = str(exc.value)
    assert kind in message
    for name in names:
        assert name in message
