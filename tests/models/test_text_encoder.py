"""``hf:`` text encoders: length-sorted dynamic batches give the same vectors as one-by-one embedding, and the
ONNX export (tokenizer beside it) matches torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import DataError, NotFoundError
from lookalike.models import load_model

TEXTS = [
    "hi",
    "what is the weather like in paris tomorrow afternoon",
    "book a table for two",
    "",
    "please transfer one hundred dollars from checking to savings right now",
    "thanks",
    "set an alarm",
]


def test_length_batches_cover_every_text_once_sorted_by_length(tiny_text_model: Path) -> None:
    model = load_model(f"hf:{tiny_text_model}", max_length=8)
    enc = model.network.encoder
    batches = list(enc.length_batches(TEXTS, batch_size=3, max_tokens=16))  # type: ignore[operator]
    seen = np.concatenate([pos for pos, _ in batches])
    assert sorted(seen.tolist()) == list(range(len(TEXTS)))
    widths = [int(tok["input_ids"].shape[1]) for _, tok in batches]
    assert widths == sorted(widths, reverse=True) and widths[0] == 8  # truncated to max_length, longest first
    assert all(len(pos) * w <= 16 for (pos, _), w in zip(batches, widths, strict=True))  # the token budget holds


def test_sorted_batches_embed_like_one_at_a_time(tiny_text_model: Path) -> None:
    model = load_model(f"hf:{tiny_text_model}", max_length=8)
    together = model.embed(TEXTS, batch_size=3)
    alone = np.vstack([model.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_text_model_refuses_non_strings(tiny_text_model: Path) -> None:
    model = load_model(f"hf:{tiny_text_model}")
    with pytest.raises(DataError, match="items must be strings"):
        model.embed(["fine", 3])


def test_unknown_folder_names_the_offline_packages() -> None:
    with pytest.raises(NotFoundError, match="all-minilm-l6-v2"):
        load_model("hf:no-such-model-anywhere")


def test_text_onnx_export_matches_torch(tmp_path: Path, tiny_text_model: Path) -> None:
    from lookalike.models.onnx import OnnxEmbedder, export_onnx

    model = load_model(f"hf:{tiny_text_model}", max_length=16)
    report = export_onnx(model, tmp_path / "text.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    assert (tmp_path / "text.tokenizer" / "tokenizer.json").is_file()
    onnx_model = OnnxEmbedder(tmp_path / "text.onnx")
    np.testing.assert_allclose(onnx_model.embed(TEXTS, batch_size=4), model.embed(TEXTS), atol=1e-4)


def test_texts_are_checked_before_the_tokenizer_sees_them() -> None:
    """Non-strings and lone surrogates (a broken \\u escape) are a DataError naming the item, not the fast
    tokenizer's TypeError."""
    from lookalike.models.embedder import check_texts

    assert check_texts(("a", "café")) == ["a", "café"]
    with pytest.raises(DataError, match=r"items must be strings, got int \(item 1\)"):
        check_texts(["a", 3])
    with pytest.raises(DataError, match=r"text 1 is not valid Unicode: character 2 is a lone surrogate U\+DC80"):
        check_texts(["ok", "ab\udc80"])
