"""Zygote for the SIGKILL test: imports once, then forks one writer child per ``fork SEED`` line on stdin.

The child opens the SQLite gallery store and enrolls (sometimes removes, sometimes snapshots the index) in
a loop, printing ``ack FIRST LAST IDENTITY`` after each enroll returned, ``deleting ID`` before a removal
starts and ``del ID`` after it returned.
The test kills the child with SIGKILL at a random moment; the zygote reaps it and prints ``dead``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from lookalike.gallery.stores.sqlite import SQLiteStore


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # one write per line: lines of child and zygote never interleave


def child(path: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    store = SQLiteStore.open(path)
    step = 0
    while True:
        step += 1
        n = int(rng.integers(1, 40))
        x = rng.normal(size=(n, 8)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        name = f"s{seed}_{step}"
        ids = store.add(name, x, [{"step": step}] * n)
        _say(f"ack {ids[0]} {ids[-1]} {name}")
        if step % 7 == 0:
            victim = ids[0]
            _say(f"deleting {victim}")  # from here on the removal may or may not have happened
            store.remove_items([victim])
            _say(f"del {victim}")
        if step % 11 == 0:
            store.save_index()


def main() -> None:
    path = sys.argv[1]
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd != "fork":
            break
        pid = os.fork()
        if pid == 0:
            try:
                child(path, int(arg))
            finally:
                os._exit(1)
        _say(f"pid {pid}")
        os.waitpid(pid, 0)
        _say("dead")


if __name__ == "__main__":
    main()
