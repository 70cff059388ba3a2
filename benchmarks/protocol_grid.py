"""The held-out protocol grid: untrained encoder, the plain PML triplet recipe, the default recipe, and
losses x distances, over seeds -> mean ± 95 % t-interval of held-out MAP@R and P@1 (grid.md + grid.csv).

    python benchmarks/protocol_grid.py fl27 orl omniglot --out runs/bench/grid      # the full table
    python benchmarks/protocol_grid.py orl --quick --out /tmp/grid                    # 1 seed, tiny grid

A protocol NAME uses the shipped recipe:NAME as its default recipe (read at run time); a path to a YAML picks
another. The grid and the PML baseline train a linear head on frozen backbone features (cached once per
protocol); the default recipe runs as written. Epochs are chosen on validation classes only; the test classes
are scored once per run, at the end. Same as ``lookalike bench``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from lookalike.bench import resolve_recipe, run_grid
    from lookalike.logs import setup_logging

    setup_logging("INFO")

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocols", nargs="+", help="fl27, orl, omniglot ... or recipe YAML paths")
    parser.add_argument("--out", type=Path, required=True, help="folder for grid.md, grid.csv and runs.csv")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the frozen-feature grid runs")
    parser.add_argument(
        "--default-seeds", type=int, default=None, help="seeds of the default recipe (default: --seeds)"
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, 2 losses x 2 distances")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", default=None, help="frozen-feature cache (default: the recipe's)")
    args = parser.parse_args()
    recipes = [resolve_recipe(p) for p in args.protocols]
    _, md, cs = run_grid(
        recipes,
        args.out,
        seeds=args.seeds,
        epochs=args.epochs,
        default_seeds=args.default_seeds,
        quick=args.quick,
        threads=args.threads,
        cache_dir=args.cache_dir,
        command=" ".join(["python", *sys.argv]),
    )
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {cs}")


if __name__ == "__main__":
    main()
