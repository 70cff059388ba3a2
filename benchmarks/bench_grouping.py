"""What discovery's grouping costs as the unknown pool grows: the matrix-free single-linkage path (the default)
against the N x N matrix path, in seconds and peak memory.

    python benchmarks/bench_grouping.py                      # pools of 2,000 / 5,000 / 10,000 / 20,000
    python benchmarks/bench_grouping.py --sizes 2000 5000    # quick run

Each measurement runs in a fresh process (peak resident memory is per process): clustered, L2-normalised
128-d vectors (identities of 20, noise 0.3), ``group_embeddings`` with the library's default parameters (single
linkage, ``mix`` 5) in the cosine space, once through the matrix-free path and once through the matrix path
(``lookalike.models.grouping._group_dense``, what every grouping used before; only up to ``DENSE_LIMIT`` items,
which it now refuses above). Prints seconds, peak RSS, the number of groups (equal for both paths) and the
ratio of the two, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def one(n: int, path: str) -> dict[str, float]:
    from lookalike.models.distances import get_distance
    from lookalike.models.grouping import GroupingParams, _group_dense, _group_single

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n // 20, 128))
    x = centres[rng.integers(0, len(centres), n)] + 0.3 * rng.normal(size=(n, 128))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    run = _group_single if path == "matrix-free" else _group_dense
    t0 = time.perf_counter()
    groups = run(x, get_distance("cosine"), 0.5, GroupingParams())
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return {"seconds": seconds, "peak_gb": peak, "before_gb": base, "groups": len(groups)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    ap.add_argument("--one", nargs=2, metavar=("N", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one[0]), args.one[1])))
        return
    from lookalike.models.grouping import DENSE_LIMIT

    print("items | path | seconds | peak RSS (GB; the process before grouping) | groups")
    for n in args.sizes:
        found = {}
        for path in ("matrix-free", "matrix"):
            if path == "matrix" and n > DENSE_LIMIT:
                print(f"{n:,} | matrix | refused above DENSE_LIMIT {DENSE_LIMIT:,}")
                continue
            cmd = [sys.executable, __file__, "--one", str(n), path]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            found[path] = r
            print(f"{n:,} | {path} | {r['seconds']:.1f} | {r['peak_gb']:.2f} ({r['before_gb']:.2f}) | {r['groups']}  "
                  f"[load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}]", flush=True)  # fmt: skip
        if len(found) == 2:
            a, b = found["matrix"], found["matrix-free"]
            print(f"{n:,}: matrix / matrix-free: {a['seconds'] / b['seconds']:.1f}x the time, "
                  f"{a['peak_gb'] / b['peak_gb']:.1f}x the peak memory", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
