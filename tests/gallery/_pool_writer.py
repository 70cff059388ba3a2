"""One writer process for the pool test: waits for GO on stdin, then keeps ``BATCHES`` batches of ``SIZE`` unknown
vectors in the pool at PATH and prints the ids it got, space-separated."""

from __future__ import annotations

import sys

import numpy as np

from lookalike.gallery.unknowns import UnknownPool


def main(path: str, seed: str, batches: str, size: str) -> None:
    rng = np.random.default_rng(int(seed))
    with UnknownPool(path=path, dim=8) as pool:
        pool.count()  # opened before the start
        print("ready", flush=True)
        sys.stdin.readline()
        ids: list[int] = []
        for _ in range(int(batches)):
            ids += pool.add(rng.normal(size=(int(size), 8)).astype(np.float32), sources=[f"w{seed}"] * int(size))
        print(" ".join(map(str, ids)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
