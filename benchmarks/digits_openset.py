"""Where to calibrate the accept threshold: on classes the model has seen, or on classes it never saw?

    python benchmarks/digits_openset.py

Training digits 0-6 only (no held-out digit is read). Each of the 35 triples of 0-6 is held out in turn; the
whitening (shrink 0.5) is fitted on the other 4 digits, on the features `lookalike demo`'s fit chose (Lite0
blocks 3+4 as 3x3 grids at 64 px, input blurred with sigma 4). Of the triple, 2 digits are enrolled with 5
seeded items each and the third is never enrolled (all 3 choices); every other item of the enrolled digits is
identified (right identity and accepted) and every item of the third should be rejected. Thresholds:

- **seen**: FAR 1e-3 over pairs of the 4 fitted digits (what calibrating on training classes does);
- **unseen**: FAR 1e-3 / 1e-2 / 3e-2 over pairs of the triples disjoint from this one, each embedded by the
  whitening fitted without it (what `lookalike fit`'s carve-outs give: ``calibration.npz``).

Per gallery scoring rule (max, mean, centroid) prints the mean identification and rejection rates and the mean
of the smaller of the two, with the load average.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import torch


def main() -> None:
    from lookalike.data.protocols import load_protocol
    from lookalike.data.roots import config_path
    from lookalike.gallery import scoring as sc
    from lookalike.models import load_model
    from lookalike.models.distances import get_distance
    from lookalike.models.pair_scoring import pair_scores, threshold_at_far
    from lookalike.training.whitening import fit_whitening

    torch.set_num_threads(2)
    p = load_protocol(config_path("protocol:digits", "protocol"))
    tr, va = p.dataset("train"), p.dataset("val")
    y = np.concatenate([tr.labels, va.labels + tr.labels.max() + 1])
    m = load_model("timm:tf_efficientnet_lite0", distance="cosine", pretrained=True, resize="squash",
                   global_pool=["grid3", "grid3"], input_size=64, out_block=[3, 4], blur=4)  # fmt: skip
    f = np.concatenate([m.embed_dataset(ds, batch_size=128) for ds in (tr, va)])
    d = get_distance("cosine")
    triples = list(itertools.combinations(range(7), 3))
    emb, seen_thr = {}, {}
    for held in triples:
        h = np.isin(y, held)
        w, b = fit_whitening(f[~h], y[~h], shrink=0.5)
        e = d.embed(torch.from_numpy(np.ascontiguousarray(f @ w.T + b, dtype=np.float32))).numpy()
        emb[held] = (e[h], y[h])
        seen_thr[held] = threshold_at_far(pair_scores(e[~h], y[~h], d).impostor, 1e-3)

    def unseen_thr(held: tuple[int, ...], far: float) -> float:
        imp = [pair_scores(e, lab, d).impostor for t, (e, lab) in emb.items() if not set(t) & set(held)]
        return threshold_at_far(np.concatenate(imp), far)

    settings = [("seen, FAR 1e-3", lambda t: seen_thr[t])] + [
        (f"unseen, FAR {far:g}", lambda t, far=far: unseen_thr(t, far)) for far in (1e-3, 1e-2, 3e-2)
    ]
    for label, thr_of in settings:
        res: dict[str, list[tuple[float, float]]] = {r: [] for r in ("max", "mean", "centroid")}
        rng = np.random.default_rng(0)
        for held in triples:
            thr = thr_of(held)
            e, lab = emb[held]
            for unk in held:
                enrolled = [c for c in held if c != unk]
                g, gl, q, ql = [], [], [], []
                for code, cls in enumerate(enrolled):
                    idx = np.nonzero(lab == cls)[0]
                    rng.shuffle(idx)
                    g.append(e[idx[:5]])
                    gl += [code] * 5
                    q.append(e[idx[5:]])
                    ql += [code] * (len(idx) - 5)
                gx, gy, qx, qy = np.concatenate(g), np.array(gl), np.concatenate(q), np.array(ql)
                for rule in res:
                    s = sc.identity_score_matrix(qx, gx, gy, 2, d, rule)
                    top = s.argmax(1)
                    ok = (top == qy) & (s[np.arange(len(qx)), top] >= thr)
                    stranger = sc.identity_score_matrix(e[lab == unk], gx, gy, 2, d, rule).max(1)
                    res[rule].append((float(ok.mean()), float((stranger < thr).mean())))
        a, b_, c = os.getloadavg()
        for rule, v in res.items():
            arr = np.array(v)
            print(f"{label}, scoring {rule}: identified {arr[:, 0].mean():.3f}, rejected {arr[:, 1].mean():.3f}, "
                  f"mean of the smaller {np.minimum(arr[:, 0], arr[:, 1]).mean():.3f} ({len(arr)} cases)  "
                  f"[load average {a:.2f} {b_:.2f} {c:.2f}]", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
