"""One training of a from-scratch Conv-4 variant on Omniglot's training characters, scored on validation characters.

    python benchmarks/scratch_variants.py --width 64 --epochs 20 --loss triplet_margin --distance euclidean
    python benchmarks/scratch_variants.py --width 64 --shifts 2   # fit's first Conv-4 trial on Omniglot

Trains with :func:`lookalike.fitting.scratch.train_scratch` (what ``lookalike fit`` runs per fold) on the
protocol's train split of small1 (rotations as classes, the named augmentation) and prints MAP@R and the accuracy
of ``--episodes`` seeded 20-way one-shot episodes drawn from the validation characters. No held-out alphabet and no
official run is read. Torch threads as fit's CNN trials choose them (``--threads auto``: one or all, whichever
trains a batch faster, measured); ``--threads 1`` lets two runs share 2 cores. The load average is printed beside
the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--shifts", type=int, default=0, help="test-time translations of up to N px (0: none)")
    ap.add_argument("--loss", default="triplet_margin")
    ap.add_argument("--miner", default=None, help="default: semi_hard for triplet, multi_similarity for MS, none")
    ap.add_argument("--params", default="{}", help="loss keyword arguments as JSON")
    ap.add_argument("--distance", default="euclidean")
    ap.add_argument("--lr", type=float, default=0.00129)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--augment", default="shift", choices=["shift", "affine"])
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--threads", default="auto", help="torch threads while training: auto or a number")
    args = ap.parse_args()

    from lookalike.data.protocols import load_protocol
    from lookalike.data.roots import config_path
    from lookalike.fitting.scratch import embed_images, prepare_images, train_scratch
    from lookalike.fitting.space import SCRATCH_HEAD, Candidate, Family, LossChoice, TrainingSpace
    from lookalike.models.distances import get_distance
    from lookalike.training.metrics import map_at_r

    miner = args.miner or {"triplet_margin": "semi_hard", "multi_similarity": "multi_similarity"}.get(args.loss, "none")
    params = json.loads(args.params)
    p = load_protocol(config_path("protocol:omniglot", "protocol"))
    tr, va = p.dataset("train"), p.dataset("val")
    threads = args.threads if args.threads == "auto" else int(args.threads)
    fam = Family.model_validate({
        "name": "convnet", "encoder": "convnet", "backbone": "scratch",
        "options": [{"size": args.size, "width": args.width, "depth": 4, "shifts": args.shifts}],
        "scratch": {"augment": {"shift": {"translate": 0.1, "fill": "border"},
                                "affine": {"rotation": 10, "translate": 0.1, "scale": 0.1, "fill": "border"}},
                    "rotation_classes": [True], "threads": threads},
    })  # fmt: skip
    xtr, xva = prepare_images(tr, fam, 0), prepare_images(va, fam, 0)
    choice = LossChoice(name=args.loss, miner=miner, params=params)
    training = TrainingSpace(losses=[choice])
    cand = Candidate(feature="convnet/0", head=SCRATCH_HEAD, distance=args.distance, loss=choice, lr_head=args.lr,
                     epochs=args.epochs, augment=args.augment, rotation_classes=True)  # fmt: skip
    dist = get_distance(args.distance)
    t0 = time.perf_counter()
    net = train_scratch(cand, fam, 0, xtr, tr.labels, training, dist, batch_size=64, seed=0)
    seconds = time.perf_counter() - t0
    emb = embed_images(net, xva)
    if args.shifts:  # the same network without test-time shifts, for comparison
        net.encoder.shifts = 0
        plain = float(map_at_r(embed_images(net, xva), torch.from_numpy(va.labels), dist))
        print(f"without test-time shifts: validation MAP@R {plain:.4f}")
    m = float(map_at_r(emb, torch.from_numpy(va.labels), dist))
    rng, y, correct = np.random.default_rng(0), va.labels, 0
    for _ in range(args.episodes):
        classes = rng.choice(np.unique(y), 20, replace=False)
        pairs = [rng.permutation(np.nonzero(y == c)[0])[:2] for c in classes]
        shots, queries = [int(a) for a, _ in pairs], [int(b) for _, b in pairs]
        pred = dist.scores(emb[queries], emb[shots]).argmax(1).numpy()
        correct += int((pred == np.arange(20)).sum())
    a, b, c = os.getloadavg()
    print(
        f"{vars(args)}: validation MAP@R {m:.4f}, 20-way one-shot {correct / (20 * args.episodes):.3f}, "
        f"training {seconds:.0f} s  [load average {a:.2f} {b:.2f} {c:.2f}]"
    )


if __name__ == "__main__":
    main()
