"""The example YAML files in configs/ stay valid as the schemas change."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.data.protocols import load_protocol

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert EXAMPLES, "configs/ should hold at least one example"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_protocol_loads(path: Path) -> None:
    protocol = load_protocol(path)
    assert protocol.name == path.stem and protocol.test is not None
