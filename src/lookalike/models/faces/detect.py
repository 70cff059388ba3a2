"""Face detection and 5-point alignment with dlib: an image → the faces in it, each a box and an aligned chip.

dlib's HOG detector (default; fast, frontal faces) or its CNN (MMOD) detector finds boxes; the 5-point shape
predictor (eye corners and nose) places each face; ``dlib.get_face_chip`` warps it to the recognition model's
150 px chip. The ``detect`` policy says what to do with the frame:

- ``always``: only detected faces; none → :class:`~lookalike.errors.NoFaceError`.
- ``never``: the whole frame is the face (images that are already aligned crops).
- ``auto`` (default): detected faces; when none is found in an image no larger than ``crop_max_side`` on its
  longer side, the image is taken to be a face crop already and the whole frame is used; a larger image with
  no face is a :class:`NoFaceError`.

Before giving up (``always``, ``auto``), a second, lenient pass looks again (``retry``, on by default): one more
upsampling and a HOG threshold lowered by 0.5. On ORL's 92x112 tight crops the first pass misses 12 of 400 photos
and the second finds all of them. The whole frame is a poor stand-in for a detected box, because the 5-point
landmarks then land badly (``detect: never`` on ORL: MAP@R 0.89 instead of 0.9997 on carve-outs of s1-s30).

Model files come from the ``face-recognition-models`` package (pip extra ``faces``); nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lookalike.config import StrictModel
from lookalike.errors import ConfigError, NoFaceError

#: the model files used (all from face-recognition-models; the 68-point predictor is deliberately not used)
MODEL_FILES = {
    "shape5": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}
_INSTALL = "install the faces extra: pip install 'lookalike[faces]' (dlib-bin and face-recognition-models)"


class FaceOptions(StrictModel):
    """How faces are found and aligned (stored in the model card's preprocessing)."""

    detector: Literal["hog", "cnn"] = Field(
        default="hog", description="dlib HOG (fast) or CNN/MMOD (slower, more poses)"
    )
    detect: Literal["auto", "always", "never"] = "auto"
    upsample: int = Field(
        default=1, ge=0, le=4, description="times the image is upsampled before detection (small faces)"
    )
    chip_size: int = Field(default=150, ge=32, le=1024, description="side of the aligned chip in pixels")
    padding: float = Field(default=0.25, ge=0.0, le=2.0, description="context around the face in the chip (dlib's)")
    crop_max_side: int = Field(default=400, ge=0, description="detect=auto: images up to this side count as face crops")
    retry: bool = Field(
        default=True, description="when nothing is found, look again once more upsampled and with a lower HOG threshold"
    )
    template: Literal["dlib", "arcface112"] = Field(
        default="dlib",
        description="chip geometry: dlib's (with padding) or ArcFace's 112 px template (eye centres; padding unused)",
    )


@dataclass(frozen=True)
class Face:
    """One face: ``box`` (left, top, right, bottom) in image pixels, its aligned uint8 RGB ``chip``, and
    ``detected`` (False when the whole frame was used because no face was found or ``detect`` is never)."""

    box: tuple[int, int, int, int]
    chip: np.ndarray
    detected: bool = True

    @property
    def area(self) -> int:
        return max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1])


@dataclass(frozen=True)
class FaceEmbedding:
    """One face of an image: its ``box`` (left, top, right, bottom), its embedding ``vector`` and ``detected``."""

    box: tuple[int, int, int, int]
    vector: np.ndarray
    detected: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "detected": self.detected}


def dlib_module() -> Any:
    try:
        import dlib
    except ImportError:
        raise ConfigError(f"face models need dlib; {_INSTALL}") from None
    return dlib


def model_file(key: str) -> Path:
    """Path of a face-recognition-models file (located without importing the package, which warns)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"face models need the face-recognition-models package; {_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILES[key]
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall face-recognition-models")
    return path


@lru_cache(maxsize=4)
def _detector(kind: str) -> Any:
    dlib = dlib_module()
    if kind == "cnn":
        return dlib.cnn_face_detection_model_v1(str(model_file("cnn")))
    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def _shape_predictor() -> Any:
    return dlib_module().shape_predictor(str(model_file("shape5")))


def _rgb(image: Any) -> np.ndarray:
    from lookalike.models.preprocess import to_pil

    return np.ascontiguousarray(np.asarray(to_pil(image), dtype=np.uint8))


def detect_boxes(rgb: np.ndarray, options: FaceOptions, *, lenient: bool = False) -> list[Any]:
    """dlib rectangles of the faces in ``rgb`` (uint8 H x W x 3), largest first.

    ``lenient``: one more upsampling and, for HOG, a detection threshold lowered by 0.5 (finds faces in tight crops
    and small or turned faces that the default pass misses, at the price of more false detections).
    """
    detector = _detector(options.detector)
    if lenient and options.detector == "hog":
        found, _, _ = detector.run(rgb, options.upsample + 1, -0.5)
    else:
        found = detector(rgb, options.upsample + (1 if lenient else 0))
    rects = [d.rect if hasattr(d, "rect") else d for d in found]
    return sorted(rects, key=lambda r: -r.area())


def find_faces(image: Any, options: FaceOptions | None = None, *, name: str = "image") -> list[Face]:
    """Every face in ``image`` (PIL image, path or uint8 array), largest first, under ``options.detect``.

    Raises :class:`NoFaceError` (naming ``name``) when the policy finds no face to use.
    """
    opts = options or FaceOptions()
    dlib = dlib_module()
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    rects = [] if opts.detect == "never" else detect_boxes(rgb, opts)
    if not rects and opts.detect != "never" and opts.retry:
        rects = detect_boxes(rgb, opts, lenient=True)
    detected = bool(rects)
    if not rects:
        if opts.detect == "always" or (opts.detect == "auto" and max(h, w) > opts.crop_max_side):
            why = "detect=always" if opts.detect == "always" else f"longer side {max(h, w)} > crop_max_side"
            raise NoFaceError(
                f"no face found in {name} ({w}x{h} px, {opts.detector} detector, upsample={opts.upsample}, {why}); "
                "for small faces raise upsample or use detector=cnn; for images that are already face crops use "
                "detect=auto or detect=never"
            )
        rects = [dlib.rectangle(0, 0, w - 1, h - 1)]
    predictor = _shape_predictor()
    faces = []
    for r in rects:
        shape = predictor(rgb, r)
        if opts.template == "arcface112":
            chip = arcface_chip(rgb, [(shape.part(i).x, shape.part(i).y) for i in range(4)], opts.chip_size)
        else:
            chip = np.asarray(dlib.get_face_chip(rgb, shape, size=opts.chip_size, padding=opts.padding), np.uint8)
        box = (max(0, r.left()), max(0, r.top()), min(w, r.right() + 1), min(h, r.bottom() + 1))
        faces.append(Face(box=box, chip=chip, detected=detected))
    return faces


#: ArcFace's (insightface's) 112 px alignment template: left and right eye centres in chip pixels
ARCFACE_112_EYES = ((38.2946, 51.6963), (73.5318, 51.5014))


def eyes_to_template(eye_corners: list[tuple[float, float]], size: int) -> tuple[complex, complex]:
    """The similarity ``z -> a*z + b`` (points as complex numbers) that puts the eye centres of dlib's 5-point
    landmarks (``eye_corners``: parts 0-3, two corners per eye) on ArcFace's 112 px template scaled to ``size``.

    Two points fix a similarity exactly (rotation, scale, shift); dlib's fifth point is the base of the nose, not
    ArcFace's nose tip, and it has no mouth corners, so only the eyes are matched.
    """
    pts = [complex(x, y) for x, y in eye_corners]
    left, right = sorted([(pts[0] + pts[1]) / 2, (pts[2] + pts[3]) / 2], key=lambda z: z.real)
    if abs(right - left) < 1e-6:
        raise NoFaceError("the face's eye landmarks coincide; it cannot be aligned to the ArcFace template")
    scale = size / 112.0
    dst_left, dst_right = (complex(x * scale, y * scale) for x, y in ARCFACE_112_EYES)
    a = (dst_right - dst_left) / (right - left)
    return a, dst_left - a * left


def arcface_chip(rgb: np.ndarray, eye_corners: list[tuple[float, float]], size: int) -> np.ndarray:
    """A ``size`` x ``size`` uint8 chip of ``rgb`` with the eye centres on ArcFace's template (bilinear warp)."""
    from PIL import Image

    a, b = eyes_to_template(eye_corners, size)
    inv_a, inv_b = 1 / a, -b / a  # PIL maps each output pixel back to its input position
    coeffs = (inv_a.real, -inv_a.imag, inv_b.real, inv_a.imag, inv_a.real, inv_b.imag)
    warped = Image.fromarray(rgb).transform((size, size), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    return np.asarray(warped, dtype=np.uint8)


def face_detection_rate(images: list[Any], options: FaceOptions | None = None) -> float:
    """Share of ``images`` in which the detector finds at least one face ("does this folder look like faces?").

    Uses detection only (no ``auto`` fallback), so a folder of tight face crops that HOG misses scores low; pass
    ``FaceOptions(upsample=2)`` for those. Unreadable images count as no face.
    """
    if not images:
        return 0.0
    opts = options or FaceOptions()
    hits = 0
    for item in images:
        try:
            hits += bool(detect_boxes(_rgb(item), opts))
        except (OSError, ValueError):
            continue
    return hits / len(images)


def face_options(pre: dict[str, Any]) -> FaceOptions:
    """The :class:`FaceOptions` of a card's image ``preprocessing`` (its ``face`` entry, chip = input_size)."""
    return FaceOptions.model_validate({**pre["face"], "chip_size": int(pre.get("input_size", 150))})


def chip_tensor(chip: np.ndarray) -> Any:
    """(3, S, S) float tensor in [0, 1] of a uint8 RGB chip."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(chip.transpose(2, 0, 1))).float().div_(255.0)


@dataclass(frozen=True)
class FaceFilter:
    """Which items hold a usable face under the policy: ``kept`` indices, ``skipped`` (index, reason) pairs."""

    kept: list[int]
    skipped: list[tuple[int, str]]


def filter_faces(items: list[Any], options: FaceOptions) -> FaceFilter:
    """Split ``items`` into those with a face to use (under ``options.detect``) and those without (skip and count).

    Detection only (cheap next to the embedding); the embedding finds the same faces again.
    """
    kept, skipped = [], []
    for i, item in enumerate(items):
        try:
            find_faces(item, options, name=str(item) if isinstance(item, (str, Path)) else f"item {i}")
            kept.append(i)
        except NoFaceError as err:
            skipped.append((i, str(err)))
    return FaceFilter(kept, skipped)


@dataclass(frozen=True)
class FaceCheck:
    """Answer of :func:`looks_like_faces`: the detection ``rate`` on ``sampled`` images and the verdict."""

    rate: float
    sampled: int
    faces: bool


def looks_like_faces(
    images: list[Any], *, sample: int = 24, min_rate: float = 0.6, seed: int = 0, upsample: int = 1
) -> FaceCheck:
    """Does this data look like faces? HOG detection on a seeded sample of ``images`` (paths, PIL, arrays).

    For ``lookalike fit`` and similar: add ``face:dlib`` to the candidates when ``faces`` is True (at least
    ``min_rate`` of the sampled images hold a detectable face). Without dlib installed the answer is no.
    """
    try:
        dlib_module()
        model_file("shape5")
    except ConfigError:
        return FaceCheck(0.0, 0, False)
    rng = np.random.default_rng(seed)
    picked = [images[i] for i in sorted(rng.permutation(len(images))[: max(1, sample)].tolist())] if images else []
    rate = face_detection_rate(picked, FaceOptions(upsample=upsample))
    return FaceCheck(rate, len(picked), bool(picked) and rate >= min_rate)


class FaceChipTransform:
    """PIL image → (3, chip_size, chip_size) float tensor in [0, 1] of its largest face (the embedding input)."""

    def __init__(self, options: FaceOptions) -> None:
        self.options = options

    def __call__(self, image: Any) -> Any:
        return chip_tensor(find_faces(image, self.options)[0].chip)


__all__ = [
    "ARCFACE_112_EYES",
    "MODEL_FILES",
    "Face",
    "FaceChipTransform",
    "FaceEmbedding",
    "FaceOptions",
    "arcface_chip",
    "detect_boxes",
    "eyes_to_template",
    "face_detection_rate",
    "find_faces",
    "model_file",
]
