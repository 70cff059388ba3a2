"""FlickrLogos-27 import: header, duplicate lines, degenerate / outside / clipped boxes, missing images, queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.data.flickr27 import IMAGES_DIR, QUERY_ANNOTATION, TRAIN_ANNOTATION, import_flickr27
from lookalike.data.sources import from_folder, from_manifest
from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import DataError


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    (root / IMAGES_DIR).mkdir(parents=True)
    for name in ("1.jpg", "2.jpg", "q1.jpg", "q2.jpg"):
        Image.fromarray(np.full((60, 100, 3), 128, dtype=np.uint8)).save(root / IMAGES_DIR / name)
    (root / TRAIN_ANNOTATION).write_text(
        "filename , logo,x1,y1,x2,y2\n"
        "1.jpg Adidas 1 10 10 50 40 \n"
        "1.jpg Adidas 2 10 10 50 40 \n"  # duplicate (other subset): one crop
        "1.jpg Adidas 2 60 5 90 30 \n"  # second box of the same image
        "2.jpg Apple 1 5 5 5 30 \n"  # degenerate (zero width)
        "2.jpg Apple 1 200 5 300 30 \n"  # entirely outside the 100x60 image
        "2.jpg Apple 1 80 40 130 90 \n"  # partly outside: clipped to 80,40,100,60
        "2.jpg Apple 3 0 0 20 20 \n"
        "404.jpg Nike 1 0 0 10 10 \n"  # missing image
    )
    (root / QUERY_ANNOTATION).write_text("q1.jpg\tAdidas\nq2.jpg\tnone\n")
    return root


def test_import_crops_distinct_valid_boxes_and_reports_the_rest(raw: Path, tmp_path: Path) -> None:
    result = import_flickr27(raw, tmp_path / "out")
    assert result.counts == {"Adidas": 2, "Apple": 2}
    assert (result.box_lines, result.distinct_boxes) == (8, 7)
    assert (result.degenerate, result.outside, result.clipped) == (1, 1, 1)
    assert result.missing_images == ["404.jpg"]
    crops = from_folder(tmp_path / "out")
    assert crops.class_counts() == {"Adidas": 2, "Apple": 2}
    sizes = sorted(crops.load(i).size for i in range(len(crops)))
    assert sizes == [(20, 20), (20, 20), (30, 25), (40, 30)]


def test_query_manifest_marks_none_unknown(raw: Path, tmp_path: Path) -> None:
    result = import_flickr27(raw, tmp_path / "out")
    assert result.query_manifest == tmp_path / "out" / "queries.csv"
    queries = from_manifest(result.query_manifest)
    assert queries.class_names == ["Adidas"] and queries.labels.tolist() == [0, UNKNOWN_LABEL]
    assert queries.metadata[1]["brand"] == "none" and queries.load(1).size == (100, 60)


def test_cli_prints_counts(raw: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["import", "flickr27", str(raw), str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    assert "Adidas  2" in out.output and "total   4" in out.output and "1 degenerate" in out.output


def test_missing_layout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="original layout"):
        import_flickr27(tmp_path, tmp_path / "out")


@pytest.mark.realdata
def test_real_import_counts_equal_distinct_valid_boxes(shared_data: Path, tmp_path: Path) -> None:
    raw = shared_data / "flickr_logos_27" / "raw"
    expected: dict[str, set[tuple[str, int, int, int, int]]] = {}
    lines = (raw / TRAIN_ANNOTATION).read_text().splitlines()
    for line in lines[1:]:  # the first line is the header
        file, brand, _subset, x1, y1, x2, y2 = line.split()
        box = (int(x1), int(y1), int(x2), int(y2))
        with Image.open(raw / IMAGES_DIR / file) as im:
            w, h = im.size
        if box[2] > box[0] and box[3] > box[1] and box[0] < w and box[1] < h:
            expected.setdefault(brand, set()).add((file, *box))
    out = CliRunner().invoke(app, ["import", "flickr27", str(raw), str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    printed = dict(line.split() for line in out.output.splitlines() if len(line.split()) == 2)
    for brand, boxes in expected.items():
        assert int(printed[brand]) == len(boxes), brand
        assert len(list((tmp_path / "out" / brand).glob("*.jpg"))) == len(boxes)
    assert int(printed["total"]) == sum(len(b) for b in expected.values()) == 28
    queries = from_manifest(tmp_path / "out" / "queries.csv")
    assert len(queries) == 54 and int((queries.labels == UNKNOWN_LABEL).sum()) == 27
