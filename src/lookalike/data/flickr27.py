"""FlickrLogos-27 importer: the dataset's original layout → one folder per brand of cropped logos.

Input (``RAW_DIR``): ``flickr_logos_27_dataset_images/``, ``flickr_logos_27_dataset_training_set_annotation.txt``
(``file brand subset x1 y1 x2 y2`` per line; an optional header line; the same box is listed once per training
subset) and ``flickr_logos_27_dataset_query_set_annotation.txt`` (``file brand``; ``none`` = no logo).

Output (``OUT_DIR``): ``<Brand>/<stem>_<x1>_<y1>_<x2>_<y2>.jpg``, one crop per distinct (file, brand, box);
boxes with x2 <= x1 or y2 <= y1 are skipped as degenerate, boxes entirely outside the image are skipped,
boxes partly outside are clipped to the image; missing or unreadable images are reported. The query images
are listed in ``OUT_DIR/queries.csv`` (``path,label,brand``; paths relative to ``OUT_DIR``, pointing into
``RAW_DIR``; brand ``none`` → empty label = unknown, label -1 when loaded with
:func:`~lookalike.data.manifest.from_manifest`). A file at the top of ``OUT_DIR`` is not a class for
:func:`~lookalike.data.sources.from_folder`, so ``OUT_DIR`` loads as the 27-brand crop set.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.data.images import DEFAULT_MAX_PIXELS, load_image
from lookalike.data.manifest import write_manifest
from lookalike.errors import DataError

log = logging.getLogger(__name__)
IMAGES_DIR = "flickr_logos_27_dataset_images"
TRAIN_ANNOTATION = "flickr_logos_27_dataset_training_set_annotation.txt"
QUERY_ANNOTATION = "flickr_logos_27_dataset_query_set_annotation.txt"
QUERY_MANIFEST = "queries.csv"


@dataclass(frozen=True)
class Box:
    """One annotated logo box (pixel coordinates, x2/y2 exclusive)."""

    file: str
    brand: str
    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def degenerate(self) -> bool:
        return self.x2 <= self.x1 or self.y2 <= self.y1


@dataclass
class Flickr27Import:
    """What an import wrote and what it skipped."""

    out_dir: Path
    counts: dict[str, int]
    box_lines: int
    distinct_boxes: int
    degenerate: int = 0
    outside: int = 0
    clipped: int = 0
    missing_images: list[str] = field(default_factory=list)
    query_manifest: Path | None = None
    queries: int = 0
    queries_unknown: int = 0

    @property
    def crops(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        skipped = f"{self.degenerate} degenerate, {self.outside} outside the image, {self.clipped} clipped"
        lines = [
            f"{self.crops} crops of {len(self.counts)} brands from {self.distinct_boxes} distinct boxes "
            f"({self.box_lines} box lines; {skipped}) -> {self.out_dir}"
        ]
        if self.missing_images:
            lines.append(f"{len(self.missing_images)} missing/unreadable images: {', '.join(self.missing_images)}")
        if self.query_manifest is not None:
            lines.append(f"{self.queries} queries ({self.queries_unknown} 'none' = unknown) -> {self.query_manifest}")
        return "\n".join(lines)


def read_boxes(path: Path) -> list[Box]:
    """Every box line of the training annotation (header lines skipped), duplicates included."""
    if not path.is_file():
        raise DataError(f"{path} is missing; RAW_DIR must hold FlickrLogos-27's original files")
    boxes = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        try:
            x1, y1, x2, y2 = (int(float(v)) for v in parts[3:7])
        except ValueError:
            if n == 1:  # the header: "filename , logo,x1,y1,x2,y2"
                continue
            raise DataError(f"{path}:{n}: expected 'file brand subset x1 y1 x2 y2'; got {line!r}") from None
        if len(parts) < 7:
            raise DataError(f"{path}:{n}: expected 'file brand subset x1 y1 x2 y2'; got {line!r}")
        boxes.append(Box(parts[0], parts[1], x1, y1, x2, y2))
    return boxes


def import_flickr27(
    raw_dir: str | Path, out_dir: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Flickr27Import:
    """Crop every distinct valid box into ``out_dir/<Brand>/`` and write the query manifest."""
    raw, out = Path(raw_dir), Path(out_dir)
    images = raw / IMAGES_DIR
    if not images.is_dir():
        raise DataError(f"{images} is missing; RAW_DIR must hold FlickrLogos-27's original layout")
    lines = read_boxes(raw / TRAIN_ANNOTATION)
    distinct = list(dict.fromkeys(lines))
    result = Flickr27Import(out_dir=out, counts={}, box_lines=len(lines), distinct_boxes=len(distinct))
    counts: Counter[str] = Counter()
    by_file: dict[str, list[Box]] = {}
    for box in distinct:
        if box.degenerate:
            result.degenerate += 1
        else:
            by_file.setdefault(box.file, []).append(box)
    for file, boxes in sorted(by_file.items()):
        try:
            image = load_image(images / file, max_pixels=max_pixels, apply_exif=False)
        except DataError as err:
            log.warning("skipping %d box(es) of %s: %s", len(boxes), file, err)
            result.missing_images.append(file)
            continue
        w, h = image.size
        for b in boxes:
            x1, y1, x2, y2 = max(0, b.x1), max(0, b.y1), min(w, b.x2), min(h, b.y2)
            if x2 <= x1 or y2 <= y1:
                result.outside += 1
                continue
            result.clipped += (x1, y1, x2, y2) != (b.x1, b.y1, b.x2, b.y2)
            target = out / b.brand / f"{Path(file).stem}_{b.x1}_{b.y1}_{b.x2}_{b.y2}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            image.crop((x1, y1, x2, y2)).save(target, "JPEG", quality=95)
            counts[b.brand] += 1
    result.counts = dict(sorted(counts.items()))
    _import_queries(raw, out, result)
    log.debug("%s", result.summary())
    return result


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when possible (the manifest stays valid if both move together)."""
    try:
        return os.path.relpath(path.resolve(), start.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def _import_queries(raw: Path, out: Path, result: Flickr27Import) -> None:
    path = raw / QUERY_ANNOTATION
    if not path.is_file():
        log.warning("%s is missing: no query manifest written", path)
        return
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise DataError(f"{path}:{n}: expected 'file brand'; got {line!r}")
        file, brand = parts[0], parts[1]
        source = raw / IMAGES_DIR / file
        if not source.is_file():
            result.missing_images.append(file)
            continue
        unknown = brand.lower() == "none"
        rows.append({"path": _relative(source, out), "label": "" if unknown else brand, "brand": brand})
        result.queries_unknown += unknown
    result.queries = len(rows)
    if rows:
        result.query_manifest = write_manifest(out / QUERY_MANIFEST, rows)


__all__ = ["Box", "Flickr27Import", "import_flickr27", "read_boxes"]
