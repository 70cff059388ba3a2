"""Benchmarks that the library itself can run (``lookalike bench``): the held-out protocol grid."""

from lookalike.bench.protocol_grid import (
    GridRow,
    GridSpec,
    RunScore,
    resolve_recipe,
    run_grid,
    run_protocol_grid,
    summarize,
    write_tables,
)

__all__ = [
    "GridRow",
    "GridSpec",
    "RunScore",
    "resolve_recipe",
    "run_grid",
    "run_protocol_grid",
    "summarize",
    "write_tables",
]
