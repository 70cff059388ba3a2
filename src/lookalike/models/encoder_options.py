"""Typed options of each encoder, validated when a config is loaded (a typo fails before any image is scanned).

``EncoderOptions`` is a discriminated union on ``kind``, the encoder spec's prefix (``timm:...`` → ``timm``).
Configs keep writing ``encoder_kwargs: {out_block: 5, ...}`` beside ``encoder: timm:...``; the owning config
fills in ``kind`` from the spec (:func:`with_kind`). Each default lives here once: a ``timm:`` backbone is
pretrained unless ``pretrained: false`` is given, in training and in :func:`lookalike.models.load_model` alike.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from lookalike.config import StrictModel
from lookalike.models.faces.detect import FaceOptions


class _Options(StrictModel):
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the encoder's factory (``None`` means the factory's own default)."""
        return self.model_dump(exclude={"kind"}, exclude_none=True)


class TimmOptions(_Options):
    """``timm:<model>``; see :class:`~lookalike.models.encoders.TimmEncoder` for what each option does."""

    kind: Literal["timm"] = "timm"
    pretrained: bool | str = Field(default=True, description="True: offline package or hub weights; a file path")
    global_pool: str | list[str] = "avg"
    input_size: int | None = Field(default=None, ge=8, le=4096)
    resize: Literal["crop", "squash"] = "crop"
    drop_path_rate: float = Field(default=0.0, ge=0, lt=1)
    out_block: int | list[int] | None = None
    flip: bool = Field(default=False, description="test-time flip: mean of the image's and its mirror's features")
    blur: float = Field(default=0.0, ge=0, le=16, description="Gaussian blur sigma, px at input_size; 0 = off")


class HFOptions(_Options):
    """``hf:<folder or offline package>`` text encoder."""

    kind: Literal["hf"] = "hf"
    max_length: int = Field(default=128, ge=2)
    config_only: bool = False


class MLPOptions(_Options):
    """``mlp`` / ``mlp:<input_dim>`` over vectors."""

    kind: Literal["mlp"] = "mlp"
    input_dim: int | None = Field(default=None, gt=0)
    hidden: list[int] | None = None
    dropout: float = Field(default=0.0, ge=0, lt=1)


class IdentityOptions(_Options):
    """``identity`` / ``identity:<input_dim>``: vectors as they are."""

    kind: Literal["identity"] = "identity"
    input_dim: int | None = Field(default=None, gt=0)


class PixelsOptions(_Options):
    """``pixels``: the image itself, resized to ``size`` x ``size`` (a baseline)."""

    kind: Literal["pixels"] = "pixels"
    size: int = Field(default=16, ge=1, le=1024)
    grayscale: bool = True


class ConvNetOptions(_Options):
    """``convnet``: a compact conv net trained from scratch (:class:`~lookalike.models.convnet.ConvNetEncoder`)."""

    kind: Literal["convnet"] = "convnet"
    size: int = Field(default=28, ge=8, le=128)
    width: int = Field(default=64, ge=8, le=512)
    depth: int = Field(default=4, ge=1, le=6)
    grayscale: bool = True
    shifts: int | None = Field(
        default=None, ge=0, le=4, description="test-time translations: mean features over shifts of up to N px"
    )
    members: int | None = Field(
        default=None, ge=1, le=8, description="networks side by side (an ensemble; set by trainer.ensemble)"
    )


class FaceEncoderOptions(FaceOptions, _Options):
    """``face:dlib``: detection/alignment options plus test-time ``jitter`` (the chip is dlib's 150 px)."""

    kind: Literal["face"] = "face"
    jitter: int = Field(default=0, ge=0, le=100, description="random re-crops averaged per face (dlib num_jitters)")

    @model_validator(mode="after")
    def _fixed_chip(self) -> FaceEncoderOptions:
        if self.chip_size != 150:
            raise ValueError("face:dlib aligns to dlib's 150 px chip; remove chip_size")
        if self.template != "dlib":
            raise ValueError("face:dlib takes dlib's chip; template arcface112 is for onnx: face models")
        return self

    def kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind", "chip_size", "template"}, exclude_none=True)


class OnnxPreprocessing(StrictModel):
    """Declared input preparation of an ``onnx:`` encoder."""

    input_size: int = Field(default=112, ge=8, le=2048)
    mean: list[float] = Field(default_factory=lambda: [0.5, 0.5, 0.5], min_length=3, max_length=3)
    std: list[float] = Field(default_factory=lambda: [0.5, 0.5, 0.5], min_length=3, max_length=3)
    channel_order: Literal["rgb", "bgr"] = "rgb"
    align: Literal["none", "dlib5"] = "none"
    resize: Literal["squash", "crop"] = "squash"
    face: dict[str, Any] = Field(default_factory=dict, description="FaceOptions for align=dlib5")


class OnnxOptions(OnnxPreprocessing, _Options):
    """``onnx:<file>``: the declared preprocessing and, optionally, the file's expected sha256."""

    kind: Literal["onnx"] = "onnx"
    sha256: str | None = None


EncoderOptions = Annotated[
    TimmOptions
    | HFOptions
    | MLPOptions
    | IdentityOptions
    | PixelsOptions
    | ConvNetOptions
    | FaceEncoderOptions
    | OnnxOptions,
    Field(discriminator="kind"),
]
OPTION_KINDS = ("timm", "hf", "mlp", "identity", "pixels", "convnet", "face", "onnx")


def spec_kind(spec: str) -> str:
    """``"timm:resnet18"`` → ``"timm"``; ``"identity:512"`` → ``"identity"``."""
    return spec.split(":", 1)[0].strip().lower()


def with_kind(spec: Any, options: Any) -> Any:
    """Raw ``encoder_kwargs`` (a mapping or None) with ``kind`` taken from the encoder spec, for validation."""
    if options is None:
        options = {}
    if isinstance(options, dict) and "kind" not in options and isinstance(spec, str):
        return {"kind": spec_kind(spec), **options}
    return options


def encoder_options(spec: str, options: dict[str, Any] | None = None) -> EncoderOptions:
    """Validate ``options`` for encoder ``spec`` (a :class:`~lookalike.errors.ConfigError` names a bad key)."""
    from lookalike.config import validate_as

    opts: EncoderOptions = validate_as(EncoderOptions, with_kind(spec, options), source=f"options of encoder {spec!r}")
    return opts


__all__ = [
    "OPTION_KINDS",
    "ConvNetOptions",
    "EncoderOptions",
    "FaceEncoderOptions",
    "HFOptions",
    "IdentityOptions",
    "MLPOptions",
    "OnnxOptions",
    "OnnxPreprocessing",
    "PixelsOptions",
    "TimmOptions",
    "encoder_options",
    "spec_kind",
    "with_kind",
]
