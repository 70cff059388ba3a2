"""FlickrLogos-27: 27 brands; 810 annotated training images (boxes) and 270 query images.

The archive holds ``flickr_logos_27_dataset/`` with a nested ``flickr_logos_27_dataset_images.tar.gz``
(extracted here, safely), ``..._training_set_annotation.txt`` (``file brand subset x1 y1 x2 y2``; every box
appears once per training subset, and some boxes are empty) and ``..._query_set_annotation.txt``
(``file brand``; brand ``none`` = no logo of the 27). There is no published zero-shot split; lookalike's
held-out protocol trains on the first 17 brands in sorted order (Adidas ... Nike) and tests on the last 10
(Pepsi ... Yahoo). ``manifest.csv`` has one row per distinct non-empty box (the image is cropped to it on
load); ``queries.csv`` lists the query images, ``none`` as an empty label (= unknown).

No checksum is published: the sha256 of the first copy used is recorded beside it and checked afterwards.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lookalike.data.download import RemoteFile, extract
from lookalike.data.standard._base import (
    DATASETS,
    Conversion,
    StandardDataset,
    check_files,
    finish,
    read_columns,
    write_csv,
)
from lookalike.errors import DataError

log = logging.getLogger(__name__)

FOLDER = "flickr_logos_27_dataset"
IMAGES = f"{FOLDER}/flickr_logos_27_dataset_images"
TRAIN_BRANDS = 17
QUERIES_CSV = "queries.csv"

ARCHIVE = RemoteFile(
    filename="flickr_logos_27_dataset.tar.gz",
    url="http://image.ntua.gr/iva/datasets/flickr_logos/flickr_logos_27_dataset.tar.gz",
    page="http://image.ntua.gr/iva/datasets/flickr_logos/",
    size_bytes=100_000_000,  # approximate
)


def _training_boxes(path: Path) -> list[tuple[str, str, int, int, int, int]]:
    rows = read_columns(path, min_fields=1)
    if rows and not rows[0][0].lower().endswith((".jpg", ".jpeg", ".png")):
        rows = rows[1:]  # a header line ("filename , logo,x1,y1,x2,y2"), present in some copies
    boxes = []
    for parts in rows:
        if len(parts) < 6:
            raise DataError(f"{path}: expected 'file brand subset x1 y1 x2 y2', got {' '.join(parts)!r}")
        file, brand, _subset, *coords = parts
        try:
            x1, y1, x2, y2 = (int(float(c)) for c in coords[:4])
        except ValueError as err:
            raise DataError(f"{path}: box of {file} is not 4 numbers: {coords[:4]}") from err
        boxes.append((file, brand, x1, y1, x2, y2))
    return boxes


def convert(root: Path) -> Conversion:
    """Box manifest (train: first 17 brands / test: last 10) and ``queries.csv`` with ``none`` as unknown."""
    base = root / FOLDER
    nested = base / "flickr_logos_27_dataset_images.tar.gz"
    if not (root / IMAGES).is_dir():
        if not nested.is_file():
            raise DataError(f"{nested} is missing: the archive was not extracted into {root}")
        extract(nested, base)
    all_boxes = _training_boxes(base / "flickr_logos_27_dataset_training_set_annotation.txt")
    distinct = list(dict.fromkeys(all_boxes))
    boxes = [b for b in distinct if b[4] > b[2] and b[5] > b[3]]
    log.info("flickr_logos_27: %d box lines, %d distinct, %d non-empty", len(all_boxes), len(distinct), len(boxes))
    brands = sorted({b[1] for b in boxes})
    train = set(brands[:TRAIN_BRANDS])
    rows = [
        {
            "path": f"{IMAGES}/{file}",
            "label": brand,
            "split": "train" if brand in train else "test",
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
        }
        for file, brand, x1, y1, x2, y2 in boxes
    ]
    queries = [
        {"path": f"{IMAGES}/{file}", "label": "" if brand.lower() == "none" else brand}
        for file, brand, *_ in read_columns(base / "flickr_logos_27_dataset_query_set_annotation.txt", min_fields=2)
    ]
    check_files(root, {str(r["path"]) for r in rows} | {q["path"] for q in queries}, dataset="flickr_logos_27")
    queries_csv = write_csv(root / QUERIES_CSV, queries, ["path", "label"])
    return finish(root, rows, ["path", "label", "split", "x1", "y1", "x2", "y2"], extra={"queries": queries_csv})


@DATASETS.register("flickr_logos_27")
def spec() -> StandardDataset:
    return StandardDataset(
        name="flickr_logos_27",
        title="FlickrLogos-27",
        page=ARCHIVE.page,
        files=(ARCHIVE,),
        licence="research use; images from Flickr, © their owners",
        classes=27,
        images=1_080,
        split="lookalike protocol: first 17 brands train / last 10 test; 270 queries (135 'none')",
        convert=convert,
    )
