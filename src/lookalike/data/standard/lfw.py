"""Labeled Faces in the Wild (LFW): 5,749 people, 13,233 images, 6,000 verification pairs.

LFW is an evaluation set. The standard protocol is ``pairs.txt``: a header ``folds n``, then per fold
``n`` matched pairs (``name i j``) and ``n`` mismatched pairs (``name1 i name2 j``); 10 folds of 300 + 300.
Image ``i`` of ``name`` is ``lfw/<name>/<name>_<i:04d>.jpg``. The manifest lists every image (label =
person); ``pairs.csv`` beside it lists ``path_a, path_b, same, fold`` for TAR@FAR and accuracy.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.data.download import RemoteFile
from lookalike.data.standard._base import DATASETS, Conversion, StandardDataset, check_files, finish, write_csv
from lookalike.errors import DataError

PAGE = "http://vis-www.cs.umass.edu/lfw/"
FOLDER = "lfw"
PAIRS_CSV = "pairs.csv"

IMAGES = RemoteFile(
    filename="lfw.tgz",
    url="http://vis-www.cs.umass.edu/lfw/lfw.tgz",
    page=PAGE,
    md5="a17d05bd522c52d84eca14327a23d494",
    size_bytes=173_000_000,  # approximate
)
PAIRS = RemoteFile(
    filename="pairs.txt",
    url="http://vis-www.cs.umass.edu/lfw/pairs.txt",
    page=PAGE,
    md5="9f1ba174e4e1c508ff7cdf10ac338a7d",
    size_bytes=156_000,  # approximate
)


def _image(name: str, number: str) -> str:
    return f"{FOLDER}/{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path) -> list[dict[str, object]]:
    """Rows ``path_a, path_b, same, fold`` (fold 1-based) of an LFW ``pairs.txt``."""
    if not path.is_file():
        raise DataError(f"{path} is missing: download pairs.txt with the images")
    lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header, body = lines[0], lines[1:]
    folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    if len(body) != 2 * folds * per_fold:
        raise DataError(f"{path}: header promises {folds} folds of 2x{per_fold} pairs but {len(body)} lines follow")
    rows: list[dict[str, object]] = []
    for k, parts in enumerate(body):
        if len(parts) == 3:
            a, b, same = _image(parts[0], parts[1]), _image(parts[0], parts[2]), 1
        elif len(parts) == 4:
            a, b, same = _image(parts[0], parts[1]), _image(parts[2], parts[3]), 0
        else:
            raise DataError(f"{path}: line {k + 2} is neither 'name i j' nor 'name1 i name2 j': {' '.join(parts)!r}")
        rows.append({"path_a": a, "path_b": b, "same": same, "fold": k // (2 * per_fold) + 1})
    return rows


def convert(root: Path) -> Conversion:
    """Manifest of every face (label = person) and ``pairs.csv`` from ``pairs.txt``."""
    base = root / FOLDER
    if not base.is_dir():
        raise DataError(f"{base} is missing: lfw.tgz was not extracted into {root}")
    rows = [
        {"path": f"{FOLDER}/{person.name}/{img.name}", "label": person.name}
        for person in sorted(p for p in base.iterdir() if p.is_dir())
        for img in sorted(person.glob("*.jpg"))
    ]
    pairs = read_pairs(root / PAIRS.filename)
    check_files(root, {p for r in pairs for p in (str(r["path_a"]), str(r["path_b"]))}, dataset="lfw")
    pairs_csv = write_csv(root / PAIRS_CSV, pairs, ["path_a", "path_b", "same", "fold"])
    return finish(root, rows, ["path", "label"], extra={"pairs": pairs_csv}, pairs=len(pairs))


@DATASETS.register("lfw")
def spec() -> StandardDataset:
    return StandardDataset(
        name="lfw",
        title="Labeled Faces in the Wild",
        page=PAGE,
        files=(IMAGES, PAIRS),
        licence="research use; no formal licence, images from news photos",
        classes=5_749,
        images=13_233,
        split="evaluation only: pairs.txt, 10 folds x (300 same + 300 different)",
        convert=convert,
    )
