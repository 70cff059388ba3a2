"""fetch() against the local Range server: resume edge cases and HTTP errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lookalike.data.download import RemoteFile, fetch
from lookalike.errors import DownloadError

pytestmark = pytest.mark.server

DATA = bytes(range(256)) * 12_000  # ~3 MB: several read blocks
SHA256 = hashlib.sha256(DATA).hexdigest()


def _remote(server) -> RemoteFile:
    server.state.files["/blob.tar"] = DATA
    return RemoteFile(filename="blob.tar", url=server.url("blob.tar"), page="https://example.org", sha256=SHA256)


def test_resume_restarts_from_zero_when_the_server_ignores_range(http_server, tmp_path: Path) -> None:
    remote = _remote(http_server)
    http_server.state.cut["/blob.tar"] = 1_000_000
    with pytest.raises(DownloadError, match=r"after 1000000 of \d+ bytes.*run the same command again to resume"):
        fetch(remote, tmp_path, progress=False)
    http_server.state.honour_range = False  # answers 200 with the whole file
    assert fetch(remote, tmp_path, progress=False).read_bytes() == DATA
    assert http_server.state.requests[-1] == ("/blob.tar", "bytes=1000000-")
    assert not (tmp_path / "blob.tar.part").exists()


def test_a_complete_part_file_is_finished_by_a_416_answer(http_server, tmp_path: Path) -> None:
    remote = _remote(http_server)
    (tmp_path / "blob.tar.part").write_bytes(DATA)
    assert fetch(remote, tmp_path, progress=False).read_bytes() == DATA
    assert http_server.ranges("blob.tar") == [f"bytes={len(DATA)}-"]


def test_http_error_names_the_status_and_where_to_put_the_file(http_server, tmp_path: Path) -> None:
    remote = RemoteFile(filename="gone.zip", url=http_server.url("gone.zip"), page="https://example.org")
    with pytest.raises(DownloadError, match=r"answered HTTP 404.*put it at .*gone\.zip or pass --archive"):
        fetch(remote, tmp_path, progress=False)
