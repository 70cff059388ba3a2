"""Frozen features for unseen digits, scored on 3-class carve-outs of the training digits 0-6 only.

    python benchmarks/digits_carveouts.py

The demo's protocol holds out 3 digits (7, 8, 9). This mirrors that on the training digits: every one of the 35
triples of 0-6 is held out in turn, the whitening head (if any) is fitted on the other 4 digits, and MAP@R is
measured on the triple (cosine). Prints mean ± std and the worst triple per feature set and shrinkage, with the
load average. No held-out digit is read.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np
import torch


def main() -> None:
    from lookalike.data.protocols import load_protocol
    from lookalike.data.roots import config_path
    from lookalike.models import load_model
    from lookalike.models.distances import get_distance
    from lookalike.training.metrics import map_at_r
    from lookalike.training.whitening import fit_whitening

    torch.set_num_threads(2)
    p = load_protocol(config_path("protocol:digits", "protocol"))
    tr, va = p.dataset("train"), p.dataset("val")
    y = np.concatenate([tr.labels, va.labels + tr.labels.max() + 1])

    def feats(spec: str, **kw: Any) -> np.ndarray:
        m = load_model(spec, distance="cosine", **kw)
        return np.concatenate([m.embed_dataset(ds, batch_size=128) for ds in (tr, va)])

    lite = {"pretrained": True, "resize": "squash", "global_pool": "grid3"}
    sets = {
        "pixels 8 px": feats("pixels", size=8),
        "pixels 16 px": feats("pixels", size=16),
        "Lite0 block 3 grid3, 64 px": feats("timm:tf_efficientnet_lite0", input_size=64, out_block=3, **lite),
        "Lite0 block 4 grid3, 64 px": feats("timm:tf_efficientnet_lite0", input_size=64, out_block=4, **lite),
        "Lite0 block 3 grid3, 96 px": feats("timm:tf_efficientnet_lite0", input_size=96, out_block=3, **lite),
        "Lite2 block 3 grid3, 64 px": feats("timm:tf_efficientnet_lite2", input_size=64, out_block=3, **lite),
        # the input blurred first (`blur`: Gaussian sigma in px at the 64 px input)
        "Lite0 block 3 grid3, 64 px, blur 2": feats(
            "timm:tf_efficientnet_lite0", input_size=64, out_block=3, blur=2, **lite
        ),
        "Lite0 block 3 grid3, 64 px, blur 4": feats(
            "timm:tf_efficientnet_lite0", input_size=64, out_block=3, blur=4, **lite
        ),
        "Lite0 block 4 grid3, 64 px, blur 4": feats(
            "timm:tf_efficientnet_lite0", input_size=64, out_block=4, blur=4, **lite
        ),
        "Lite0 blocks 3+4 grid3, 64 px, blur 4": feats(
            "timm:tf_efficientnet_lite0", input_size=64, out_block=[3, 4], blur=4, **lite
        ),
    }
    d = get_distance("cosine")
    for name, f in sets.items():
        for shrink in (None, 0.3, 0.6, 0.9):
            scores = []
            for held in itertools.combinations(range(7), 3):
                h = np.isin(y, held)
                x = f
                if shrink is not None:
                    w, b = fit_whitening(f[~h], y[~h], shrink=shrink)
                    x = f @ w.T + b
                e = d.embed(torch.from_numpy(np.ascontiguousarray(x[h], dtype=np.float32)))
                scores.append(float(map_at_r(e, torch.from_numpy(y[h]), d)))
            a, b_, c = os.getloadavg()
            head = "no head" if shrink is None else f"whitening {shrink}"
            print(f"{name}, {head}: MAP@R {np.mean(scores):.3f} ± {np.std(scores):.3f} (worst triple "
                  f"{min(scores):.3f})  [load average {a:.2f} {b_:.2f} {c:.2f}]", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
