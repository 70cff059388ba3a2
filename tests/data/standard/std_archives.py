"""Builders of mini archives for the standard-dataset tests."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from dataclasses import replace

from lookalike.data.standard import StandardDataset


def make_tgz(files: dict[str, bytes]) -> bytes:
    """A gzipped tar holding ``files`` (name -> content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    """A zip holding ``files`` (name -> content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


# the 27 brands as the annotation files spell them
FL27_BRANDS = (
    "Adidas",
    "Apple",
    "BMW",
    "Citroen",
    "Cocacola",
    "DHL",
    "Fedex",
    "Ferrari",
    "Ford",
    "Google",
    "HP",
    "Heineken",
    "Intel",
    "McDonalds",
    "Mini",
    "Nbc",
    "Nike",
    "Pepsi",
    "Porsche",
    "Puma",
    "RedBull",
    "Sprite",
    "Starbucks",
    "Texaco",
    "Unicef",
    "Vodafone",
    "Yahoo",
)


def mini_flickr_logos_27(jpeg: bytes) -> bytes:
    """FlickrLogos-27's layout: an outer tar.gz with a nested images tar.gz and the two annotation files.

    One image per brand with one box written for two training subsets (a duplicate, as in the real file),
    plus one empty box; three query images, one of them ``none``.
    """
    images: dict[str, bytes] = {}
    lines = ["filename , logo,x1,y1,x2,y2"]  # the header line some copies have
    for i, brand in enumerate(FL27_BRANDS):
        name = f"{1000 + i}.jpg"
        images[f"flickr_logos_27_dataset_images/{name}"] = jpeg
        lines += [f"{name} {brand} {subset} 1 1 6 6 " for subset in (1, 2)]
    lines.append(f"1000.jpg {FL27_BRANDS[0]} 3 4 4 4 7")  # empty box (x2 == x1): dropped
    for q in ("q1.jpg", "q2.jpg", "q3.jpg"):
        images[f"flickr_logos_27_dataset_images/{q}"] = jpeg
    queries = "q1.jpg\tAdidas\nq2.jpg\tYahoo\nq3.jpg\tnone\n"
    base = "flickr_logos_27_dataset"
    return make_tgz(
        {
            f"{base}/flickr_logos_27_dataset_images.tar.gz": make_tgz(images),
            f"{base}/flickr_logos_27_dataset_training_set_annotation.txt": ("\n".join(lines) + "\n").encode(),
            f"{base}/flickr_logos_27_dataset_query_set_annotation.txt": queries.encode(),
            f"{base}/flickr_logos_27_dataset_distractor_set_urls.txt": b"http://example.invalid/1.jpg\n",
        }
    )


def with_checksums(spec: StandardDataset, files: dict[str, bytes]) -> StandardDataset:
    """``spec`` with each published checksum replaced by the sha256 of the mini file standing in for it.

    Files without a published checksum keep none, so their first-use recording is exercised as it is.
    """
    return replace(
        spec,
        files=tuple(
            replace(f, md5=None, sha256=hashlib.sha256(files[f.filename]).hexdigest()) if f.md5 or f.sha256 else f
            for f in spec.files
        ),
    )
