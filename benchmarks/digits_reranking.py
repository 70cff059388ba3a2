"""Re-ranking on unseen digits, scored on 3-class carve-outs of the training digits 0-6 only.

    python benchmarks/digits_reranking.py [--every N]

The carve-outs of ``digits_carveouts.py`` (each of the 35 triples of 0-6 held out in turn, the whitening head fitted
on the other 4 digits, cosine), searched leave-one-out as ``lookalike evaluate`` does: the plain search, query
expansion 20 + database-side augmentation 50, and diffusion over the graph of the 20 / 30 / 50 nearest others (each
query taken out of the graph it seeds). Two feature sets that ``lookalike fit`` chose on digits: blocks 3+4 at
blur 4 and block 5 at blur 2 (docs/fit.md, diffusion). Prints mean, worst triple and seconds per setting, with the
load average. ``--every 5`` scores every 5th triple only. No held-out digit is read.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
import torch

SETTINGS: dict[str, dict[str, int]] = {
    "plain": {},
    "QE 20 + DBA 50": {"query_expansion": 20, "database_augmentation": 50},
    "diffusion 20": {"diffusion": 20},
    "diffusion 30": {"diffusion": 30},
    "diffusion 50": {"diffusion": 50},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1, help="score every N-th triple (default: all 35)")
    args = ap.parse_args()

    from lookalike.data.protocols import load_protocol
    from lookalike.data.roots import config_path
    from lookalike.evaluation.retrieval import retrieval_metrics
    from lookalike.models import load_model
    from lookalike.models.distances import get_distance
    from lookalike.training.whitening import fit_whitening

    torch.set_num_threads(2)
    p = load_protocol(config_path("protocol:digits", "protocol"))
    tr, va = p.dataset("train"), p.dataset("val")
    y = np.concatenate([tr.labels, va.labels + tr.labels.max() + 1])
    lite = {"pretrained": True, "input_size": 64, "resize": "squash", "global_pool": "grid3"}
    sets = {  # name: (encoder options, whitening shrinkage fit chose for them)
        "Lite0 blocks 3+4 grid3, 64 px, blur 4, whitening 0.5": ({"out_block": [3, 4], "blur": 4}, 0.5),
        "Lite0 block 5 grid3, 64 px, blur 2, whitening 0.34": ({"out_block": 5, "blur": 2}, 0.34),
    }
    cosine = get_distance("cosine")
    triples = list(itertools.combinations(range(7), 3))[:: args.every]
    for name, (kw, shrink) in sets.items():
        m = load_model("timm:tf_efficientnet_lite0", distance="cosine", **lite, **kw)
        f = np.concatenate([m.embed_dataset(ds, batch_size=128) for ds in (tr, va)])
        scores: dict[str, list[float]] = {s: [] for s in SETTINGS}
        seconds = dict.fromkeys(SETTINGS, 0.0)
        for held in triples:
            h = np.isin(y, held)
            w, b = fit_whitening(f[~h], y[~h], shrink=shrink)
            # in the distance's space (L2-normalised), as a model's embeddings are: the searches expect that
            x = cosine.embed(torch.from_numpy(np.ascontiguousarray(f[h] @ w.T + b, dtype=np.float32))).numpy()
            for s, rerank in SETTINGS.items():
                t = time.perf_counter()
                metrics, _ = retrieval_metrics(x, y[h], distance="cosine", **rerank)
                seconds[s] += time.perf_counter() - t
                scores[s].append(metrics.map_at_r)
        for s, v in scores.items():
            a, b_, c = os.getloadavg()
            per = seconds[s] / len(v)
            print(f"{name}, {s}: MAP@R {np.mean(v):.4f} (worst triple {min(v):.3f}) over {len(v)} triples, "
                  f"{per:.2f} s per triple  [load average {a:.2f} {b_:.2f} {c:.2f}]", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
