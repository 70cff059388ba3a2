"""Identify throughput of the HTTP service vs the raw model forward, at the same batch sizes.

For each batch size B: the raw figure is ``model.embed`` on B already-decoded images (images/s, best of two
runs before and two after the service run, averaged; preprocessing included, as in the service). The
service figure runs ``lookalike serve`` as its own process on 127.0.0.1 with ``max_batch_size=B`` and keeps
2·B identify requests of one PNG each in flight (so the micro-batcher can fill batches of B); images/s =
requests answered per second. Every request must answer 200. The client runs on the same machine and takes
CPU from the server: the ratio is a lower bound. Both sides use ``BENCH_THREADS`` (1) torch threads.

    python benchmarks/bench_service.py [--model timm:tf_efficientnet_lite0] [--batch-sizes 1 8 32] [--requests 192]
    python benchmarks/bench_service.py --batch-sizes 8 --workers 1 2     # one worker process against two

``--workers`` runs the service with each number of worker processes (``lookalike serve --workers N``) in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

KEY = "bench-read-key-0001"
#: torch threads for both sides (one each: on a shared 2-core machine more threads oversubscribe the cores)
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


def _png(seed: int, size: int = 224) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.kron(rng.integers(0, 255, (14, 14, 3)).astype(np.uint8), np.ones((size // 14, size // 14, 1), np.uint8))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def raw_rate(model: object, images: list[object], batch: int, repeats: int) -> float:
    """Images/s of ``model.embed`` on batches of ``batch`` decoded images (best of ``repeats``)."""
    model.embed(images[:batch], batch_size=batch)  # warm-up
    best = 0.0
    for _ in range(repeats):
        n, started = 0, time.perf_counter()
        for start in range(0, len(images) - batch + 1, batch):
            model.embed(images[start : start + batch], batch_size=batch)
            n += batch
        best = max(best, n / (time.perf_counter() - started))
    return best


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _drive(url: str, pngs: list[bytes], total: int, concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=concurrency)) as http:

        async def worker() -> None:
            for i in counter:
                files = [("images", (f"{i}.png", pngs[i % len(pngs)], "image/png"))]
                r = await http.post("/v1/identify", files=files, headers={"X-API-Key": KEY})
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def service_rate(
    gallery: Path, batch: int, pngs: list[bytes], total: int, workers: int = 1
) -> tuple[float, dict[int, int]]:
    """Identify requests/s of a served gallery with ``max_batch_size=batch`` and 2·batch requests in flight
    (``workers`` processes: each has its own micro-batcher)."""
    port = _free_port()
    env = {**os.environ, "LOOKALIKE_SERVICE_API_KEYS": KEY, "OMP_NUM_THREADS": str(THREADS)}
    cmd = [
        sys.executable,
        "-m",
        "lookalike",
        "serve",
        str(gallery),
        "--port",
        str(port),
        "--set",
        f"max_batch_size={batch}",
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        asyncio.run(_drive(url, pngs, 2 * batch, 2 * batch))  # warm-up
        started = time.perf_counter()
        statuses = asyncio.run(_drive(url, pngs, total, 2 * batch))
        return total / (time.perf_counter() - started), statuses
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="timm:tf_efficientnet_lite0")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=192, help="identify requests per batch size")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="worker processes of the service")
    args = parser.parse_args()

    import torch

    from lookalike.data.images import load_image
    from lookalike.gallery import Gallery
    from lookalike.models import load_model, save_model

    torch.set_num_threads(THREADS)
    model = load_model(args.model)
    pngs = [_png(i) for i in range(64)]
    images = [load_image(p) for p in pngs]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = save_model(model, Path(tmp) / "model")
        gallery_dir = Path(tmp) / "gallery"
        with Gallery.create(gallery_dir, model, threshold=0.5, model_source=str(model_dir)) as gallery:
            gallery.enroll("a", images[:4])
            gallery.enroll("b", images[4:8])
        print(
            f"model {args.model} ({model.embedding_size}-d), "
            f"torch threads: {torch.get_num_threads()} here, {THREADS} in the server"
        )
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'batch':>5} | workers | {'raw embed img/s':>15} | {'service req/s':>13} | {'ratio':>6} | statuses")
        for b, w in itertools.product(args.batch_sizes, args.workers):
            before = raw_rate(model, images, b, repeats=2)
            served, statuses = service_rate(gallery_dir, b, pngs, max(args.requests, 4 * b), w)
            raw = (before + raw_rate(model, images, b, repeats=2)) / 2  # measured around the service run
            print(f"{b:>5} | {w:>7} | {raw:>15.1f} | {served:>13.1f} | {served / raw:>6.0%} | {statuses}  "
                  f"[load average {os.getloadavg()[0]:.2f}]", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
