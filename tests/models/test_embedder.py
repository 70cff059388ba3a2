"""EmbeddingModel, model cards and model folders (tiny models, CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lookalike.errors import DataError, EmbeddingSizeError, ModelMismatchError, NotFoundError
from lookalike.models import EmbeddingModel, load_model, read_card, save_model
from lookalike.models.distances import get_distance
from lookalike.models.encoders import build_encoder
from lookalike.models.heads import Head
from lookalike.models.network import EmbeddingNet


@pytest.mark.parametrize("distance", ["cosine", "euclidean", "dot", "hyperbolic"])
def test_for_vectors_applies_distance_embed(distance: str) -> None:
    m = EmbeddingModel.for_vectors(6, distance)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    out = m.embed(x)
    assert out.dtype == np.float32 and out.shape == (5, 6)
    expected = get_distance(distance).embed(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert m.card.encoder == "identity" and m.embedding_size == 6 and len(m.fingerprint) == 64


def test_for_vectors_fingerprint_depends_on_dim_and_distance_only() -> None:
    a, b = EmbeddingModel.for_vectors(4), EmbeddingModel.for_vectors(4)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != EmbeddingModel.for_vectors(5).fingerprint
    assert a.fingerprint != EmbeddingModel.for_vectors(4, "dot").fingerprint


def test_wrong_width_and_kind_are_clear_errors() -> None:
    m = EmbeddingModel.for_vectors(4)
    with pytest.raises(EmbeddingSizeError, match="4 columns"):
        m.embed(np.zeros((2, 3)))
    with pytest.raises(DataError, match="NaN"):
        m.embed(np.full((1, 4), np.nan))
    with pytest.raises(DataError, match="sequence"):
        m.embed("abcd")


def _tiny_mlp_model(distance: str = "cosine") -> EmbeddingModel:
    enc = build_encoder("mlp", input_dim=5, hidden=[7])
    net = EmbeddingNet(
        encoder=enc, head=Head(in_dim=7, type="mlp", out_dim=3, hidden=4, bn=True), distance=get_distance(distance)
    )
    return EmbeddingModel.from_network(net, label_names=["a", "b"])


@pytest.mark.parametrize("distance", ["cosine", "hyperbolic"])
def test_save_load_roundtrip_is_exact(tmp_path, distance: str) -> None:
    m = _tiny_mlp_model(distance)
    x = np.random.default_rng(1).normal(size=(4, 5))
    folder = save_model(m, tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["lookalike.json", "model.safetensors"]
    back = load_model(folder)
    np.testing.assert_array_equal(back.embed(x), m.embed(x))
    assert back.fingerprint == m.fingerprint
    card = read_card(folder)
    assert card.label_names == ["a", "b"] and card.distance["name"] == distance and card.embedding_size == 3


def test_tampered_folder_is_refused(tmp_path) -> None:
    folder = save_model(_tiny_mlp_model(), tmp_path / "m")
    data = json.loads((folder / "lookalike.json").read_text())
    data["distance"] = {"name": "dot", "params": {}}
    (folder / "lookalike.json").write_text(json.dumps(data))
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        load_model(folder)


def test_a_cut_short_weights_file_is_a_damaged_folder(tmp_path) -> None:
    """It was safetensors' own SafetensorError (a traceback on the command line)."""
    folder = save_model(_tiny_mlp_model(), tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ModelMismatchError, match=r"model\.safetensors is not readable .*the model folder is damaged"):
        load_model(folder)


def test_unknown_spec_or_folder() -> None:
    with pytest.raises(NotFoundError, match="neither a model folder"):
        load_model("/nonexistent/folder")


def test_tiny_timm_image_model_embeds_arrays_and_pil(tmp_path) -> None:
    from PIL import Image

    m = load_model("timm:test_efficientnet", pretrained=False, input_size=64)
    arr = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(arr).save(path)
    out = m.embed([arr, Image.fromarray(arr), str(path)])
    assert out.shape == (3, m.embedding_size)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    with pytest.raises(DataError, match="image"):
        m.embed([{"not": "an image"}])
    back = load_model(save_model(m, tmp_path / "m"))
    np.testing.assert_allclose(back.embed([arr]), out[:1], atol=1e-6)


@pytest.mark.parametrize("distance", ["cosine", "hyperbolic"])
def test_onnx_matches_torch_for_vector_models(tmp_path, distance: str) -> None:
    from lookalike.models.onnx import OnnxEmbedder, export_onnx

    m = _tiny_mlp_model(distance)
    report = export_onnx(m, tmp_path / "m.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    x = np.random.default_rng(2).normal(size=(9, 5)) * 3
    onnx_model = OnnxEmbedder(tmp_path / "m.onnx")
    assert onnx_model.card.fingerprint == m.fingerprint
    np.testing.assert_allclose(onnx_model.embed(x, batch_size=4), m.embed(x), atol=1e-4)


def test_a_network_that_leaves_torch_is_not_written_as_a_constant_graph(tmp_path, monkeypatch) -> None:
    """A forward pass through numpy traces to constants (no graph input, one fixed embedding): the export is
    refused and nothing is left behind, instead of a model that ignores its input."""
    import torch

    from lookalike.errors import ConfigError
    from lookalike.models.onnx import export_onnx

    m = _tiny_mlp_model("cosine")
    encoder = m.network.encoder
    plain = encoder.forward
    monkeypatch.setattr(encoder, "forward", lambda x: plain(torch.from_numpy(x.detach().numpy())))
    with pytest.raises(ConfigError, match="does not read its input"):
        export_onnx(m, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_save_model_into_a_file_is_refused(tmp_path) -> None:
    from lookalike.errors import DataError

    (tmp_path / "taken").write_text("mine")
    with pytest.raises(DataError, match="is a file; a model is written as a folder"):
        save_model(_tiny_mlp_model("cosine"), tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "mine"
