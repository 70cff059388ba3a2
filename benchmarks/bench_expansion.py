"""What query expansion and database-side augmentation cost at identify time: the same gallery searched plainly,
with query expansion, and with both.

    python benchmarks/bench_expansion.py                 # 100,000 x 128, identities of 50 items, noise 1.6
    python benchmarks/bench_expansion.py --n 20000       # quick run

Two galleries hold the same clustered, L2-normalised vectors (cosine; identities of ``--per-identity`` items):
one built for a plain model, one for the same weights with ``query_expansion`` (``--expansion`` neighbours).
``Gallery.identify_vectors`` runs on ``--queries`` held-back vectors in batches of ``--batch``, torch and faiss on
one thread, the two galleries alternating over ``--rounds`` passes. Prints seconds per query of each and their
ratio (measured in one run, same machine), and how often the two agree on the first identity, with the load
average. The plain gallery answers max-scoring from the store's index; the expanding one scans every stored
vector exactly (docs/gallery.md), so the ratio grows with the gallery. The third gallery's model also has
``database_augmentation`` (``--augmentation`` neighbours): ``Gallery.warm()`` mixes every item (one search of the
whole gallery; what the first identify would do, and what the service does at start-up) and is timed alone, as
are the first identify after it and the identify after one more identity is enrolled (updated from the
change: docs/gallery.md); then that identity is removed and its queries are timed like the others'.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--per-identity", type=int, default=50)
    ap.add_argument("--expansion", type=int, default=10)
    ap.add_argument("--augmentation", type=int, default=10, help="database_augmentation of the third gallery")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=20, help="queries per identify call")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--noise", type=float, default=1.6, help="Gaussian noise per dimension around each centre")
    args = ap.parse_args()

    import faiss
    import torch

    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    n_ids = args.n // args.per_identity
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_ids, args.dim)).astype(np.float32)
    codes = np.repeat(np.arange(n_ids), args.per_identity)
    x = centres[codes] + args.noise * rng.normal(size=(len(codes), args.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q_codes = rng.integers(0, n_ids, args.queries)
    q = centres[q_codes] + args.noise * rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    plain = EmbeddingModel.for_vectors(args.dim)
    expanding = EmbeddingModel.from_network(plain.network, query_expansion=args.expansion)
    mixing = EmbeddingModel.from_network(
        plain.network, query_expansion=args.expansion, database_augmentation=args.augmentation
    )
    with tempfile.TemporaryDirectory() as tmp:
        galleries = {}
        for name, model in (("plain", plain), ("expansion", expanding), ("augmentation", mixing)):
            g = Gallery.create(Path(tmp) / name, model)
            for i in range(n_ids):
                g.enroll_vectors(f"id{i}", x[codes == i])
            galleries[name] = g
        mixing_gallery = galleries["augmentation"]
        t0 = time.perf_counter()
        mixing_gallery.warm()  # what the first identify would do (the service does it at start-up): one full search
        remix = time.perf_counter() - t0
        t0 = time.perf_counter()
        mixing_gallery.identify_vectors(q[:1], k=5)  # the first identify: finds the items mixed
        first = time.perf_counter() - t0
        extra = centres[:1] + args.noise * rng.normal(size=(args.per_identity, args.dim)).astype(np.float32)
        extra /= np.linalg.norm(extra, axis=1, keepdims=True)
        mixing_gallery.enroll_vectors("extra", extra)  # a change: the next identify updates from it alone
        t0 = time.perf_counter()
        mixing_gallery.identify_vectors(q[:1], k=5)
        update = time.perf_counter() - t0
        mixing_gallery.remove("extra")
        seconds: dict[str, list[float]] = {name: [] for name in galleries}
        answers: dict[str, list[str | None]] = {}
        for _ in range(args.rounds):
            for name, g in galleries.items():
                t0 = time.perf_counter()
                out = []
                for s in range(0, args.queries, args.batch):
                    out += g.identify_vectors(q[s : s + args.batch], k=5)
                seconds[name].append((time.perf_counter() - t0) / args.queries)
                answers[name] = [r.matches[0].identity if r.matches else None for r in out]
        for g in galleries.values():
            g.close()
    truth = [f"id{c}" for c in q_codes]
    right = {name: np.mean([a == t for a, t in zip(ans, truth, strict=True)]) for name, ans in answers.items()}
    agree = np.mean([a == b for a, b in zip(answers["plain"], answers["expansion"], strict=True)])
    agree_a = np.mean([a == b for a, b in zip(answers["plain"], answers["augmentation"], strict=True)])
    p, e, a = min(seconds["plain"]), min(seconds["expansion"]), min(seconds["augmentation"])
    la = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{args.n:,} items x {args.dim}, {n_ids:,} identities of {args.per_identity}; {args.queries} queries in "
          f"batches of {args.batch}, best of {args.rounds} passes, one thread")  # fmt: skip
    print(f"plain:     {p * 1e3:.2f} ms/query; first identity right {right['plain']:.3f}")
    print(
        f"expansion: {e * 1e3:.2f} ms/query ({args.expansion} neighbours); first identity right "
        f"{right['expansion']:.3f}; ratio {e / p:.1f}x; same first identity {agree:.3f}"
    )
    print(
        f"+ augmentation: {a * 1e3:.2f} ms/query ({args.augmentation} neighbours, items already mixed); first "
        f"identity right {right['augmentation']:.3f}; ratio {a / p:.1f}x; same first identity {agree_a:.3f}; "
        f"mixing every item (Gallery.warm, the service's start-up): {remix:.2f} s; the first identify after it: "
        f"{first:.3f} s; the identify after enrolling {args.per_identity} items: {update:.2f} s  [load average {la}]"
    )


if __name__ == "__main__":
    main()
