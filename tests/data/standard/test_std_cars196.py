"""Cars196 against a mini car_ims.tgz + cars_annos.mat (MATLAB struct array), served over HTTP on 127.0.0.1."""

from __future__ import annotations

import io

import numpy as np
import pytest
from std_archives import make_tgz

from lookalike.data.manifest import from_manifest

pytestmark = pytest.mark.server

# class id -> images: 1, 2 and 98 train; 99 and 196 test
IMAGES_PER_CLASS = {1: 2, 2: 1, 98: 3, 99: 2, 196: 1}
FIELDS = ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test")


def mini_cars(jpeg: bytes) -> dict[str, bytes]:
    from scipy.io import savemat

    rows, images = [], {}
    for cid, n in IMAGES_PER_CLASS.items():
        for k in range(n):
            rel = f"car_ims/{len(rows) + 1:06d}.jpg"
            images[rel] = jpeg
            m = lambda v, dt=np.uint16: np.array([[v]], dtype=dt)  # noqa: E731 - MATLAB 1x1 numbers
            rows.append((rel, m(1), m(1), m(6), m(6), m(cid, np.uint8), m(k % 2, np.uint8)))
    ann = np.zeros((1, len(rows)), dtype=[(f, "O") for f in FIELDS])
    for i, r in enumerate(rows):
        ann[0, i] = r
    class_names = np.empty((1, 196), dtype=object)
    class_names[0, :] = [f"Make{c} Model/{c} 2012" for c in range(1, 197)]
    buf = io.BytesIO()
    savemat(buf, {"annotations": ann, "class_names": class_names})
    return {"car_ims.tgz": make_tgz(images), "cars_annos.mat": buf.getvalue()}


def test_cars196_download_resume_verify_extract_convert(download_drill, std_protocol, jpeg) -> None:
    result = download_drill("cars196", mini_cars(jpeg))
    conv = result.conversion
    assert (conv.classes, conv.images) == (5, 9)
    assert (conv.splits["train"].classes, conv.splits["train"].images) == (3, 6)
    assert (conv.splits["test"].classes, conv.splits["test"].images) == (2, 3)
    ds = from_manifest(conv.manifest)
    assert ds.class_names == ["001.Make1 Model/1 2012", "002.Make2 Model/2 2012", "098.Make98 Model/98 2012",
                              "099.Make99 Model/99 2012", "196.Make196 Model/196 2012"]  # fmt: skip
    assert ds.class_counts()["098.Make98 Model/98 2012"] == 3

    protocol = std_protocol("cars196")
    assert protocol.classes("test") == ["099.Make99 Model/99 2012", "196.Make196 Model/196 2012"]
    assert len(protocol.classes("train") + protocol.classes("val")) == 3
