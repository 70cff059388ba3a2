"""Our evaluator vs PML's AccuracyCalculator on the same embeddings: time, peak memory, same numbers.

Each method runs in its own subprocess (so peak resident memory, ``ru_maxrss``, is its own), on the same
seeded embeddings: ``n`` unit vectors of ``dim`` floats in ``classes`` equal classes (Gaussian clusters),
leave-one-out retrieval (Musgrave et al. protocol: Precision@1, R-Precision, MAP@R). Both get the same
thread count; the 1-minute load average before and after each run is printed (the machine may be shared).
PML runs with ``k="max_bin_count"`` (its default ``k=None`` would search all n-1 neighbours, an n x n result
that does not fit in memory at this size).

    python benchmarks/bench_evaluation.py                 # 100,000 x 128, 1,000 classes, 2 threads
    python benchmarks/bench_evaluation.py --n 20000       # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _embeddings(n: int, dim: int, classes: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n // classes)
    labels = np.r_[labels, rng.integers(0, classes, n - len(labels))]
    centers = rng.normal(size=(classes, dim)).astype(np.float32)
    x = centers[labels] + 2.0 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, labels


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _worker(method: str, n: int, dim: int, classes: int, threads: int) -> dict:
    import faiss
    import torch
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    from lookalike.evaluation.retrieval import retrieval_metrics

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    x, y = _embeddings(n, dim, classes, seed=0)
    base = _maxrss_mb()
    t0 = time.perf_counter()  # imports done above for both: the clock times the evaluation only
    if method == "lookalike":
        m, _ = retrieval_metrics(x, y, distance="cosine", ks=(1,), device="cpu")
        values = {"precision_at_1": m.precision_at_1, "r_precision": m.r_precision, "map_at_r": m.map_at_r}
    else:
        calc = AccuracyCalculator(
            include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
            k="max_bin_count",
            device=torch.device("cpu"),
        )
        acc = calc.get_accuracy(x, y)
        values = {
            "precision_at_1": acc["precision_at_1"],
            "r_precision": acc["r_precision"],
            "map_at_r": acc["mean_average_precision_at_r"],
        }
    seconds = time.perf_counter() - t0
    return {"method": method, "seconds": seconds, "peak_rss_mb": _maxrss_mb(), "rss_before_mb": base, **values}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker", choices=["lookalike", "pml"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.n, args.dim, args.classes, args.threads)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    print(f"{args.n:,} x {args.dim} embeddings, {args.classes:,} classes, {args.threads} threads, leave-one-out")
    rows = {}
    for method in ("lookalike", "pml"):
        cmd = [sys.executable, __file__, "--worker", method, "--n", str(args.n), "--dim", str(args.dim),
               "--classes", str(args.classes), "--threads", str(args.threads)]  # fmt: skip
        load_before = os.getloadavg()[0]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        rows[method] = {**json.loads(out.stdout.strip().splitlines()[-1]), "load": (load_before, os.getloadavg()[0])}
    print(
        f"{'method':<22}{'seconds':>10}{'peak RSS MB':>14}{'RSS before':>12}{'P@1':>10}{'R-Prec':>10}{'MAP@R':>10}"
        f"{'load 1-min avg':>18}"
    )
    for name, label in (("lookalike", "lookalike exact_knn"), ("pml", "PML AccuracyCalculator")):
        r = rows[name]
        print(
            f"{label:<22}{r['seconds']:>10.1f}{r['peak_rss_mb']:>14.0f}{r['rss_before_mb']:>12.0f}"
            f"{r['precision_at_1']:>10.5f}{r['r_precision']:>10.5f}{r['map_at_r']:>10.5f}"
            f"{r['load'][0]:>11.2f} → {r['load'][1]:.2f}"
        )
    a, b = rows["lookalike"], rows["pml"]
    diff = max(abs(a[k] - b[k]) for k in ("precision_at_1", "r_precision", "map_at_r"))
    print(f"speed-up: {b['seconds'] / a['seconds']:.2f}x   max |difference| of the metrics: {diff:.2e}")


if __name__ == "__main__":
    main()
