"""The one rule for identity names, shared by the library, the CLI and the service.

A top-level module importing nothing heavy, so the CLI checks a name before torch or a model is loaded.

A name is trimmed of surrounding whitespace, then must be 1-200 characters long, hold no control, format
(except the zero-width joiners of emoji and scripts), separator-line or unassigned characters (a newline in a
name would forge rows in ``gallery list``), and not be ``.`` or ``..`` (URL paths cannot carry them). Any
other character is fine, ``/`` included: every legal name is reachable by every route.
"""

from __future__ import annotations

import unicodedata

from lookalike.errors import DataError

MAX_NAME_CHARS = 200
_ALLOWED_FORMAT = {"\u200c", "\u200d"}  # zero-width non-joiner / joiner (emoji sequences, Indic scripts)
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def normalize_name(name: object) -> str:
    """The trimmed form under which a name is stored and looked up (no checks beyond being a string)."""
    if not isinstance(name, str):
        raise DataError(f"an identity name must be a string, got {type(name).__name__}")
    return name.strip()


def identity_name(name: object) -> str:
    """``name`` trimmed, or :class:`DataError` saying what is wrong with it and how to fix it."""
    text = normalize_name(name)
    if not text:
        raise DataError("an identity name must not be empty or blank; give the name to enroll under")
    if len(text) > MAX_NAME_CHARS:
        raise DataError(f"identity names are at most {MAX_NAME_CHARS} characters long; got {len(text)}")
    bad = [c for c in text if unicodedata.category(c) in _FORBIDDEN_CATEGORIES and c not in _ALLOWED_FORMAT]
    if bad:
        raise DataError(
            f"identity name {text[:40]!r} holds the control/invisible character U+{ord(bad[0]):04X}; "
            "names are one line of visible text"
        )
    if text in {".", ".."}:
        raise DataError(f"{text!r} cannot be an identity name (URL paths cannot carry it); choose another name")
    return text


__all__ = ["MAX_NAME_CHARS", "identity_name", "normalize_name"]
