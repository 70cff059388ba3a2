"""Standard benchmark datasets: fetch, verify, extract, and convert into a manifest with the literature's split.

>>> from lookalike.data.standard import prepare
>>> result = prepare("cub200", Path("data/cub200"))            # doctest: +SKIP
>>> from_manifest(result.conversion.manifest)                   # doctest: +SKIP

``DIR/downloads/`` keeps the downloaded files (a manually downloaded one can be put there too);
archives are extracted into ``DIR`` and ``DIR/manifest.csv`` is written, with paths relative to ``DIR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from lookalike.data.download import RemoteFile, extract, fetch, place
from lookalike.data.standard import cars196, cub200, flickr_logos_27, inshop, lfw, sop
from lookalike.data.standard._base import DATASETS, MANIFEST, Conversion, SplitCount, StandardDataset
from lookalike.errors import ChecksumError, DataError, DownloadError

DOWNLOADS = "downloads"
#: the modules register themselves in DATASETS on import
_MODULES = (cub200, cars196, sop, inshop, lfw, flickr_logos_27)


@dataclass(frozen=True)
class Prepared:
    """A dataset ready to use: its description, the local files it came from, and the conversion."""

    dataset: StandardDataset
    root: Path
    files: dict[str, Path]
    conversion: Conversion


def names() -> list[str]:
    """Names of the standard datasets."""
    return DATASETS.names()


def get(name: str) -> StandardDataset:
    """The description of dataset ``name`` (an unknown name lists the known ones)."""
    return DATASETS.create(name)


def _assign(values: Sequence[str], files: Sequence[RemoteFile], what: str) -> dict[str, str]:
    """Match ``--archive``/``--url`` values to the dataset's files: by file name, else by position."""
    if not values:
        return {}
    wanted = [f.filename for f in files]
    names_given = [_basename(v, what) for v in values]
    if all(n in wanted for n in names_given) and len(set(names_given)) == len(names_given):
        return dict(zip(names_given, values, strict=True))
    if len(values) == len(files):
        return dict(zip(wanted, values, strict=True))
    raise DownloadError(
        f"{len(values)} {what} value(s) given for a dataset of {len(files)} file(s) ({', '.join(wanted)}): "
        f"give one {what} per file in that order, or name the files exactly so."
    )


def _basename(value: str, what: str) -> str:
    return PurePosixPath(urlparse(value).path).name if what == "--url" else Path(value).name


def prepare(
    dataset: str | StandardDataset,
    root: str | Path,
    *,
    archives: Sequence[str | Path] = (),
    urls: Sequence[str] = (),
    progress: bool = True,
    timeout: float = 20.0,
) -> Prepared:
    """Fetch (or take from ``archives``), verify, extract and convert ``dataset`` (a name) into ``root``.

    Files already in ``root/downloads`` are verified and reused; a broken transfer resumes. Archives are
    extracted once (a marker records it). Raises :class:`DownloadError` (offline: where to put the files)
    or :class:`ChecksumError` (naming the file and the expected checksum).
    """
    spec = get(dataset) if isinstance(dataset, str) else dataset
    root = Path(root).expanduser()
    downloads = root / DOWNLOADS
    local = _assign([str(a) for a in archives], spec.files, "--archive")
    mirrors = _assign(list(urls), spec.files, "--url")
    manual = [
        f
        for f in spec.files
        if f.url is None
        and f.filename not in local
        and f.filename not in mirrors
        and not (downloads / f.filename).is_file()
    ]
    if manual:
        listed = ", ".join(f.filename for f in manual)
        raise DownloadError(
            f"{spec.title} has no direct download link for {listed}: download them by hand from {spec.page} "
            f"(accepting its terms), put them in {downloads}/ (or pass --archive PATH for each), and run again."
        )
    paths: dict[str, Path] = {}
    for remote in spec.files:
        archive = local.get(remote.filename)
        try:
            path = fetch(
                remote,
                downloads,
                url=mirrors.get(remote.filename),
                archive=Path(archive) if archive else None,
                progress=progress,
                timeout=timeout,
            )
        except ChecksumError:
            raise
        except DownloadError as err:
            if len(spec.files) == 1:
                raise
            listed = "; ".join(f"{f.filename} ({f.url or f.page})" for f in spec.files)
            raise DownloadError(f"{err} {spec.title} needs all of: {listed}.") from err
        paths[remote.filename] = path
        if remote.is_archive:
            marker = root / f".{remote.filename}.extracted"
            stamp = f"{path.stat().st_size}\n"
            if not marker.is_file() or marker.read_text() != stamp:
                extract(path, root)
                marker.write_text(stamp)
        else:
            place(path, root)
    try:
        conversion = spec.convert(root)
    except DataError:
        raise
    except (KeyError, IndexError, ValueError) as err:
        raise DataError(
            f"{spec.title}: the files extracted into {root} do not have the published layout ({err!r}); "
            f"check that the downloads are the ones from {spec.page}"
        ) from err
    return Prepared(dataset=spec, root=root, files=paths, conversion=conversion)


__all__ = [
    "DATASETS",
    "DOWNLOADS",
    "MANIFEST",
    "Conversion",
    "Prepared",
    "SplitCount",
    "StandardDataset",
    "get",
    "names",
    "prepare",
]
