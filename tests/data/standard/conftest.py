"""A local HTTP server with Range support, mini-archive builders, and the download drill every dataset test runs."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from std_archives import with_checksums

from lookalike.data.protocols import DATA_ROOT_ENV, Protocol, load_protocol
from lookalike.data.standard import Prepared, get, prepare
from lookalike.errors import ChecksumError, DownloadError


@dataclass
class ServerState:
    """What the server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: (path, Range header or None) of every GET, in order
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    #: path -> bytes to send before dropping the connection, for the next response to that path only
    cut: dict[str, int] = field(default_factory=dict)
    honour_range: bool = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        state.requests.append((self.path, rng))
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and state.honour_range:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            assert m, rng
            start = int(m[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if start or (rng and state.honour_range) else 200)
        if rng and state.honour_range:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        cut = state.cut.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@dataclass
class LocalServer:
    state: ServerState
    base: str

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def ranges(self, name: str) -> list[str]:
        return [r for p, r in self.state.requests if p == f"/{name}" and r]


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """An HTTP server on 127.0.0.1 (random port) serving ``state.files``; honours ``Range: bytes=N-``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalServer(server.state, f"http://127.0.0.1:{server.server_address[1]}")  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    """A valid 8x8 JPEG."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def download_drill(http_server: LocalServer, tmp_path: Path) -> Callable[[str, dict[str, bytes]], Prepared]:
    """Serve mini files for dataset ``name`` and run the drill every dataset test shares.

    1. With the dataset's published checksums the mini archive must fail verification, naming the file and
       the published checksum, and the bad download must not be kept.
    2. The first transfer of the (largest) archive breaks off half way: a DownloadError that says to resume.
    3. The second run resumes with a Range request from where the first stopped and completes.
    """

    def drill(name: str, files: dict[str, bytes]) -> Prepared:
        spec = get(name)
        for filename, data in files.items():
            http_server.state.files[f"/{filename}"] = data
        urls = [http_server.url(f.filename) for f in spec.files]
        root = tmp_path / name
        published = [f for f in spec.files if f.md5 or f.sha256]
        if published:
            f = published[0]
            with pytest.raises(ChecksumError) as err:
                prepare(spec, root, urls=urls, progress=False)
            assert f.filename in str(err.value) and str(f.md5 or f.sha256) in str(err.value)
            assert not (root / "downloads" / f.filename).exists()
        biggest = max(files, key=lambda k: len(files[k]))
        half = len(files[biggest]) // 2
        http_server.state.cut[f"/{biggest}"] = half
        mini = with_checksums(spec, files)
        with pytest.raises(DownloadError, match="resume"):
            prepare(mini, root, urls=urls, progress=False)
        assert (root / "downloads" / f"{biggest}.part").stat().st_size == half
        result = prepare(mini, root, urls=urls, progress=False)
        assert http_server.ranges(biggest)[-1] == f"bytes={half}-"
        assert (root / "downloads" / biggest).read_bytes() == files[biggest]
        return result

    return drill


PROTOCOLS = Path(__file__).resolve().parents[3] / "src" / "lookalike" / "protocols"


@pytest.fixture
def std_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], Protocol]:
    """``protocol:<name>`` resolving its data against the drill's ``tmp_path/<name>``."""

    def load(name: str) -> Protocol:
        monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
        return load_protocol(PROTOCOLS / f"{name}.yaml")

    return load
