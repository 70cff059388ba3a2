"""Discovery of never-enrolled classes: BCubed F1 and the number of proposals, on ORL and FlickrLogos-27.

    python benchmarks/discover.py [--data orl fl27] [--shots 5] [--far 1e-3] [--trials 30]

Per dataset, with its default recipe's model (runs/<name>/model, from ``lookalike train configs/<name>.yaml``):

1. Embed the protocol's training classes (train + val splits) and held-out classes once (cached by model
   fingerprint in runs/<name>/discover_embeddings.npz).
2. Threshold: calibrated at ``--far`` on the protocol's validation classes (as ``lookalike calibrate`` does).
3. Choosing the grouping parameters, on TRAINING classes only: ``--trials`` seeded draws of 10 training
   classes; 5 are enrolled with ``--shots`` items each, all items of the other 5 are the unknown stream; the
   stream items that come out "unknown" are grouped with every candidate (method, linkage, scale, min_size)
   and scored by BCubed F1 over the whole stream. The candidate with the best mean F1 over both datasets'
   trials is chosen (one setting for every dataset: the library default).
4. Held-out run (never used in 3): a real Gallery; the first 5 held-out classes (ORL s31-s35, FL27 Pepsi ...)
   are enrolled with ``--shots`` items each, the pool is enabled, every item of the other 5 held-out classes
   is identified (those that come out unknown are kept), ``Gallery.discover`` proposes groups, and BCubed is
   computed over the whole stream (items accepted as known, or in no proposal, count as singletons).
   ``proposals.json`` / ``proposals.html`` go to runs/<name>/discover/.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_NEW = 5


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f}"


def embeddings(name: str, model: Any, protocol: Any) -> dict[str, Any]:
    cache = ROOT / "runs" / name / "discover_embeddings.npz"
    splits = {s: protocol.dataset(s) for s in ("train", "val", "test")}
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["fingerprint"]) == model.fingerprint:
            return {"datasets": splits, **{k: z[k] for k in z.files if k != "fingerprint"}}
    out = {s: model.embed_dataset(ds, batch_size=32) for s, ds in splits.items()}
    np.savez(cache, fingerprint=model.fingerprint, **out)
    return {"datasets": splits, **out}


def candidates() -> list[Any]:
    from lookalike.models.grouping import GroupingParams

    out = []
    for method, linkage in (("agglomerative", "average"), ("agglomerative", "complete"), ("agglomerative", "single"),
                            ("hdbscan", "average")):  # fmt: skip
        for scale, min_size in itertools.product((0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0), (2, 3)):
            out.append(GroupingParams(method=method, linkage=linkage, scale=scale, min_size=min_size))
    return out


def decided_unknown(stream: np.ndarray, enrolled: np.ndarray, distance: Any, threshold: float) -> np.ndarray:
    """Rows of ``stream`` whose best enrolled item scores below ``threshold`` (the gallery's "max" scoring)."""
    from lookalike.models.grouping import similarity_matrix

    both = np.concatenate([stream, enrolled])
    s = similarity_matrix(both, distance)[: len(stream), len(stream) :]
    return s.max(axis=1) < threshold


def simulate(x: np.ndarray, y: np.ndarray, distance: Any, threshold: float, shots: int, trials: int) -> np.ndarray:
    """(trials, candidates, 2): BCubed F1 and #proposals of every candidate on draws of training classes."""
    from lookalike.evaluation.discovery import UNGROUPED, discovery_from_groups
    from lookalike.models.grouping import group_embeddings

    cands = candidates()
    out = np.zeros((trials, len(cands), 2))
    classes = np.unique(y)
    for t in range(trials):
        rng = np.random.default_rng(1000 + t)
        drawn = rng.permutation(classes)[: 2 * N_NEW]
        enrolled_rows = np.concatenate([rng.choice(np.nonzero(y == c)[0], shots, replace=False) for c in drawn[:N_NEW]])
        stream = np.nonzero(np.isin(y, drawn[N_NEW:]))[0]
        unknown = stream[decided_unknown(x[stream], x[enrolled_rows], distance, threshold)]
        pos = {int(r): i for i, r in enumerate(stream)}
        for j, p in enumerate(cands):
            labels = np.full(len(stream), UNGROUPED, np.int64)
            for gi, g in enumerate(group_embeddings(x[unknown], distance=distance, threshold=threshold, params=p)):
                labels[[pos[int(unknown[m])] for m in g.members]] = gi
            m = discovery_from_groups(labels, y[stream])
            out[t, j] = m.bcubed_f1, m.num_proposals
    return out


def held_out(name: str, model: Any, emb: dict[str, Any], threshold_far: float, shots: int, params: Any) -> str:
    from lookalike.evaluation.discovery import UNGROUPED, discovery_from_groups
    from lookalike.gallery import Gallery
    from lookalike.gallery.discover import keep_unknowns
    from lookalike.gallery.report import write_proposals

    test = emb["datasets"]["test"]
    x, y = emb["test"], test.labels
    val_x, val_y = emb["val"], emb["datasets"]["val"].labels
    names = test.class_names
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, Gallery.create(Path(tmp) / name, model) as g:
        for c in range(N_NEW):
            rows = rng.choice(np.nonzero(y == c)[0], shots, replace=False)
            g.enroll_vectors(names[c], x[rows], [{"source": str(test.items[r])} for r in rows])
        report = g.calibrate(val_x, val_y, target_far=threshold_far)
        stream = np.nonzero(y >= N_NEW)[0]
        with g.unknown_pool() as pool:
            pool.configure(enabled=True)
            results = g.identify_vectors(x[stream], k=1)
            kept = keep_unknowns(pool, results, x[stream], sources=[str(test.items[r]) for r in stream])
            found = g.discover(pool=pool, params=params)
            write_proposals(found, pool, ROOT / "runs" / name / "discover")
    row_of_unknown = dict(zip(kept, stream[[i for i, r in enumerate(results) if r.decision == "unknown"]], strict=True))
    labels = np.full(len(y), UNGROUPED, np.int64)
    for gi, p in enumerate(found.proposals):
        labels[[row_of_unknown[u] for u in p.unknown_ids]] = gi
    m = discovery_from_groups(labels[stream], y[stream])
    within = abs(m.num_proposals - N_NEW) <= 1
    return (
        f"{name}: enrolled {', '.join(names[:N_NEW])} ({shots} each); unknown stream {len(stream)} items of "
        f"{', '.join(names[N_NEW:])}; threshold {report.threshold:.4f} (FAR {threshold_far:g} on validation "
        f"classes); {len(kept)} came out unknown -> {m.num_proposals} proposals ({m.num_grouped} items grouped)\n"
        f"{name}: HELD-OUT BCubed P {m.bcubed_precision:.3f} R {m.bcubed_recall:.3f} F1 {m.bcubed_f1:.3f}; "
        f"proposals {m.num_proposals} vs {N_NEW} true new classes ({'within' if within else 'NOT within'} +-1)  "
        f"[{load()}]"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["orl", "fl27"], choices=["orl", "fl27"])
    ap.add_argument("--shots", type=int, default=5, help="items enrolled per known class")
    ap.add_argument("--far", type=float, default=1e-3, help="target false-accept rate of the accept threshold")
    ap.add_argument("--trials", type=int, default=30, help="draws of training classes for choosing the parameters")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from lookalike.data.protocols import load_protocol
    from lookalike.gallery.calibration import calibrate_embeddings
    from lookalike.models import load_model

    torch.set_num_threads(2)
    prepared, sims = {}, []
    for name in args.data:
        folder = ROOT / "runs" / name / "model"
        if not (folder / "lookalike.json").is_file():
            raise SystemExit(f"no {folder}; train the default recipe first: lookalike train configs/{name}.yaml")
        model = load_model(folder)
        protocol = load_protocol(ROOT / "configs" / "protocols" / f"{name}.yaml")
        emb = embeddings(name, model, protocol)
        ds = emb["datasets"]
        t = calibrate_embeddings(emb["val"], ds["val"].labels, model.distance, target_far=args.far).threshold
        train_x = np.concatenate([emb["train"], emb["val"]])
        train_y = np.concatenate([ds["train"].labels, ds["val"].labels + ds["train"].labels.max() + 1])
        print(f"{name}: model {folder} ({model.fingerprint[:12]}); {len(np.unique(train_y))} training classes, "
              f"threshold {t:.4f} at FAR {args.far:g} on {len(ds['val'].class_names)} validation classes")  # fmt: skip
        sims.append(simulate(train_x, train_y, model.distance, t, args.shots, args.trials))
        prepared[name] = (model, emb)
    cands = candidates()
    score = np.mean([s[:, :, 0].mean(axis=0) for s in sims], axis=0)
    best = int(np.argmax(score))
    print("grouping parameters on training classes (mean BCubed F1 / mean #proposals over trials, per dataset):")
    for j in np.argsort(-score)[:8]:
        per = "; ".join(
            f"{n} {s[:, j, 0].mean():.3f} / {s[:, j, 1].mean():.1f}" for n, s in zip(args.data, sims, strict=True)
        )
        print(f"  {cands[j].to_dict()}: mean F1 {score[j]:.3f} ({per})")
    chosen = cands[best]
    print(f"chosen on training classes: {chosen.to_dict()}  [{load()}]")
    for name, (model, emb) in prepared.items():
        print(held_out(name, model, emb, args.far, args.shots, chosen))


if __name__ == "__main__":
    main()
