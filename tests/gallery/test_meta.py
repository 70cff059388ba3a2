"""The typed meta record: galleries written by older versions open, a bad record is a clear error, the model
recorded at creation is what ``open_with_model`` loads, and verify can answer with the score alone."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import GalleryError
from lookalike.gallery import Gallery
from lookalike.gallery.meta import GalleryMeta
from lookalike.models import EmbeddingModel

OLD = Path(__file__).parent / "data" / "gallery_v0_1.sql"


def _restore_old(folder: Path) -> Path:
    folder.mkdir()
    conn = sqlite3.connect(folder / "gallery.sqlite")
    conn.executescript(OLD.read_text(encoding="utf-8"))
    conn.close()
    return folder


def _vector(conn_path: Path, item_id: int) -> np.ndarray:
    conn = sqlite3.connect(conn_path / "gallery.sqlite")
    blob = conn.execute("SELECT vector FROM items WHERE id=?", (item_id,)).fetchone()[0]
    conn.close()
    return np.frombuffer(blob, np.float32)


def test_a_gallery_written_by_0_1_opens_with_its_meta(tmp_path: Path) -> None:
    folder = _restore_old(tmp_path / "old")
    with Gallery.open_with_model(folder) as g:  # loads the recorded model_source "identity:4"
        meta = g.meta
        assert isinstance(meta, GalleryMeta)
        assert meta.threshold == 0.5 and meta.scoring == "max" and meta.model_source == "identity:4"
        assert meta.model.embedding_size == 4 and meta.model.distance.name == "cosine"
        assert meta.created == "2026-01-01T00:00:00+00:00" and meta.lookalike_version == "0.1.0"
        assert g.identities() == {"ada": 2, "bob": 2}
        result = g.identify_vectors(_vector(folder, 3), k=2)[0]  # bob's first item
        assert result.decision == "known" and result.matches[0].identity == "bob"
        assert result.matches[1].score == pytest.approx(-0.2973994, abs=1e-6)  # what 0.1 answered
        info = g.info()
        assert info.model["fingerprint"] == meta.model.fingerprint and info.distance == {"name": "cosine", "params": {}}
        g.set_threshold(0.25)
    with Gallery.open(folder) as again:  # written back in the same layout
        assert again.threshold == 0.25 and again.meta.created == "2026-01-01T00:00:00+00:00"


def test_an_unreadable_meta_record_names_the_key(tmp_path: Path) -> None:
    folder = _restore_old(tmp_path / "old")
    conn = sqlite3.connect(folder / "gallery.sqlite")
    record = json.loads(conn.execute("SELECT value FROM meta WHERE key='model'").fetchone()[0])
    record["embedding_size"] = "four"
    conn.execute("UPDATE meta SET value=? WHERE key='model'", (json.dumps(record),))
    conn.commit()
    conn.close()
    with pytest.raises(GalleryError, match=r"model\.embedding_size"):
        Gallery.open(folder)


def test_open_with_model_loads_the_recorded_or_the_given_model(tmp_path: Path) -> None:
    Gallery.create(tmp_path / "g", EmbeddingModel.for_vectors(4)).close()  # no model_source recorded
    with pytest.raises(GalleryError, match="--model"):
        Gallery.open_with_model(tmp_path / "g")
    with Gallery.open_with_model(tmp_path / "g", "identity:4") as g:
        assert g.model is not None and g.model.embedding_size == 4


def test_verify_with_the_score_only_needs_no_threshold(tmp_path: Path) -> None:
    a, b = np.array([1.0, 0, 0, 0], np.float32), np.array([0.6, 0.8, 0, 0], np.float32)
    with Gallery.create(tmp_path / "g", EmbeddingModel.for_vectors(4)) as g:
        with pytest.raises(GalleryError, match="no threshold"):
            g.verify_vectors(a, b)
        v = g.verify_vectors(a, b, score_only=True)
        assert v.score == pytest.approx(0.6) and v.same is None and v.threshold is None
        g.set_threshold(0.6)  # score >= threshold accepts
        assert g.verify_vectors(a, b).same is True
