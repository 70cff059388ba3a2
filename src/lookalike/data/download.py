"""Fetch a dataset file: resumable HTTP download, checksum verification, safe extraction.

Offline is the normal case on many machines, so every failure says where a manually downloaded copy
goes: ``fetch`` looks for the file in ``dest_dir`` first and accepts an explicit ``archive=`` path, and
only then goes to the network. A transfer that breaks off keeps its ``.part`` file; the next call asks
the server for the rest with an HTTP ``Range`` request. A file whose checksum differs from the expected
one is a :class:`~lookalike.errors.ChecksumError` naming the file and the checksum it should have.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lookalike.errors import ChecksumError, DownloadError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as published.

    ``sha256``/``md5`` are the published checksums; where none is published both are ``None`` and the
    sha256 of the first complete copy is recorded beside it (``<file>.sha256``) and checked from then on.
    ``url=None`` means there is no direct link (a click-through licence, a cloud-drive folder): the file
    must be downloaded by hand from ``page``.
    """

    filename: str
    url: str | None
    page: str
    sha256: str | None = None
    md5: str | None = None
    #: approximate size, for display only
    size_bytes: int | None = None

    @property
    def is_archive(self) -> bool:
        return self.filename.lower().endswith(_ARCHIVE_SUFFIXES)


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of the file at ``path`` (``algorithm`` is a :mod:`hashlib` name such as ``"sha256"``)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, remote: RemoteFile, *, record_dir: Path) -> str:
    """Check ``path`` against ``remote``'s checksum; returns ``"algorithm:hexdigest"`` of the file.

    Without a published checksum, the sha256 recorded in ``record_dir/<filename>.sha256`` by an earlier
    verified download is used; if there is none yet, this file's sha256 is recorded.
    """
    record = record_dir / f"{remote.filename}.sha256"
    if remote.sha256 or remote.md5:
        algorithm, expected = ("sha256", remote.sha256) if remote.sha256 else ("md5", remote.md5)
        source = "published"
    elif record.is_file():
        algorithm, expected, source = "sha256", record.read_text().split()[0], f"recorded in {record}"
    else:
        digest = file_digest(path, "sha256")
        record.write_text(f"{digest}  {remote.filename}\n")
        log.info("%s has no published checksum; recorded sha256 %s in %s", remote.filename, digest, record)
        return f"sha256:{digest}"
    actual = file_digest(path, algorithm)
    if actual != str(expected).lower():
        raise ChecksumError(
            f"{path}: {algorithm} is {actual} but {remote.filename} should have {algorithm} {expected} ({source}); "
            f"the file is truncated or not the published one. Download it again from {remote.url or remote.page}."
        )
    return f"{algorithm}:{actual}"


def fetch(
    remote: RemoteFile,
    dest_dir: Path,
    *,
    url: str | None = None,
    archive: Path | None = None,
    progress: bool = True,
    timeout: float = 20.0,
) -> Path:
    """A verified local copy of ``remote``: ``archive`` if given, else ``dest_dir/filename``, downloading it if absent.

    Args:
        url: download from here instead of ``remote.url`` (a mirror).
        archive: a manually downloaded copy to use in place (verified, never modified or deleted).
        progress: show a tqdm progress bar on stderr.
        timeout: seconds to wait for the server to connect or send (offline fails at once).
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    if archive is not None:
        archive = Path(archive).expanduser()
        if not archive.is_file():
            raise DownloadError(
                f"--archive {archive} does not exist; give the path of the downloaded {remote.filename}."
            )
        verify(archive, remote, record_dir=dest_dir)
        return archive
    target = dest_dir / remote.filename
    if target.is_file():
        verify(target, remote, record_dir=dest_dir)
        return target
    source = url or remote.url
    if source is None:
        raise DownloadError(
            f"{remote.filename} has no direct download link: download it by hand from {remote.page}, then put it at "
            f"{target} (or pass --archive PATH) and run the command again."
        )
    _download(source, target, remote, progress=progress, timeout=timeout)
    try:
        verify(target, remote, record_dir=dest_dir)
    except ChecksumError:
        target.unlink()  # our own download and wrong: the next run must start afresh
        raise
    return target


def _manual_hint(remote: RemoteFile, target: Path) -> str:
    return (
        f"Download {remote.filename} on a machine with network (from {remote.url or remote.page}), then put it at "
        f"{target} or pass --archive PATH, and run the command again."
    )


def _download(url: str, target: Path, remote: RemoteFile, *, progress: bool, timeout: float) -> None:
    from tqdm.auto import tqdm

    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "lookalike-downloader"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the .part is complete
            part.replace(target)
            return
        raise DownloadError(f"{url} answered HTTP {err.code} {err.reason}. {_manual_hint(remote, target)}") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"cannot reach {url} ({reason}); this machine looks offline. {_manual_hint(remote, target)}"
        ) from err
    with response:
        if offset and response.status != 206:
            log.info("%s ignored the Range request; downloading %s from the start", url, remote.filename)
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        got = offset
        mode = "ab" if offset else "wb"
        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=remote.filename, disable=not progress)
        try:
            with open(part, mode) as f, bar:
                while block := response.read(_CHUNK):
                    f.write(block)
                    got += len(block)
                    bar.update(len(block))
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(
                f"the transfer of {remote.filename} from {url} broke off after {got} bytes ({err}); the partial file "
                f"is kept at {part}: run the same command again to resume."
            ) from err
    if total is not None and got < total:
        raise DownloadError(
            f"the transfer of {remote.filename} from {url} broke off after {got} of {total} bytes; the partial file "
            f"is kept at {part}: run the same command again to resume."
        )
    part.replace(target)


def _check_member(name: str, archive: Path) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and pure.parts[0].endswith(":")):
        raise DownloadError(
            f"{archive} contains the entry {name!r}, which would be written outside the extraction folder; refusing "
            "to extract it. The archive is not the published one: delete it and download it again."
        )


def extract(archive: Path, dest: Path) -> None:
    """Unpack a tar (plain, gz, bz2, xz) or zip ``archive`` into ``dest``, refusing path traversal and links out."""
    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(info.filename, archive)
                zf.extractall(dest)
            return
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(m.name, archive)
                if m.issym() or m.islnk():
                    _check_member(os.path.normpath(os.path.join(os.path.dirname(m.name), m.linkname)), archive)
                if m.isdev():
                    raise DownloadError(f"{archive} contains the device file {m.name!r}; refusing to extract it.")
            tf.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise DownloadError(f"{archive} is not a readable archive ({err}); delete it and download it again.") from err


def place(path: Path, dest: Path) -> Path:
    """Copy a non-archive file (an annotation file, a pair list) into ``dest``; returns its new path."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / path.name
    if out.resolve() != path.resolve():
        shutil.copyfile(path, out)
    return out


__all__ = ["RemoteFile", "extract", "fetch", "file_digest", "place", "verify"]
