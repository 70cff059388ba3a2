"""Can a head trained on ORL's training people improve dlib's face features? Carve-outs of s1-s30 only.

    python benchmarks/faces_heads.py [--repeats 3]

Issue 15 asks the best face recipe (face features + a learned head) to beat ``face:dlib`` untrained. This
probe uses the training people s1-s30 only (the held-out s31-s40 are never loaded): per repeat, the 30 people are
shuffled into 3 folds of 10; for each fold a linear 128 -> 128 head, initialised at the identity, is trained
with a PML loss on the other 20 people's dlib features, and MAP@R (euclidean) is measured on the fold's 10
people, beside the raw features on the same fold. Losses: contrastive (pos 0, neg margin 0.6), triplet (margin
0.1) with a semi-hard miner, multi-similarity with its miner (on L2-normalised outputs); Adam; learning rates
1e-3 / 1e-2; 5 / 20 epochs; batches of 64. Test-time variants of the features are scored the same way
(leave-one-out over all 300 training photos): a horizontally flipped chip, the mean of chip + flip, and dlib's
10x jitter. Prints the load average beside the figures.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def map_at_r(x: np.ndarray, y: np.ndarray) -> float:
    from lookalike.evaluation.retrieval import retrieval_metrics

    m, _ = retrieval_metrics(x, y, distance="euclidean", ks=(1,))
    return float(m.map_at_r)


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def features() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """dlib descriptors of s1-s30's chips: plain, flipped chip, 10x jitter."""
    from lookalike.data.protocols import load_protocol
    from lookalike.models.faces.detect import FaceOptions, find_faces
    from lookalike.models.faces.encoder import _recognizer

    protocol = load_protocol("protocol:orl")
    splits = [protocol.dataset(s) for s in ("train", "val")]
    items = [it for ds in splits for it in ds.items]
    offset = splits[0].labels.max() + 1
    labels = np.concatenate([splits[0].labels, splits[1].labels + offset])
    chips = [np.ascontiguousarray(find_faces(str(p), FaceOptions(), name=str(p))[0].chip) for p in items]
    rec = _recognizer()
    flipped = [np.ascontiguousarray(c[:, ::-1]) for c in chips]
    out = {
        "plain": np.asarray(rec.compute_face_descriptor(chips, 0), np.float32),
        "flip": np.asarray(rec.compute_face_descriptor(flipped, 0), np.float32),
        "jitter10": np.asarray(rec.compute_face_descriptor(chips, 10), np.float32),
    }
    return out, labels


def train_head(
    x: np.ndarray, y: np.ndarray, loss: str, lr: float, epochs: int, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    import torch
    from pytorch_metric_learning import losses, miners

    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], x.shape[1])
    with torch.no_grad():
        head.weight.copy_(torch.eye(x.shape[1]))
        head.bias.zero_()
    if loss == "contrastive":
        fn, miner = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=0.6), None
    elif loss == "triplet":
        fn, miner = (
            losses.TripletMarginLoss(margin=0.1),
            miners.TripletMarginMiner(margin=0.1, type_of_triplets="semihard"),
        )
    else:
        fn, miner = losses.MultiSimilarityLoss(), miners.MultiSimilarityMiner()
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for b in range(0, len(xt), 64):
            i = perm[b : b + 64]
            e = head(xt[i])
            if loss == "ms":
                e = torch.nn.functional.normalize(e)
            value = fn(e, yt[i], miner(e, yt[i]) if miner else None)
            opt.zero_grad()
            value.backward()
            opt.step()

    def apply(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = head(torch.from_numpy(z))
            return (torch.nn.functional.normalize(out) if loss == "ms" else out).numpy()

    return apply


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="seeded shuffles of the 30 people into 3 folds")
    args = ap.parse_args()
    feats, y = features()
    print(f"test-time variants, leave-one-out MAP@R over the 300 training photos  [{load()}]")
    for name, x in {
        "raw": feats["plain"],
        "flipped chip": feats["flip"],
        "chip + flip (mean of unit vectors)": unit(feats["plain"]) + unit(feats["flip"]),
        "jitter 10x": feats["jitter10"],
    }.items():
        print(f"  {name:36s} {map_at_r(x, y):.5f}")
    x = feats["plain"]
    rng = np.random.default_rng(0)
    people = np.unique(y)
    folds = [f for _ in range(args.repeats) for f in np.array_split(rng.permutation(people), 3)]
    raw = np.mean([map_at_r(x[np.isin(y, f)], y[np.isin(y, f)]) for f in folds])
    print(f"trained heads, carve-outs ({len(folds)} folds of 10 people; raw features on the same folds {raw:.5f})")
    for loss, lr, epochs in itertools.product(("contrastive", "triplet", "ms"), (1e-3, 1e-2), (5, 20)):
        scores = []
        for f in folds:
            va = np.isin(y, f)
            head = train_head(x[~va], y[~va], loss, lr, epochs)
            scores.append(map_at_r(head(x[va]), y[va]))
        print(f"  {loss:12s} lr {lr:g} epochs {epochs:2d}: {np.mean(scores):.5f} ± {np.std(scores):.5f}  [{load()}]")


if __name__ == "__main__":
    main()
