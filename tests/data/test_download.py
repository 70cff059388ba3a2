"""lookalike.data.download without a server: checksums, offline errors, --archive, safe extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from lookalike.data.download import RemoteFile, extract, fetch, verify
from lookalike.errors import ChecksumError, DownloadError

DATA = b"lookalike" * 1000
MD5 = hashlib.md5(DATA).hexdigest()
SHA256 = hashlib.sha256(DATA).hexdigest()
OFFLINE = "http://127.0.0.1:9"  # the discard port: connection refused


def remote(**kw: object) -> RemoteFile:
    args = {"filename": "set.tgz", "url": f"{OFFLINE}/set.tgz", "page": "https://example.org/set"} | kw
    return RemoteFile(**args)  # type: ignore[arg-type]


def test_verify_accepts_published_md5_and_sha256(tmp_path: Path) -> None:
    f = tmp_path / "set.tgz"
    f.write_bytes(DATA)
    assert verify(f, remote(md5=MD5), record_dir=tmp_path) == f"md5:{MD5}"
    assert verify(f, remote(sha256=SHA256.upper()), record_dir=tmp_path) == f"sha256:{SHA256}"


def test_truncated_archive_is_a_checksum_error_naming_file_and_expected_checksum(tmp_path: Path) -> None:
    archive = tmp_path / "mine" / "set.tgz"
    archive.parent.mkdir()
    archive.write_bytes(DATA[:-10])
    with pytest.raises(ChecksumError) as err:
        fetch(remote(md5=MD5), tmp_path / "dl", archive=archive, progress=False)
    assert str(archive) in str(err.value) and MD5 in str(err.value) and "set.tgz" in str(err.value)
    assert archive.read_bytes() == DATA[:-10]  # a user's file is never deleted


def test_archive_option_is_used_in_place_without_network(tmp_path: Path) -> None:
    archive = tmp_path / "set.tgz"
    archive.write_bytes(DATA)
    assert fetch(remote(sha256=SHA256), tmp_path / "dl", archive=archive, progress=False) == archive
    with pytest.raises(DownloadError, match="does not exist"):
        fetch(remote(sha256=SHA256), tmp_path / "dl", archive=tmp_path / "nope.tgz", progress=False)


def test_file_put_in_the_download_folder_is_verified_and_used_offline(tmp_path: Path) -> None:
    (tmp_path / "set.tgz").write_bytes(DATA)
    assert fetch(remote(md5=MD5), tmp_path, progress=False) == tmp_path / "set.tgz"
    (tmp_path / "set.tgz").write_bytes(DATA + b"x")
    with pytest.raises(ChecksumError, match=MD5):
        fetch(remote(md5=MD5), tmp_path, progress=False)


def test_without_published_checksum_the_first_copy_is_recorded_then_enforced(tmp_path: Path) -> None:
    f = tmp_path / "set.tgz"
    f.write_bytes(DATA)
    assert verify(f, remote(), record_dir=tmp_path) == f"sha256:{SHA256}"
    assert (tmp_path / "set.tgz.sha256").read_text().split()[0] == SHA256
    f.write_bytes(DATA[:100])
    with pytest.raises(ChecksumError, match=f"should have sha256 {SHA256} \\(recorded in"):
        verify(f, remote(), record_dir=tmp_path)


def test_offline_fails_at_once_saying_where_to_put_the_archive(tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        fetch(remote(md5=MD5), tmp_path / "dl", progress=False)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "cannot reach http://127.0.0.1:9/set.tgz" in message and "offline" in message
    assert str(tmp_path / "dl" / "set.tgz") in message and "--archive PATH" in message
    assert not list((tmp_path / "dl").iterdir())


def test_file_without_direct_link_names_its_page_and_place(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"by hand from https://example.org/set.*put it at .*set\.tgz"):
        fetch(remote(url=None), tmp_path, progress=False)


def _tar(members: list[tarfile.TarInfo]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return buf.getvalue()


def _member(name: str, *, link: str | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    if link is None:
        info.size = 1
    else:
        info.type, info.linkname = tarfile.SYMTYPE, link
    return info


def test_extract_unpacks_tar_and_zip(tmp_path: Path) -> None:
    (tmp_path / "a.tgz").write_bytes(_tar([_member("top/a.txt"), _member("top/sub/b.txt")]))
    extract(tmp_path / "a.tgz", tmp_path / "out")
    assert (tmp_path / "out/top/sub/b.txt").read_bytes() == b"x"
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("z/c.txt", b"zip")
    extract(tmp_path / "a.zip", tmp_path / "out")
    assert (tmp_path / "out/z/c.txt").read_bytes() == b"zip"


@pytest.mark.parametrize(
    "member",
    [
        _member("../escaped.txt"),
        _member("top/../../escaped.txt"),
        _member("/tmp/escaped-absolute.txt"),
        _member("top/link", link="../../escaped.txt"),
        _member("top/abslink", link="/etc/passwd"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute"],
)
def test_extract_refuses_path_traversal_in_tar(tmp_path: Path, member: tarfile.TarInfo) -> None:
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tar([_member("top/ok.txt"), member]))
    with pytest.raises(DownloadError, match="outside the extraction folder"):
        extract(archive, tmp_path / "out" / "deep")
    assert not (tmp_path / "out" / "deep" / "top").exists()  # checked before anything is written
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out" / "escaped.txt").exists()


def test_extract_refuses_path_traversal_in_zip(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", b"ok")
        zf.writestr("../../escaped.txt", b"bad")
    with pytest.raises(DownloadError, match=r"'\.\./\.\./escaped\.txt'.*outside"):
        extract(archive, tmp_path / "out" / "deep")
    assert not (tmp_path / "escaped.txt").exists()


def test_extract_names_an_unreadable_archive(tmp_path: Path) -> None:
    bad = tmp_path / "broken.tgz"
    bad.write_bytes(b"not a tar at all")
    with pytest.raises(DownloadError, match="not a readable archive"):
        extract(bad, tmp_path / "out")
