"""The held-out protocol grid: untrained encoder, the plain PML triplet recipe, the default recipe, and
losses x distances, over seeds -> mean ± 95 % t-interval of held-out MAP@R and P@1 (grid.md + grid.csv).

    python benchmarks/protocol_grid.py fl27 orl omniglot --out runs/bench/grid      # the full table
    python benchmarks/protocol_grid.py orl --quick --out /tmp/grid                    # 1 seed, tiny grid

A protocol NAME uses the shipped recipe:NAME as its default recipe (read at run time); a path to a YAML picks
another. The grid and the PML baseline train a linear head on frozen backbone features (cached once per
protocol); the default recipe runs as written. Epochs are chosen on validation classes only; the test classes
are scored once per run, at the end. This script is ``lookalike bench`` (the one front door of the grid):
the same options, e.g. ``--seeds``, ``--epochs``, ``--default-seeds``, ``--threads``, ``--cache-dir``.
"""

from __future__ import annotations

import sys


def main() -> None:
    from lookalike.cli.app import main as lookalike

    sys.argv = ["lookalike", "bench", *sys.argv[1:]]
    lookalike()


if __name__ == "__main__":
    main()
