"""ONNX export and an onnxruntime embedder that matches the torch model (within 1e-4).

The ONNX graph covers encoder → head → ``distance.embed`` with a dynamic batch axis; the model card is
stored in the graph's metadata (key ``lookalike``), so :class:`OnnxEmbedder` needs only the ``.onnx`` file.
Image inputs are prepared exactly like :class:`~lookalike.models.embedder.EmbeddingModel` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lookalike.errors import ConfigError, DataError, NotFoundError
from lookalike.models.card import ModelCard
from lookalike.models.distances import Distance, get_distance
from lookalike.models.embedder import EmbeddingModel
from lookalike.models.preprocess import image_batch, image_transform, vector_batch

META_KEY = "lookalike"


@dataclass
class OnnxExport:
    path: Path
    max_abs_diff: float | None


def _sample_input(model: EmbeddingModel) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if model.kind == "image":
        size = int(model.card.preprocessing.get("input_size", 224))
        return torch.randn(2, 3, size, size, generator=g)
    return torch.randn(2, int(model.card.preprocessing["input_dim"]), generator=g)


def export_onnx(model: EmbeddingModel, path: str | Path, *, check: bool = True, opset: int = 17) -> OnnxExport:
    """Write ``model`` as ONNX; with ``check`` compare onnxruntime with torch on a sample batch."""
    import onnx

    if model.kind == "text":
        raise ConfigError("ONNX export supports image and vector models; text models run in torch (embed)")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = model.network.eval()
    x = _sample_input(model)
    torch.onnx.export(
        net,
        (x,),
        str(out),
        input_names=["input"],
        output_names=["embedding"],
        opset_version=opset,
        dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
        dynamo=False,
    )
    graph = onnx.load(str(out))
    entry = graph.metadata_props.add()
    entry.key, entry.value = META_KEY, model.card.model_dump_json()
    onnx.save(graph, str(out))
    diff = None
    if check:
        with torch.no_grad():
            ref = net(x).numpy()
        diff = float(np.abs(OnnxEmbedder(out).run(x.numpy()) - ref).max())
    return OnnxExport(out, diff)


class OnnxEmbedder:
    """Embeds with onnxruntime: same inputs and outputs as :meth:`EmbeddingModel.embed`."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise NotFoundError(
                f"ONNX file {str(p)!r} does not exist; write one with `lookalike export MODEL OUT --onnx`"
            )
        self.session = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if META_KEY not in meta:
            raise DataError(f"{p} has no lookalike model card in its metadata; export it with lookalike")
        self.card = ModelCard.model_validate(json.loads(meta[META_KEY]))
        self._transform: Any = None

    @property
    def distance(self) -> Distance:
        return get_distance(self.card.distance)

    @property
    def embedding_size(self) -> int:
        return self.card.embedding_size

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(["embedding"], {"input": np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def embed(self, items: Sequence[Any] | np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        if self.card.kind == "vector":
            arr = vector_batch(items, int(self.card.preprocessing["input_dim"])).numpy()
            return np.concatenate([self.run(arr[s : s + batch_size]) for s in range(0, len(arr), batch_size)])
        if self._transform is None:
            self._transform = image_transform(self.card.preprocessing)
        chunks = [
            self.run(image_batch(items[s : s + batch_size], self.card.preprocessing, self._transform).numpy())
            for s in range(0, len(items), batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.embedding_size), np.float32)


__all__ = ["OnnxEmbedder", "OnnxExport", "export_onnx"]
