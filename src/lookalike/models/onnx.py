"""ONNX export and an onnxruntime embedder that matches the torch model (within 1e-4).

The ONNX graph covers encoder → head → ``distance.embed`` with a dynamic batch axis; the model card is
stored in the graph's metadata (key ``lookalike``), so :class:`OnnxEmbedder` needs only the ``.onnx`` file.
Image inputs are prepared exactly like :class:`~lookalike.models.embedder.EmbeddingModel` does.

Text models take the tokenizer's tensors (``input_ids``, ``attention_mask``, ...; batch and sequence axes
dynamic); the tokenizer is saved beside the graph in ``<name>.tokenizer/`` (named in the metadata).
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
TOKENIZER_KEY = "lookalike_tokenizer"


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

    out = Path(path)
    if out.suffix != ".onnx":
        raise ConfigError(f"the ONNX output must end in .onnx; got {out.name!r}")
    refusal = model.network.encoder.onnx_refusal
    if refusal:
        raise ConfigError(f"cannot export {model.card.encoder} to ONNX: {refusal}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if model.kind == "text":
        return _export_text(model, out, check=check, opset=opset)
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
    _check_reads_input(out, model)
    _add_metadata(out, {META_KEY: model.card.model_dump_json()})
    diff = None
    if check:
        with torch.no_grad():
            ref = net(x).numpy()
        diff = float(np.abs(OnnxEmbedder(out).run(x.numpy()) - ref).max())
    return OnnxExport(out, diff)


def _check_reads_input(path: Path, model: EmbeddingModel) -> None:
    """A network that leaves torch on the way (numpy, another runtime) traces to constants: a graph with no input
    that gives the sample's embedding for every image. Refuse it rather than write a model that ignores input."""
    import onnx

    if not onnx.load(str(path), load_external_data=False).graph.input:
        path.unlink()
        raise ConfigError(
            f"cannot export {model.card.encoder} to ONNX: its forward pass leaves torch, so the traced graph does not "
            "read its input (it would return one fixed embedding); deploy the model folder with lookalike instead"
        )


def _add_metadata(path: Path, entries: dict[str, str]) -> None:
    import onnx

    graph = onnx.load(str(path))
    for key, value in entries.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))


class _TextGraph(torch.nn.Module):
    """Positional tokenizer tensors → embedding (what the ONNX exporter traces)."""

    def __init__(self, net: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.net, self.names = net, names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.net(dict(zip(self.names, tensors, strict=True)))


def _export_text(model: EmbeddingModel, out: Path, *, check: bool, opset: int) -> OnnxExport:
    from lookalike.models.encoders import HFTextEncoder

    encoder = model.network.encoder
    if not isinstance(encoder, HFTextEncoder):
        raise ConfigError(f"text model with encoder {encoder.spec!r}: only hf: encoders export to ONNX")
    sample = ["a short sentence", "and a somewhat longer second sentence to pad the first one"]
    tokens = encoder.tokenize(sample)
    names = list(tokens)
    # the wrapper must be in eval mode too: the exporter restores the wrapper's mode on the whole network after
    graph = _TextGraph(model.network, names).eval()
    torch.onnx.export(
        graph,
        tuple(tokens[n] for n in names),
        str(out),
        input_names=names,
        output_names=["embedding"],
        opset_version=opset,
        dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "embedding": {0: "batch"}},
        dynamo=False,
    )
    folder = out.with_suffix(".tokenizer")
    encoder.tokenizer.save_pretrained(str(folder))
    _add_metadata(out, {META_KEY: model.card.model_dump_json(), TOKENIZER_KEY: folder.name})
    diff = None
    if check:
        ref = model.embed(sample)
        diff = float(np.abs(OnnxEmbedder(out).embed(sample) - ref).max())
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
        self._tokenizer: Any = None
        if self.card.kind == "text":
            from transformers import AutoTokenizer

            folder = p.parent / meta.get(TOKENIZER_KEY, p.with_suffix(".tokenizer").name)
            if not folder.is_dir():
                raise NotFoundError(
                    f"{p} is a text model but its tokenizer folder {str(folder)!r} is missing; keep the "
                    "'.tokenizer' folder written by the export beside the .onnx file"
                )
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self._inputs = [i.name for i in self.session.get_inputs()]

    @property
    def distance(self) -> Distance:
        return get_distance(self.card.distance)

    @property
    def embedding_size(self) -> int:
        return self.card.embedding_size

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(["embedding"], {"input": np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def _embed_texts(self, texts: Sequence[Any], batch_size: int) -> np.ndarray:
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise DataError(f"this is a text model; items must be strings, got {bad[0]}")
        out = np.zeros((len(texts), self.embedding_size), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        max_length = int(self.card.preprocessing.get("max_length", 128))
        for s in range(0, len(order), batch_size):
            sel = order[s : s + batch_size]
            tok = self._tokenizer(
                [texts[i] for i in sel], padding=True, truncation=True, max_length=max_length, return_tensors="np"
            )
            feeds = {n: np.asarray(tok[n], dtype=np.int64) for n in self._inputs}
            out[sel] = self.session.run(["embedding"], feeds)[0]
        return out

    def embed(self, items: Sequence[Any] | np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        if self.card.kind == "text":
            return self._embed_texts(list(items), batch_size)
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
