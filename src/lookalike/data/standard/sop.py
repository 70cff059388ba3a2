"""Stanford Online Products (SOP): 22,634 eBay products, 120,053 images.

The published split (Oh Song et al., CVPR 2016) is given by the archive's own ``Ebay_train.txt``
(11,318 classes, 59,551 images) and ``Ebay_test.txt`` (11,316 classes, 60,502 images); each line is
``image_id class_id super_class_id path`` after a header line. Labels are the class id, zero-padded.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.data.download import RemoteFile
from lookalike.data.standard._base import DATASETS, Conversion, StandardDataset, check_files, finish, read_columns

FOLDER = "Stanford_Online_Products"

ARCHIVE = RemoteFile(
    filename="Stanford_Online_Products.zip",
    url="http://ftp.cs.stanford.edu/cs/cvgl/Stanford_Online_Products.zip",
    page="https://cvgl.stanford.edu/projects/lifted_struct/",
    md5="7f73d41a2f44250d4779881525aea32e",
    size_bytes=3_000_000_000,  # approximate
)


def convert(root: Path) -> Conversion:
    """Manifest of every image with its product id, the split taken from Ebay_train.txt / Ebay_test.txt."""
    base = root / FOLDER
    rows = []
    for split in ("train", "test"):
        for _image_id, class_id, super_class_id, rel, *_ in read_columns(
            base / f"Ebay_{split}.txt", min_fields=4, skip=1
        ):
            rows.append(
                {
                    "path": f"{FOLDER}/{rel}",
                    "label": f"{int(class_id):05d}",
                    "split": split,
                    "super_class": super_class_id,
                }
            )
    check_files(root, (r["path"] for r in rows), dataset="sop")
    return finish(root, rows, ["path", "label", "split", "super_class"])


@DATASETS.register("sop")
def spec() -> StandardDataset:
    return StandardDataset(
        name="sop",
        title="Stanford Online Products",
        page=ARCHIVE.page,
        files=(ARCHIVE,),
        licence="research use; product photos from eBay, © their owners",
        classes=22_634,
        images=120_053,
        split="Ebay_train.txt 11,318 classes (59,551 images) / Ebay_test.txt 11,316 (60,502)",
        convert=convert,
    )
