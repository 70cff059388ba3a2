"""Run the quick form of every benchmark in ``benchmarks/``, one after another (``make bench``).

Each benchmark runs alone in its own process (they time things: never two at once), with the arguments of its
quick run as documented in docs/benchmarks.md; the full runs quoted there take their documented commands.
The 1-minute load average is printed before each one. Exit status: the number of benchmarks that failed.

    python benchmarks/run_all.py            # all quick runs
    python benchmarks/run_all.py --list     # what would run
    python benchmarks/run_all.py gallery evaluation   # only these (names as listed)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, quick arguments). Real-data benchmarks need ../shared/data (they say so when it is absent).
QUICK: dict[str, tuple[str, list[str]]] = {
    "evaluation": ("bench_evaluation.py", ["--n", "20000", "--classes", "200"]),
    "gallery": ("bench_gallery.py", ["--n", "100000"]),
    "expansion": ("bench_expansion.py", ["--n", "20000"]),
    "service": ("bench_service.py", ["--batch-sizes", "1", "8", "--requests", "32"]),
    "train_pack": ("bench_train_throughput.py", ["--make-pack", ".data/fl27_pack"]),  # the data train_throughput reads
    "train_throughput": ("bench_train_throughput.py", ["--batch", "16", "--steps", "4", "--warmup", "1"]),
    "protocol_grid": ("protocol_grid.py", ["orl", "--quick", "--out", "runs/bench/quick_grid"]),
    "orl_open_set": ("orl_open_set.py", []),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(QUICK)})")
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(QUICK))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(QUICK)}")
    failed = 0
    for name in args.names or list(QUICK):
        script, extra = QUICK[name]
        cmd = [sys.executable, str(HERE / script), *extra]
        print(f"== {name}: {' '.join(cmd[1:])}  (load average {os.getloadavg()[0]:.2f})", flush=True)
        if args.list:
            continue
        start = time.perf_counter()
        rc = subprocess.run(cmd, check=False).returncode
        print(f"== {name}: exit {rc} after {time.perf_counter() - start:.0f} s", flush=True)
        failed += rc != 0
    return failed


if __name__ == "__main__":
    sys.exit(main())
