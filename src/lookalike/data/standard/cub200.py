"""CUB-200-2011 (Caltech-UCSD Birds): 200 bird species, 11,788 images.

Zero-shot split of the metric-learning literature (Oh Song et al., CVPR 2016, and every paper since):
classes 1-100 of ``classes.txt`` train, classes 101-200 test. (``train_test_split.txt`` is the
classification split within each class and is not used.)
"""

from __future__ import annotations

from pathlib import Path

from lookalike.data.download import RemoteFile
from lookalike.data.standard._base import DATASETS, Conversion, StandardDataset, check_files, finish, read_columns

#: classes 1..TRAIN_CLASSES train, the rest test
TRAIN_CLASSES = 100
FOLDER = "CUB_200_2011"

ARCHIVE = RemoteFile(
    filename="CUB_200_2011.tgz",
    url="https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
    page="https://www.vision.caltech.edu/datasets/cub_200_2011/",
    md5="97eceeb196236b17998738112f37df78",  # published with the archive; used by torchvision-style loaders
    size_bytes=1_150_000_000,  # approximate
)


def convert(root: Path) -> Conversion:
    """Manifest of every image with its species and the train (1-100) / test (101-200) split."""
    base = root / FOLDER
    images = {r[0]: r[1] for r in read_columns(base / "images.txt", min_fields=2)}
    labels = {r[0]: int(r[1]) for r in read_columns(base / "image_class_labels.txt", min_fields=2)}
    names = {int(r[0]): r[1] for r in read_columns(base / "classes.txt", min_fields=2)}
    rows = []
    for image_id, rel in images.items():
        cls = labels[image_id]
        rows.append(
            {
                "path": f"{FOLDER}/images/{rel}",
                "label": names[cls],
                "split": "train" if cls <= TRAIN_CLASSES else "test",
            }
        )
    check_files(root, (r["path"] for r in rows), dataset="cub200")
    return finish(root, rows, ["path", "label", "split"])


@DATASETS.register("cub200")
def spec() -> StandardDataset:
    return StandardDataset(
        name="cub200",
        title="CUB-200-2011 birds",
        page=ARCHIVE.page,
        files=(ARCHIVE,),
        licence="research/non-commercial use; images from Flickr, © their owners",
        classes=200,
        images=11_788,
        split="classes 1-100 train (5,864 images) / 101-200 test (5,924)",
        convert=convert,
    )
