"""Image decoding with the guards a long run needs.

:func:`load_image` turns any image item (file path, bytes, in-memory array, zip member) into an RGB
``PIL.Image``: EXIF orientation applied, grayscale / palette / 16-bit / alpha converted to RGB, and a pixel
limit checked from the header *before* any pixel is decoded (decompression bombs). Every failure is a
:class:`~lookalike.errors.DataError` that names the file.

:func:`check_image` is the cheap validation used when a dataset is scanned: it reads the header, runs
PIL's ``verify()`` and, for JPEG, checks the end-of-image marker (``verify()`` cannot see a truncated
JPEG); formats ``verify()`` does not check (PGM, BMP, ...) are decoded fully, as they are small.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lookalike.errors import DataError, ImageTooLargeError

#: default pixel limit (width x height) above which an image is refused
DEFAULT_MAX_PIXELS = 50_000_000
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)

_ZIP_HANDLES: dict[tuple[str, int, int], zipfile.ZipFile] = {}
_ZIP_LOCK = threading.Lock()


@dataclass(frozen=True)
class ZipMember:
    """A file inside a zip archive, read on demand (picklable: DataLoader workers reopen the archive)."""

    zip_path: str
    member: str

    def read_bytes(self) -> bytes:
        """The member's bytes; the archive handle is cached per process and thread."""
        key = (self.zip_path, os.getpid(), threading.get_ident())
        with _ZIP_LOCK:
            zf = _ZIP_HANDLES.get(key)
            if zf is None:
                try:
                    zf = _ZIP_HANDLES[key] = zipfile.ZipFile(self.zip_path)
                except (OSError, zipfile.BadZipFile) as err:
                    raise DataError(f"cannot open zip archive {self.zip_path!r}: {err}") from None
        try:
            return zf.read(self.member)
        except (KeyError, zipfile.BadZipFile, OSError) as err:
            raise DataError(f"cannot read {self}: {err}") from None

    def __str__(self) -> str:
        return f"{self.zip_path}!{self.member}"


def describe_item(item: Any) -> str:
    """A short human name for an image item, used in error messages."""
    if isinstance(item, (str, Path, ZipMember)):
        return str(item)
    if isinstance(item, np.ndarray):
        return f"<array {item.shape} {item.dtype}>"
    if isinstance(item, (bytes, bytearray)):
        return f"<{len(item)} bytes>"
    return f"<{type(item).__name__}>"


def _array_to_image(arr: np.ndarray, max_pixels: int, name: str) -> Image.Image:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise DataError(f"{name}: an image array must be (H, W) or (H, W, 1|3|4); got shape {arr.shape}")
    if arr.shape[0] * arr.shape[1] > max_pixels:
        raise ImageTooLargeError(f"{name}: {arr.shape[1]}x{arr.shape[0]} pixels exceeds the limit of {max_pixels}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return _to_rgb(Image.fromarray(np.ascontiguousarray(arr)))


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode → RGB (16/32-bit grayscale rescaled to 8 bits, alpha composited on white)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        im = Image.fromarray(np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8))
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA"):
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        return background
    return im.convert("RGB")


def _open(item: Any, name: str) -> Image.Image:
    """Open lazily (header only) from a path, bytes or zip member."""
    if isinstance(item, ZipMember):
        item = item.read_bytes()
    if isinstance(item, (bytes, bytearray)):
        if not item:
            raise DataError(f"{name}: empty (0 bytes); it is not an image")
        source: Any = io.BytesIO(item)
    else:
        path = Path(item)
        if not path.is_file():
            raise DataError(f"{name}: no such file; check the path or re-run the import")
        if path.stat().st_size == 0:
            raise DataError(f"{name}: empty file (0 bytes); delete or replace it")
        source = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(source)
    except Image.DecompressionBombError as err:  # PIL's own guard fires at twice its MAX_IMAGE_PIXELS
        raise ImageTooLargeError(
            f"{name}: the header announces too many pixels ({err}); refused as a possible decompression bomb"
        ) from None
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image (unknown format); remove it or fix its contents") from None
    except OSError as err:
        raise DataError(f"{name}: cannot be read as an image ({err})") from None


def _check_pixels(im: Image.Image, max_pixels: int, name: str) -> None:
    w, h = im.size
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} (possible decompression bomb); "
            "raise max_pixels only if you trust the file"
        )


def load_image(
    item: str | Path | np.ndarray | bytes | ZipMember,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
    apply_exif: bool = True,
) -> Image.Image:
    """Decode ``item`` into an RGB image, EXIF orientation applied (unless ``apply_exif=False``: raw pixel
    order, e.g. when boxes were annotated on the stored pixels).

    Raises :class:`ImageTooLargeError` when the header announces more than ``max_pixels`` pixels (before
    decoding them) and :class:`DataError` naming the file when it is missing, empty, truncated or not an image.
    """
    label = name or describe_item(item)
    if isinstance(item, np.ndarray):
        return _array_to_image(item, max_pixels, label)
    im = _open(item, label)
    try:
        _check_pixels(im, max_pixels, label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
        if (
            apply_exif and im.getexif().get(0x0112, 1) != 1
        ):  # EXIF orientation tag; exif_transpose copies, so only when needed
            im = ImageOps.exif_transpose(im) or im
        return _to_rgb(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        im.close()
        if isinstance(err, DataError):
            raise
        raise DataError(f"{label}: corrupt or truncated image ({err}); remove or replace it") from None


def _jpeg_complete(item: Any) -> bool:
    """True when the JPEG ends with an end-of-image marker (trailing padding tolerated)."""
    if isinstance(item, ZipMember):
        item = item.read_bytes()
    if isinstance(item, (bytes, bytearray)):
        tail = bytes(item[-4096:])
    else:
        with open(item, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read()
    return b"\xff\xd9" in tail


def check_image(item: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Cheap validation: ``None`` when ``item`` looks like a readable image, else the reason why not."""
    name = describe_item(item)
    if isinstance(item, np.ndarray):
        try:
            _array_to_image(item, max_pixels, name)
        except DataError as err:
            return str(err).removeprefix(f"{name}: ")
        return None
    try:
        im = _open(item, name)
    except DataError as err:
        return str(err).removeprefix(f"{name}: ")
    try:
        _check_pixels(im, max_pixels, name)
        fmt = im.format
        if fmt == "JPEG":
            im.verify()
            if not _jpeg_complete(item):
                return "truncated JPEG (no end-of-image marker); remove or replace it"
        elif fmt in ("PNG", "GIF", "TIFF", "WEBP"):
            im.verify()
        else:
            im.load()
    except ImageTooLargeError as err:
        return str(err).removeprefix(f"{name}: ")
    except Exception as err:  # PIL raises many types for corrupt data
        return f"corrupt or truncated image ({type(err).__name__}: {err})"
    finally:
        im.close()
    return None


__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_EXTENSIONS", "ZipMember", "check_image", "describe_item", "load_image"]
