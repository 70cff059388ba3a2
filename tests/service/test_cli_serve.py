"""``lookalike serve``: help with examples, and one clear error line (exit 1) for bad settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_SERVICE_")}
    return subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
    )


def test_help_has_examples():
    out = _run("--help")
    assert out.returncode == 0
    assert "--write-key" in out.stdout and "lookalike serve gallery/" in out.stdout


def test_no_key_is_one_line_and_exit_1(vector_gallery):
    out = _run(str(vector_gallery.store.location))
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no API key configured") and "--no-auth" in lines[0]


def test_with_workers_a_bad_setting_is_still_one_line_before_any_worker_starts(vector_gallery):
    out = _run(str(vector_gallery.store.location), "--workers", "2")
    assert out.returncode == 1 and out.stderr.strip().startswith("error: no API key configured")
    out = _run(
        str(vector_gallery.store.location), "--workers", "2", env={"LOOKALIKE_SERVICE_WRITE_KEYS": "write-key-0001"}
    )
    assert out.returncode == 1 and "pass it with --model" in out.stderr and "Started server" not in out.stderr


def test_gallery_without_recorded_model_asks_for_model(vector_gallery):
    out = _run(str(vector_gallery.store.location), env={"LOOKALIKE_SERVICE_WRITE_KEYS": "write-key-0001"})
    assert out.returncode == 1 and "pass it with --model" in out.stderr


@pytest.mark.server
def test_several_worker_processes_share_one_gallery(tmp_path):
    import re
    import socket
    import time

    import httpx
    import numpy as np

    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel
    from lookalike.models.export import save_model

    model_dir = save_model(EmbeddingModel.for_vectors(4), tmp_path / "model")
    with Gallery.create(tmp_path / "g", EmbeddingModel.for_vectors(4), model_source=str(model_dir), threshold=0.9):
        pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_SERVICE_")}
    env = {**clean, "LOOKALIKE_SERVICE_WRITE_KEYS": "write-key-0001", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lookalike", "serve", str(tmp_path / "g"), "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    url, headers = f"http://127.0.0.1:{port}", {"X-API-Key": "write-key-0001"}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # both workers up: each logs its own start-up
            assert server.poll() is None, log.read_text(errors="replace")[-2000:]
            if len(set(re.findall(r"Started server process \[(\d+)\]", log.read_text(errors="replace")))) == 2:
                break
            time.sleep(0.3)
        started = set(re.findall(r"Started server process \[(\d+)\]", log.read_text(errors="replace")))
        assert len(started) == 2, log.read_text(errors="replace")[-2000:]
        while True:  # and accepting
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        r = httpx.post(f"{url}/v1/enroll", json={"identity": "alice", "vectors": [[1, 0, 0, 0]]}, headers=headers)
        assert r.status_code == 200
        q = (np.array([[1, 0.05, 0, 0]]) / np.linalg.norm([1, 0.05, 0, 0])).tolist()
        for _ in range(20):  # a new connection each time: whichever worker answers has seen the enrolment
            r = httpx.post(f"{url}/v1/identify", json={"vectors": q, "k": 1}, headers=headers, timeout=30)
            assert r.status_code == 200 and r.json()["results"][0]["identity"] == "alice"
        line = re.compile(
            r'^lookalike_http_requests_total\{method="POST",route="/v1/identify",status="200"\} (\S+)$', re.M
        )
        for _ in range(6):  # whichever worker answers the scrape, it reports both workers' requests
            text = httpx.get(f"{url}/metrics", timeout=10).text
            found = line.search(text)
            assert found and float(found.group(1)) == 20.0, text[:3000]
    finally:
        server.terminate()
        server.wait(timeout=30)
