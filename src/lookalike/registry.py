"""One small registry: register components by name, create them by name, list the names.

Modelled on timm's ``register_model`` / ``create_model`` / ``list_models``. A name may carry an argument
after a colon (``"timm:resnet18"``, ``"hf:/path/to/model"``): the part before the colon is looked up and
the rest is passed to the factory as its first positional argument.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from lookalike.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories that build ``T``.

    Args:
        kind: what the registry holds, used in error messages ("loss", "distance", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._takes_argument: dict[str, bool] = {}

    def register(self, name: str, *, takes_argument: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``.

        With ``takes_argument=True`` the name is used as ``"name:argument"``.
        """
        key = name.lower()

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if key in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[key] = factory
            self._takes_argument[key] = takes_argument
            return factory

        return decorator

    def names(self) -> list[str]:
        """Sorted registered names (``"timm:<model>"`` style ones shown with their placeholder)."""
        return sorted(f"{n}:<arg>" if self._takes_argument[n] else n for n in self._factories)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self._split(name)
        except UnknownNameError:
            return False
        return True

    def _split(self, name: str) -> tuple[str, str | None]:
        head, sep, arg = name.partition(":")
        key = head.strip().lower()
        if key in self._factories:
            if self._takes_argument[key] and not (sep and arg):
                raise UnknownNameError(
                    f"{self.kind} {name!r} needs an argument: write it as '{key}:<arg>' (e.g. 'timm:resnet18')."
                )
            if not self._takes_argument[key] and sep:
                raise UnknownNameError(f"{self.kind} {key!r} takes no argument; write just {key!r}.")
            return key, (arg if sep else None)
        close = difflib.get_close_matches(key, list(self._factories), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(self.names())}.")

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name`` (argument part ignored)."""
        key, _ = self._split(name)
        return self._factories[key]

    def create(self, name: str, /, **kwargs: Any) -> T:
        """Build the component ``name`` with keyword arguments ``kwargs``."""
        key, arg = self._split(name)
        factory = self._factories[key]
        if arg is not None:
            return factory(arg, **kwargs)
        return factory(**kwargs)


__all__ = ["Registry"]
