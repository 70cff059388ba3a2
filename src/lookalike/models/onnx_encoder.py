"""``onnx:PATH``: a user's own exported model (an ArcFace-style face model, or any image model) as an encoder.

The file is run with onnxruntime; what it expects is declared, not guessed: ``input_size`` (square side),
``mean``/``std`` (RGB order, on [0, 1] pixels), ``channel_order`` (``rgb`` or ``bgr``: the order the model's first
input takes) and ``align`` (``none``: resize the whole image; ``dlib5``: detect the face and align it with dlib's
5-point template to an ``input_size`` chip, with ``face`` options, pip extra ``faces``). The file's input must be
(N, 3, H, W) float; a declared size the file cannot take is refused when the encoder is built, naming the shape the
file expects. The card records the file's sha256, so a model folder refuses a changed file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from lookalike.errors import ConfigError, DataError, ModelMismatchError, NotFoundError
from lookalike.models.encoder_options import OnnxPreprocessing
from lookalike.models.encoders import Encoder, Kind


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OnnxFileEncoder(Encoder):
    """An ONNX file mapping (N, 3, S, S) float images to (N, D) features."""

    kind: Kind = "image"
    onnx_refusal = (
        "an onnx: encoder runs its .onnx file with onnxruntime, not as a torch graph, so it cannot be exported "
        "again; deploy the model folder with lookalike (load_model / lookalike serve)"
    )

    def __init__(self, path: str, *, sha256: str | None = None, **preprocessing: Any) -> None:
        super().__init__()
        import onnxruntime as ort

        file = Path(path).expanduser()
        if not file.is_file():
            raise NotFoundError(f"onnx encoder: {str(file)!r} does not exist; give the path of an .onnx file")
        try:
            self.pre = OnnxPreprocessing.model_validate(preprocessing)
        except ValidationError as err:
            first = err.errors()[0]
            raise ConfigError(f"onnx:{file} option {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        self.sha256 = _sha256(file)
        if sha256 is not None and sha256 != self.sha256:
            raise ModelMismatchError(
                f"{file} changed since this model was exported (sha256 {self.sha256[:12]}, card says {sha256[:12]}); "
                "restore the original file or export the model again"
            )
        if self.pre.align == "dlib5":
            from lookalike.models.faces.detect import FaceOptions

            FaceOptions.model_validate({**self.pre.face, "chip_size": self.pre.input_size})
        self.spec = f"onnx:{file.resolve()}"
        self.path = str(file.resolve())
        self.session = ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ConfigError(f"onnx:{file}: the model has {len(inputs)} inputs; an encoder takes one image batch")
        self._input = inputs[0].name
        self.expected = [d if isinstance(d, int) else None for d in inputs[0].shape]
        s = self.pre.input_size
        if len(self.expected) != 4 or any(
            e is not None and e != g for e, g in zip(self.expected[1:], (3, s, s), strict=False)
        ):
            raise ConfigError(
                f"onnx:{file} expects input of shape {self._shape_text()} but input_size={s} gives (N, 3, {s}, {s}); "
                "set input_size (and the preprocessing) to what the model was exported with"
            )
        with torch.no_grad():
            self.feature_dim = int(self.forward(torch.zeros(1, 3, s, s)).shape[1])

    def _shape_text(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in self.expected) + ")"

    def preprocessing(self) -> dict[str, Any]:
        pre: dict[str, Any] = {
            "input_size": self.pre.input_size,
            "mean": list(self.pre.mean),
            "std": list(self.pre.std),
            "channel_order": self.pre.channel_order,
            "resize": self.pre.resize,
            "crop_pct": 1.0,
            "interpolation": "bilinear",
        }
        if self.pre.align == "dlib5":
            pre["face"] = {**self.pre.face, "chip_size": self.pre.input_size}
        return pre

    def config(self) -> dict[str, Any]:
        return {**self.pre.model_dump(), "sha256": self.sha256}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        got = tuple(x.shape)
        if len(got) != 4 or any(e is not None and e != g for e, g in zip(self.expected, got, strict=False)):
            raise DataError(
                f"onnx:{self.path} expects input of shape {self._shape_text()}; got {got}. "
                "Prepare images with the model's preprocessing (EmbeddingModel.embed does)"
            )
        out = self.session.run(None, {self._input: np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)})[0]
        out = np.asarray(out, dtype=np.float32)
        return torch.from_numpy(out.reshape(len(out), -1))


__all__ = ["OnnxFileEncoder", "OnnxPreprocessing"]
