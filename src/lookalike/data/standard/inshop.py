"""In-Shop Clothes Retrieval (DeepFashion): 7,982 clothing items, 52,712 images.

The published protocol is ``Eval/list_eval_partition.txt``: a count line, a header line, then
``image_name item_id evaluation_status`` with status ``train`` (3,997 items, 25,882 images), ``query``
(14,218 images) or ``gallery`` (12,612 images) over the 3,985 test items. Query and gallery rows get
``split=test`` and ``is_query``/``is_gallery`` set.

The files sit in a Google Drive folder behind the DeepFashion agreement, so there is no direct link:
download ``img.zip`` (In-shop Clothes Retrieval Benchmark/Img/) and ``list_eval_partition.txt`` (.../Eval/)
by hand. No checksum is published for them: the sha256 of the first copy used is recorded beside it
(``downloads/<file>.sha256``) and checked on every later use.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.data.download import RemoteFile
from lookalike.data.standard._base import DATASETS, Conversion, StandardDataset, check_files, finish, read_columns
from lookalike.errors import DataError

PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html"

IMAGES = RemoteFile(filename="img.zip", url=None, page=PAGE)
PARTITION = RemoteFile(filename="list_eval_partition.txt", url=None, page=PAGE, size_bytes=2_900_000)


def convert(root: Path) -> Conversion:
    """Manifest of every image with its item id, split and query/gallery role as published."""
    rows = []
    for rel, item, status, *_ in read_columns(root / PARTITION.filename, min_fields=3, skip=2):
        if status not in ("train", "query", "gallery"):
            raise DataError(f"{root / PARTITION.filename}: unknown evaluation_status {status!r} for {rel}")
        rows.append(
            {
                "path": rel,
                "label": item,
                "split": "train" if status == "train" else "test",
                "is_query": str(status == "query").lower(),
                "is_gallery": str(status == "gallery").lower(),
            }
        )
    check_files(root, (r["path"] for r in rows), dataset="inshop")
    return finish(root, rows, ["path", "label", "split", "is_query", "is_gallery"])


@DATASETS.register("inshop")
def spec() -> StandardDataset:
    return StandardDataset(
        name="inshop",
        title="In-Shop Clothes Retrieval (DeepFashion)",
        page=PAGE,
        files=(IMAGES, PARTITION),
        licence="DeepFashion agreement: non-commercial research only",
        classes=7_982,
        images=52_712,
        split="3,997 items train (25,882 images) / 3,985 test: 14,218 queries, 12,612 gallery",
        convert=convert,
    )
