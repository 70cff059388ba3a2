"""Several processes share one SQLite gallery for minutes: library, CLI, service and plain ``sqlite3`` readers.

Prints the processes, minutes, operations (per role), crashes (a process that died, e.g. SIGBUS = exit -7, or
that reported a wrong answer) and SQLite's ``integrity_check``, plus whether the gallery's faiss index holds
exactly SQLite's items at the end. docs/gallery.md quotes its figures.

    python benchmarks/gallery_stress.py --minutes 3            # the documented run
    python benchmarks/gallery_stress.py --minutes 0.3 --library 2 --sqlite 2 --cli 1 --service 1

Roles (each one process, looping until the deadline):
  library  ``Gallery.open`` + identify in a tight loop, enrolls and removes now and then
  sqlite   plain ``sqlite3``: connect, read, close, again (each close used to let the next opener reset the
           shared memory under the library processes: SIGBUS)
  cli      ``python -m lookalike gallery list|info`` (a fresh process each time)
  service  ``lookalike serve`` on 127.0.0.1 plus a client enrolling, identifying and removing over HTTP
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIM = 8
KEY = "stress-key-0001"


def _unit(rng, n: int):  # type: ignore[no-untyped-def]
    import numpy as np

    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def role_library(gallery: str, seconds: float, seed: int) -> int:
    import numpy as np

    from lookalike.gallery import Gallery

    rng = np.random.default_rng(seed)
    ops, step, deadline = 0, 0, time.monotonic() + seconds
    with Gallery.open(gallery) as g:
        probe = _unit(rng, 4)
        while time.monotonic() < deadline:
            for r in g.identify_vectors(probe, k=3):
                if r.matches and not all(-1.01 <= m.score <= 1.01 for m in r.matches):
                    raise SystemExit(f"wrong score {r}")
            ops += 1
            step += 1
            if step % 200 == 0:
                name = f"lib{seed}_{step}"
                ids = g.enroll_vectors(name, _unit(rng, 3))
                got = g.identify_vectors(g.store.vectors().vectors[-1:], k=1)[0]
                if not got.matches:
                    raise SystemExit("an enrolled item is not found")
                if step % 400 == 0:
                    g.remove_item(ids[0])
                ops += 2
    return ops


def role_sqlite(gallery: str, seconds: float, seed: int) -> int:
    ops, deadline = 0, time.monotonic() + seconds
    db = Path(gallery) / "gallery.sqlite"
    while time.monotonic() < deadline:
        conn = sqlite3.connect(db, timeout=60)
        conn.execute("SELECT count(*) FROM items").fetchone()
        conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        conn.close()
        ops += 1
    return ops


def role_cli(gallery: str, seconds: float, seed: int) -> int:
    ops, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for cmd in (["gallery", "list", gallery, "--json"], ["gallery", "info", gallery]):
            out = subprocess.run([sys.executable, "-m", "lookalike", *cmd], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"CLI {cmd} exited {out.returncode}: {out.stderr[-2000:]}")
            ops += 1
    return ops


def role_service(gallery: str, seconds: float, seed: int) -> int:
    import httpx
    import numpy as np

    with socket_port() as port:
        pass
    env = {**os.environ, "LOOKALIKE_SERVICE_WRITE_KEYS": KEY, "OMP_NUM_THREADS": "1"}
    log = Path(tempfile.mkdtemp(prefix="stress-serve-")) / "serve.log"
    cmd = [sys.executable, "-m", "lookalike", "serve", gallery, "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    url, headers = f"http://127.0.0.1:{port}", {"X-API-Key": KEY}
    rng = np.random.default_rng(seed)
    ops, step, started = 0, 0, time.monotonic()
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"server exited {server.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # the server may take a while to import under load: give it some time to work after it answers
        deadline = max(started + seconds, time.monotonic() + min(10.0, seconds))
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            while time.monotonic() < deadline:
                r = client.post("/v1/identify", json={"vectors": _unit(rng, 2).tolist(), "k": 3})
                if r.status_code != 200:
                    raise SystemExit(f"identify answered {r.status_code}: {r.text[:500]}")
                ops, step = ops + 1, step + 1
                if step % 50 == 0:
                    r = client.post(
                        "/v1/enroll", json={"identity": f"svc{seed}_{step}", "vectors": _unit(rng, 2).tolist()}
                    )
                    if r.status_code != 200:
                        raise SystemExit(f"enroll answered {r.status_code}: {r.text[:500]}")
                    if step % 100 == 0:
                        r = client.delete(f"/v1/identities/svc{seed}_{step}")
                        if r.status_code != 200:
                            raise SystemExit(f"remove answered {r.status_code}: {r.text[:500]}")
                    ops += 1
        if server.poll() is not None:
            raise SystemExit(f"server exited {server.returncode}: {log.read_text(errors='replace')[-2000:]}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return ops


class socket_port:
    """A free TCP port on 127.0.0.1 (``with socket_port() as port``)."""

    def __enter__(self) -> int:
        import socket

        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))
        return int(self._s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._s.close()


ROLES = {"library": role_library, "sqlite": role_sqlite, "cli": role_cli, "service": role_service}


def make_gallery(folder: Path) -> str:
    """A vector gallery (8-d cosine) whose model folder is recorded, so CLI and service can open it alone."""
    import numpy as np

    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel, save_model

    model_dir = save_model(EmbeddingModel.for_vectors(DIM), folder / "model")
    path = folder / "gallery"
    rng = np.random.default_rng(0)
    with Gallery.create(path, EmbeddingModel.for_vectors(DIM), model_source=str(model_dir)) as g:
        for i in range(50):
            g.enroll_vectors(f"seed{i}", _unit(rng, 4))
    return str(path)


def check(gallery: str) -> dict[str, object]:
    """SQLite's integrity_check, and whether the reopened store's index holds exactly SQLite's items."""
    conn = sqlite3.connect(Path(gallery) / "gallery.sqlite")
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    from lookalike.gallery.stores.sqlite import SQLiteStore

    store = SQLiteStore.open(gallery)
    try:
        index_ok = sorted(store.mirror.index.ids().tolist()) == [r.id for r in store.items()]
        items, identities = store.count(), store.identity_count()
    finally:
        store.close()
    return {"integrity_check": integrity, "index_matches_sqlite": index_ok, "items": items, "identities": identities}


def run(*, minutes: float, counts: dict[str, int], folder: Path) -> dict[str, object]:
    """Start every role process, wait for all, and return the figures."""
    gallery = make_gallery(folder)
    seconds = minutes * 60
    procs = []
    for role, n in counts.items():
        for _ in range(n):
            cmd = [sys.executable, __file__, "--role", role, "--gallery", gallery, "--seconds", str(seconds)]
            cmd += ["--seed", str(len(procs) + 1)]
            procs.append((role, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    ops: dict[str, int] = dict.fromkeys(counts, 0)
    crashes: list[str] = []
    for role, p in procs:
        out, err = p.communicate(timeout=seconds + 300)
        if p.returncode != 0:
            crashes.append(f"{role} pid {p.pid} exit {p.returncode}: {err.strip()[-500:]}")
            continue
        ops[role] += int(out.strip().splitlines()[-1])
    return {
        "processes": len(procs),
        "roles": {r: n for r, n in counts.items() if n},
        "minutes": minutes,
        "operations": sum(ops.values()),
        "operations_by_role": ops,
        "crashes": len(crashes),
        "crash_details": crashes,
        **check(gallery),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0)
    for role, n in (("library", 3), ("sqlite", 2), ("cli", 1), ("service", 1)):
        ap.add_argument(f"--{role}", type=int, default=n, help=f"{role} processes (default {n})")
    ap.add_argument("--folder", type=Path, default=None, help="where to build the gallery (default: a temp dir)")
    ap.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    ap.add_argument("--gallery", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:  # a worker: print its operation count last
        print(ROLES[args.role](args.gallery, args.seconds, args.seed))
        return
    print(f"loadavg before: {os.getloadavg()}", flush=True)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="gallery-stress-"))
    counts = {r: getattr(args, r) for r in ROLES}
    print(json.dumps(run(minutes=args.minutes, counts=counts, folder=folder), indent=2))


if __name__ == "__main__":
    main()
