"""Fixtures for gallery tests: vector models, toy data, and a real PostgreSQL + pgvector on 127.0.0.1.

The PostgreSQL server comes from the PyPI package ``pgserver`` (it bundles PostgreSQL and pgvector
binaries; pinned in requirements.lock). We start it ourselves on a free TCP port of 127.0.0.1 (pgserver's
own helper only listens on a Unix socket). PostgreSQL refuses to run as root, so under root the data
folder belongs to, and the server runs as, an unprivileged user (pgserver's helper creates ``pgserver``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.models import EmbeddingModel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a throwaway PostgreSQL (with pgvector) listening on 127.0.0.1 for this test session."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver (dev extra) bundles PostgreSQL + pgvector")
    from pgserver._commands import POSTGRES_BIN_PATH

    user = None
    root = Path(tempfile.mkdtemp(prefix="lookalike-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        user = "pgserver"
        ensure_user_exists(user)
        ensure_prefix_permissions(root)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
        shutil.chown(root, user)
    del pgserver
    port = _free_port()
    bin_ = Path(POSTGRES_BIN_PATH)
    run = {"user": user, "check": True, "capture_output": True, "cwd": root}
    subprocess.run([bin_ / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "utf8"], **run)
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=on -c synchronous_commit=on"
    subprocess.run([bin_ / "pg_ctl", "-D", data, "-o", opts, "-l", root / "log", "-w", "-t", "60", "start"], **run)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([bin_ / "pg_ctl", "-D", data, "-m", "immediate", "stop"], user=user, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("pgvector", marks=pytest.mark.server)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where to create a gallery: a fresh folder (sqlite) or a DSN + fresh name (pgvector)."""
    if request.param == "sqlite":
        return str(tmp_path / "gallery")
    dsn = request.getfixturevalue("pg_dsn")
    return dsn


@pytest.fixture
def store_options(location: str) -> dict[str, str]:
    """Per-test table prefix for pgvector so tests never see each other's galleries."""
    return {"name": f"g_{uuid.uuid4().hex[:12]}"} if location.startswith("postgresql://") else {}


@pytest.fixture
def model8() -> EmbeddingModel:
    return EmbeddingModel.for_vectors(8, "cosine")


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    """Class folders of synthetic 'faces': each class a distinct colour pattern plus noise."""
    rng = np.random.default_rng(0)
    root = tmp_path / "faces"
    for c in range(6):
        base = rng.integers(0, 255, (8, 8, 3))
        for i in range(4):
            img = np.kron(base, np.ones((6, 6, 1))) + rng.normal(0, 8, (48, 48, 3))
            (root / f"c{c}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root
