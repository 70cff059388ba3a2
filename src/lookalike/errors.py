"""The error family of lookalike.

Every error a user can cause is a :class:`LookalikeError`; where a builtin fits, the error is also that
builtin (``ValueError``, ``KeyError``, ``FileNotFoundError``) so ordinary ``except`` clauses keep working.
Messages name the problem *and* the fix. The CLI turns any ``LookalikeError`` into one line and exit 1;
the service turns it into one JSON error shape with a 4xx status.
"""

from __future__ import annotations


class LookalikeError(Exception):
    """Base class of every error lookalike raises on purpose."""

    #: HTTP status the service answers with for this error.
    http_status: int = 400

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(LookalikeError, ValueError):
    """A configuration file or override is invalid."""


class UnknownNameError(LookalikeError, KeyError):
    """A component name is not in its registry."""

    http_status = 404


class DataError(LookalikeError, ValueError):
    """A dataset, manifest or item cannot be used."""


class BadFilesError(DataError):
    """One or more files of a dataset are unreadable; ``bad`` lists every one with its reason."""

    def __init__(self, message: str, bad: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.bad = list(bad or [])


class NoFaceError(DataError):
    """A face model found no face in an image (``detect: always``, or ``auto`` on a large image)."""

    http_status = 422


class ImageTooLargeError(DataError):
    """An image exceeds the pixel limit (decompression-bomb guard)."""

    http_status = 413


class PayloadTooLargeError(DataError):
    """An upload exceeds the byte limit."""

    http_status = 413


class EmbeddingSizeError(LookalikeError, ValueError):
    """Vectors have the wrong number of columns for the model or gallery."""

    http_status = 422


class ModelMismatchError(LookalikeError, ValueError):
    """A gallery or checkpoint was built with a different model than the one given."""

    http_status = 409


class NotFoundError(LookalikeError, KeyError):
    """An identity, item, file or model that was asked for does not exist."""

    http_status = 404


class GalleryError(LookalikeError):
    """A gallery operation cannot be carried out (closed store, empty gallery, ...)."""

    http_status = 409


class DownloadError(LookalikeError):
    """A dataset download failed or is impossible (e.g. offline)."""


class ChecksumError(DownloadError):
    """A downloaded or supplied archive does not have the expected checksum."""


__all__ = [
    "BadFilesError",
    "ChecksumError",
    "ConfigError",
    "DataError",
    "DownloadError",
    "EmbeddingSizeError",
    "GalleryError",
    "ImageTooLargeError",
    "LookalikeError",
    "ModelMismatchError",
    "NoFaceError",
    "NotFoundError",
    "PayloadTooLargeError",
    "UnknownNameError",
]
