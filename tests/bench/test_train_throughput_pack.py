"""The throughput benchmark's compact data pack loads as a protocol (so the benchmark needs only the repo)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.data.protocols import load_protocol

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train_throughput.py"


def test_make_pack_writes_a_loadable_protocol(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_train_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    src = tmp_path / "crops"
    for brand in ("Adidas", "Nike"):
        (src / brand).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((600, 300, 3), 40 * i, np.uint8)).save(src / brand / f"{i}.jpg")
    mod.make_pack(src, tmp_path / "pack", max_side=64)
    ds = load_protocol(tmp_path / "pack" / "protocol.yaml").dataset("train")
    assert len(ds) == 6 and ds.class_names == ["Adidas", "Nike"]
    assert max(ds.load(0).size) == 64  # re-encoded at most max_side px
