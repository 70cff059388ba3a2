"""Helpers shared by the service tests: keys, synthetic images, and a real server process on 127.0.0.1."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

READ_KEY = "read-key-0001"
WRITE_KEY = "write-key-0001"
READ = {"X-API-Key": READ_KEY}
WRITE = {"X-API-Key": WRITE_KEY}

#: lines added by the hardening tests; conftest prints them in pytest's terminal summary (kept in CI logs)
SUMMARY: list[str] = []


def pattern_image(seed: int, size: int = 96, noise: int = 0) -> np.ndarray:
    """A blocky colour pattern (distinct per seed); ``noise`` adds a perturbation of that amplitude."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)
    img = np.kron(base, np.ones((size // 8, size // 8, 1), np.uint8))
    if noise:
        jitter = np.random.default_rng(seed + 1000).integers(-noise, noise + 1, img.shape)
        img = np.clip(img.astype(int) + jitter, 0, 255).astype(np.uint8)
    return img


def encode(img: np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode an array as image file bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` RGB pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)) * 64, 9)  # a few rows of zeros, highly compressed
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``lookalike serve`` process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None


def start_server(gallery_dir: Path, model_dir: Path | None, log: Path, *extra: str) -> Server:
    """Start ``python -m lookalike serve`` (keys from the environment) and wait until /v1/health answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "lookalike", "serve", str(gallery_dir), "--port", str(port), *extra]
    if model_dir is not None:
        cmd += ["--model", str(model_dir)]
    env = {
        **os.environ,
        "LOOKALIKE_SERVICE_API_KEYS": READ_KEY,
        "LOOKALIKE_SERVICE_WRITE_KEYS": WRITE_KEY,
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    handle = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return Server(url=url, process=proc, log=log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not answer within 90 s:\n{log.read_text(errors='replace')[-3000:]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
