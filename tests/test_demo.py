"""The README's main job, shortened to a few raw-pixel candidates: every layer runs for real on bundled digits."""

from pathlib import Path

import pytest

from lookalike.demo import DRAWS, MARKER, run_demo
from lookalike.errors import DataError

SPACE = """
modality: small_images
families: [{name: pixels, encoder: pixels, options: [{size: 8}]}]
heads: [{name: whiten, head: {type: linear, init: whiten}, shrink: [0.3, 0.9]}]
distances: [cosine]
training: {losses: [{name: multi_similarity}]}
"""


def test_demo_runs_end_to_end_on_digits(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    r = run_demo(out_dir=tmp_path / "demo", shots=3, target_far=1e-2, max_trials=2, space=space)
    assert r.train_classes == ["0", "1", "2", "3", "4", "5", "6"]
    assert r.heldout_classes == ["7", "8", "9"] and r.enrolled == ["7", "8"] and r.never_enrolled == ["9"]
    # whitened pixels already separate digits it never saw better than chance (~1/3 for three classes)
    assert r.heldout_map_at_r > 0.4 and r.pixels_map_at_r > 0.4
    assert r.known_probes > 300 and r.unknown_probes > 150
    assert 0 < r.identified <= r.known_probes and 0 <= r.rejected <= r.unknown_probes
    # the open-set check repeated over enrollment draws; draw 0 is the written gallery's own split (vector path:
    # the same decisions up to embedding round-off, so within 2 probes of the image path's counts)
    assert len(r.draws) == DRAWS and all(0 <= i <= 1 and 0 <= j <= 1 for i, j in r.draws)
    assert abs(r.draws[0][0] * r.known_probes - r.identified) <= 2
    assert abs(r.draws[0][1] * r.unknown_probes - r.rejected) <= 2
    assert len({i for i, _ in r.draws}) > 1  # different draws enroll different examples
    assert (r.model_dir / "model.safetensors").is_file() and (r.model_dir / "lookalike.json").is_file()
    assert r.report.is_file() and (r.report.parent / "metrics.json").is_file()
    assert (r.out_dir / "fit" / "recipe.yaml").is_file() and (r.out_dir / "protocol.yaml").is_file()
    from lookalike.models import load_model

    # the plain search's figure is there exactly when the chosen model re-ranks (expansion, augmentation, diffusion)
    chosen = load_model(r.model_dir)
    reranks = chosen.query_expansion + chosen.database_augmentation + chosen.diffusion > 0
    assert (r.heldout_map_at_r_plain is not None) == reranks


def test_demo_refuses_a_foreign_output_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a demo folder"):
        run_demo(out_dir=tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / MARKER).exists()


def test_demo_rejects_missing_data_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        run_demo(out_dir=tmp_path / "d", data=tmp_path / "nope")


def test_demo_skip_bad_goes_into_the_protocol_it_writes(tmp_path: Path) -> None:
    """``demo --data FOLDER --skip-bad``: the protocol the demo fits on leaves unreadable images out."""
    from lookalike.demo import _folder_protocol

    for c in range(6):
        (tmp_path / "set" / f"c{c}").mkdir(parents=True)
    assert _folder_protocol(tmp_path / "set", "skip")[0]["source"]["on_bad"] == "skip"
    assert "on_bad" not in _folder_protocol(tmp_path / "set")[0]["source"]
    with pytest.raises(DataError, match="on_bad must be"):
        run_demo(out_dir=tmp_path / "d", data=tmp_path / "set", on_bad="ignore")  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists()  # refused before anything is written


@pytest.mark.realdata
def test_demo_on_flickr27_raw_layout_names_the_import_command(tmp_path: Path, shared_data: Path) -> None:
    """The raw layout (images + box annotations, about three boxes per brand) is no class-folder dataset: the
    one data resolver recognises it and the demo stops before anything is fitted, naming the conversion."""
    raw = shared_data / "flickr_logos_27" / "raw"
    with pytest.raises(DataError, match=rf"{raw} is FlickrLogos-27's original layout.*lookalike import flickr27 {raw}"):
        run_demo(out_dir=tmp_path / "logos", data=raw)
    assert sorted(p.name for p in (tmp_path / "logos").iterdir()) == [MARKER]  # nothing fitted or written
