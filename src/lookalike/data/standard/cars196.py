"""Cars196 (Stanford Cars): 196 car models, 16,185 images, annotations in ``cars_annos.mat``.

Zero-shot split of the metric-learning literature: classes 1-98 train, 99-196 test (the ``test`` flag of
the annotations is the classification split and is not used). Class names get their 1-based index as a
prefix (``"001.AM General Hummer SUV 2000"``) so that sorted order is the published order.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.data.download import RemoteFile
from lookalike.data.standard._base import DATASETS, Conversion, StandardDataset, check_files, finish
from lookalike.errors import DataError

TRAIN_CLASSES = 98
PAGE = "https://ai.stanford.edu/~jkrause/cars/car_dataset.html"

IMAGES = RemoteFile(
    filename="car_ims.tgz",
    url="http://ai.stanford.edu/~jkrause/car196/car_ims.tgz",
    page=PAGE,
    md5="d5c8f0aa497503f355e17dc7886c3f14",
    size_bytes=1_900_000_000,  # approximate
)
ANNOTATIONS = RemoteFile(
    filename="cars_annos.mat",
    url="http://ai.stanford.edu/~jkrause/car196/cars_annos.mat",
    page=PAGE,
    md5="b407c6086d669747186bd1d764ff9dbc",
    size_bytes=400_000,  # approximate
)


def _read_annotations(path: Path) -> tuple[list[str], list[int], list[str]]:
    """(relative image paths, 1-based class ids, class names) from ``cars_annos.mat``."""
    from scipy.io import loadmat

    if not path.is_file():
        raise DataError(f"{path} is missing: download cars_annos.mat with the images")
    try:
        mat = loadmat(str(path), squeeze_me=True)
        ann = mat["annotations"]
        paths = [str(p) for p in ann["relative_im_path"].ravel()]
        classes = [int(c) for c in ann["class"].ravel()]
        names = [str(n) for n in mat["class_names"].ravel()]
    except (KeyError, ValueError, TypeError) as err:
        raise DataError(f"{path} is not the published cars_annos.mat ({err!r}); download it again") from err
    return paths, classes, names


def convert(root: Path) -> Conversion:
    """Manifest of every image with its model and the train (1-98) / test (99-196) split."""
    paths, classes, names = _read_annotations(root / ANNOTATIONS.filename)
    rows = [
        {
            "path": rel,
            "label": f"{cls:03d}.{names[cls - 1]}",
            "split": "train" if cls <= TRAIN_CLASSES else "test",
        }
        for rel, cls in zip(paths, classes, strict=True)
    ]
    check_files(root, (r["path"] for r in rows), dataset="cars196")
    return finish(root, rows, ["path", "label", "split"])


@DATASETS.register("cars196")
def spec() -> StandardDataset:
    return StandardDataset(
        name="cars196",
        title="Cars196 (Stanford Cars)",
        page=PAGE,
        files=(IMAGES, ANNOTATIONS),
        licence="non-commercial research use (ImageNet terms)",
        classes=196,
        images=16_185,
        split="classes 1-98 train (8,054 images) / 99-196 test (8,131)",
        convert=convert,
    )
