"""CLI: ``lookalike gallery create|enroll|remove|list|info``, ``identify``, ``verify``, ``calibrate``.

Thin: parse, call :mod:`lookalike.gallery`, format. A gallery records the model it was built with, so
``identify``/``enroll``/``calibrate`` reload that model unless ``--model`` names it explicitly. Paths, names
and options are checked *before* a model is loaded (loading takes seconds to tens of seconds), so a wrong
invocation fails at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from lookalike.cli.app import app, on_bad, skip_bad_option
from lookalike.errors import DataError

gallery_app = typer.Typer(help="Create and manage galleries of enrolled identities.", no_args_is_help=True)
app.add_typer(gallery_app, name="gallery")

_STORE_HELP = "a gallery folder (SQLite + faiss) or a postgresql:// DSN (pgvector)"


def _open(location: str, model: str | None = None, name: str | None = None, *, need_model: bool = True) -> Any:
    from lookalike.gallery import Gallery

    options: dict[str, Any] = {"name": name} if name else {}
    if need_model:
        return Gallery.open_with_model(location, model, **options)
    return Gallery.open(location, None, **options)


def _is_dsn(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def _check_location(location: str, name: str | None, *, exists: bool) -> None:
    """A folder gallery exists (or not yet, for ``create``); ``--name`` only with a PostgreSQL DSN."""
    from lookalike.errors import ConfigError, GalleryError, NotFoundError

    if _is_dsn(location):
        return
    if name is not None:
        raise ConfigError(
            f"--name is the table prefix of pgvector galleries (postgresql://...); {location} is a folder gallery, "
            "drop --name"
        )
    db = Path(location) / "gallery.sqlite"
    if exists and not db.is_file():
        raise NotFoundError(f"no gallery at {location} (expected {db}); create one with `gallery create`")
    if not exists and db.exists():
        raise GalleryError(f"a gallery already exists at {location}; open it, or choose another folder")
    if not exists and Path(location).exists() and not Path(location).is_dir():
        raise GalleryError(f"{location} is a file; a SQLite gallery is a folder")


def _where(location: str) -> str:
    """A gallery location compared by what it names: a DSN as written, a folder by its resolved path."""
    return location if _is_dsn(location) else str(Path(location).resolve())


def _check_files(files: list[Path], *, folders: bool = False) -> None:
    """Every path exists and is a file, or (``folders``) a folder whose files are read once the gallery's model says
    which kind it takes (:func:`_expand`) - checked before any model loads."""
    from lookalike.errors import NotFoundError

    dirs = [f for f in files if f.is_dir()]
    if dirs and not folders:
        raise DataError(f"{dirs[0]} is a folder, not a file; give the files in it (e.g. {dirs[0]}/*.jpg)")
    missing = [str(f) for f in files if not (f.is_file() or f.is_dir())]
    if missing:
        raise NotFoundError(f"no such file(s): {', '.join(missing[:5])}")
    if dirs:
        from lookalike.data.images import IMAGE_EXTENSIONS

        for d in dirs:  # one that holds nothing to read is refused before the model loads
            _files_under(d, IMAGE_EXTENSIONS | TEXT_EXTENSIONS, "image or text")


#: the files a folder given to a text gallery contributes (one item per file)
TEXT_EXTENSIONS = frozenset({".txt"})


def _expand(files: list[Path], kind: str) -> list[Path]:
    """Files as given, each folder replaced by the image (or, for a text model, .txt) files under it, sorted (hidden
    files left out)."""
    from lookalike.data.images import IMAGE_EXTENSIONS

    exts = TEXT_EXTENSIONS if kind == "text" else IMAGE_EXTENSIONS
    out: list[Path] = []
    for p in files:
        out.extend(_files_under(p, exts, kind) if p.is_dir() else [p])
    return out


def _files_under(folder: Path, exts: frozenset[str], what: str) -> list[Path]:
    from lookalike.errors import NotFoundError

    # hidden files left out as datasets leave them out (macOS's "._x.jpg" copies are not images)
    found = sorted(
        f for f in folder.rglob("*") if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in exts
    )
    if not found:
        raise NotFoundError(f"no {what} files in folder {folder} (extensions: {', '.join(sorted(exts))})")
    return found


def _check_name(identity: str) -> str:
    from lookalike.names import identity_name

    return identity_name(identity)


def _echo(obj: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(obj, indent=2, default=str))


@gallery_app.command("create")
def create(
    location: str = typer.Argument(..., help=_STORE_HELP),
    model: str = typer.Option(..., "--model", "-m", help="exported model folder or encoder spec"),
    scoring: str = typer.Option("max", help="identity scoring: max, mean or centroid"),
    name: str = typer.Option(None, help="pgvector: table prefix (several galleries per database)"),
    threshold: float = typer.Option(None, help="accept threshold (similarity); better: `lookalike calibrate`"),
) -> None:
    """Create an empty gallery for MODEL."""
    from lookalike.gallery import Gallery
    from lookalike.gallery.scoring import check_scoring
    from lookalike.models import load_model

    _check_location(location, name, exists=False)
    check_scoring(scoring)
    source = str(Path(model).resolve()) if Path(model).exists() else model
    options = {"name": name} if name else {}
    g = Gallery.create(
        location, load_model(model), scoring=scoring, threshold=threshold, model_source=source, **options
    )
    info = g.info()
    g.close()
    typer.echo(f"created {info.store} gallery at {info.location} for {info.model['encoder']} ({info.embedding_size}-d)")


@gallery_app.command("enroll")
def enroll(
    location: str = typer.Argument(..., help=_STORE_HELP),
    identity: str = typer.Argument(..., help="who/what the files show"),
    files: list[Path] = typer.Argument(
        ..., help="image or text files to enroll (text: one item per file), or folders of them"
    ),
    model: str = typer.Option(None, "--model", "-m", help="override the model recorded in the gallery"),
    name: str = typer.Option(None, help="pgvector table prefix"),
    skip_no_face: bool = typer.Option(
        False, "--skip-no-face", help="face models: leave out (and count) images without a face instead of failing"
    ),
) -> None:
    """Enroll FILES as IDENTITY (no retraining). Face models enroll the largest face of each image.

    A name beginning with '-' goes after `--`.
    """
    from lookalike.errors import NoFaceError

    identity = _check_name(identity)
    _check_location(location, name, exists=True)
    _check_files(files, folders=True)
    g = _open(location, model, name)
    skipped: list[tuple[int, str]] = []
    with g:
        files, items = _items(g, files)
        if skip_no_face and g.model.is_face_model:
            from lookalike.models.faces.detect import face_options, filter_faces

            found = filter_faces(items, face_options(g.model.card.preprocessing))
            skipped = found.skipped
            files, items = [files[i] for i in found.kept], [items[i] for i in found.kept]
            if not items:
                raise NoFaceError(f"none of the {len(skipped)} image(s) shows a face; nothing was enrolled")
        ids = g.enroll(identity, items, [{"source": str(f)} for f in files])
    typer.echo(f"enrolled {len(ids)} item(s) as {identity!r}: ids {ids[0]}..{ids[-1]}")
    if skipped:
        typer.echo(f"skipped {len(skipped)} image(s) without a face:")
        for _, reason in skipped:
            typer.echo(f"  {reason}")


#: a text file is one item (a sentence or a passage; the model reads its first ``max_length`` tokens)
MAX_TEXT_FILE_BYTES = 1 << 20


def read_text_item(path: Path) -> str:
    """The text a file holds, for a text model: UTF-8 (a BOM is allowed), not blank, at most 1 MiB."""
    size = path.stat().st_size
    if size > MAX_TEXT_FILE_BYTES:
        raise DataError(
            f"{path} is {size / 2**20:.1f} MiB; a text file holds one item (a sentence or a passage), at most "
            "1 MiB: split it into one file per item"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save it as UTF-8, "
            f"e.g. `iconv -f ENCODING -t utf-8 {path.name}` (latin1, utf-16 ...)"
        ) from None
    if not text:
        raise DataError(f"{path} is empty or blank; a text file holds the text of one item")
    return text


def _items(g: Any, files: list[Path]) -> tuple[list[Path], list[Any]]:
    """The files (folders expanded) and the items the gallery's model embeds from them; the caller has checked the
    paths (:func:`_check_files` with ``folders=True``) before loading the model."""
    text = g.model is not None and g.model.kind == "text"
    files = _expand(files, "text" if text else "image")
    return files, [read_text_item(f) for f in files] if text else [str(f) for f in files]


@gallery_app.command("remove")
def remove(
    location: str = typer.Argument(..., help=_STORE_HELP),
    identity: str = typer.Argument(None, help="identity to remove with all its items"),
    item: int = typer.Option(None, "--item", help="remove only this item id"),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Remove an IDENTITY (all its items) or one item (--item ID)."""

    if (identity is None) == (item is None):
        raise DataError("give either an IDENTITY or --item ID")
    _check_location(location, name, exists=True)
    with _open(location, name=name, need_model=False) as g:
        if item is not None:
            g.remove_item(item)
            typer.echo(f"removed item {item}")
        else:
            typer.echo(f"removed {identity!r} ({len(g.remove(identity))} item(s))")


@gallery_app.command("list")
def list_(
    location: str = typer.Argument(..., help=_STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """List identities with their number of items."""
    with _open(location, name=name, need_model=False) as g:
        ids = g.identities()
    if as_json:
        return _echo(ids, True)
    for ident, n in ids.items():
        typer.echo(f"{ident}\t{n}")
    typer.echo(f"{len(ids)} identities, {sum(ids.values())} items")


@gallery_app.command("info")
def info(
    location: str = typer.Argument(..., help=_STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Model, size, threshold and store of a gallery."""
    with _open(location, name=name, need_model=False) as g:
        i = g.info()
    if as_json:
        return _echo(i.to_dict(), True)
    typer.echo(f"store:      {i.store} at {i.location}")
    typer.echo(
        f"model:      {i.model['encoder']} fingerprint {str(i.model['fingerprint'])[:16]} ({i.model.get('source')})"
    )
    expand = i.model.get("query_expansion") or 0
    search = f", query expansion {expand} neighbours" if expand else ""
    graph = i.model.get("diffusion") or 0
    search += f", diffusion over {graph} graph neighbours" if graph else ""
    typer.echo(f"embedding:  {i.embedding_size}-d {i.distance['name']}, identity scoring {i.scoring}{search}")
    typer.echo(f"size:       {i.identities} identities, {i.size} items")
    typer.echo(f"threshold:  {i.threshold} (calibrated at {i.calibrated_at_size} identities)")
    if i.calibration:
        typer.echo(f"calibration: {i.calibration.summary()}")
    if i.warning:
        typer.echo(f"WARNING: {i.warning}")


@app.command("identify")
def identify(
    location: str = typer.Argument(..., help=_STORE_HELP),
    files: list[Path] = typer.Argument(..., help="query image or text files, or folders of them"),
    k: int = typer.Option(5, "--k", "-k", help="identities to list per query"),
    model: str = typer.Option(None, "--model", "-m", help="override the model recorded in the gallery"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Who is in each of FILES? Prints the best identities and known/unknown (or "uncalibrated").

    With a face model, one line per face found (largest first) with its box; a file with no face prints
    NO FACE and the others go on.
    """

    if k < 1:
        raise DataError(f"-k must be at least 1, got {k}")
    _check_location(location, name, exists=True)
    _check_files(files, folders=True)
    with _open(location, model, name) as g:
        files, items = _items(g, files)
        how = _how_to_calibrate(location, g.model_source)
        if g.model.is_face_model:
            return _identify_faces(g, files, k, as_json, how)
        vectors = g.model.embed(items)
        results = g.identify_vectors(vectors, k=k)
        _keep_unknowns(g, results, vectors, [str(f) for f in files])
    if as_json:
        return _echo([{"file": str(f), **r.to_dict()} for f, r in zip(files, results, strict=True)], True)
    for f, r in zip(files, results, strict=True):
        best = ", ".join(f"{m.identity} {m.score:.4f}" for m in r.matches) or "(empty gallery)"
        who = f" {r.identity}" if r.identity else ""
        typer.echo(f"{f}: {r.decision.upper()}{who} [{best}]")
    if any(r.decision == "uncalibrated" for r in results):
        _say_uncalibrated(how)


def _how_to_calibrate(location: str, model_source: str | None) -> str:
    """The calibrate command to suggest: ``--from-fit`` where the gallery's model folder sits in a `lookalike fit`
    (or whitening `train`) folder holding its unseen-class pair scores, else ``--data``."""
    if model_source and (Path(model_source).parent / "calibration.npz").is_file():
        return f"lookalike calibrate {location} --from-fit {Path(model_source).parent} --far 1e-3"
    return f"lookalike calibrate {location} --data HELD_OUT_CLASSES --far 1e-3"


def _say_uncalibrated(how: str) -> None:
    typer.echo(
        "UNCALIBRATED: the gallery has no threshold, so these are only the nearest identities, not a verdict; "
        f"run `{how}` to decide known/unknown",
        err=True,
    )


def _identify_faces(g: Any, files: list[Path], k: int, as_json: bool, how: str) -> None:
    from lookalike.errors import NoFaceError

    rows: list[dict[str, Any]] = []
    unknown: list[tuple[Any, Any, str]] = []  # (identification, vector, source) of the faces that came out unknown
    for f in files:
        try:
            faces = g.identify_faces(str(f), k=k, name=str(f))
        except NoFaceError as err:
            rows.append({"file": str(f), "face": None, "error": str(err)})
            if not as_json:
                typer.echo(f"{f}: NO FACE ({err})")
            continue
        for i, face in enumerate(faces, 1):
            rows.append({"file": str(f), "face": i, **face.to_dict()})
            if face.identification.decision == "unknown":
                unknown.append((face.identification, face.vector, f"{f} face {i} box {','.join(map(str, face.box))}"))
            if not as_json:
                r = face.identification
                best = ", ".join(f"{m.identity} {m.score:.4f}" for m in r.matches) or "(empty gallery)"
                who = f" {r.identity}" if r.identity else ""
                where = "whole image" if not face.detected else "box {},{},{},{}".format(*face.box)
                typer.echo(f"{f} face {i}/{len(faces)} ({where}): {r.decision.upper()}{who} [{best}]")
    if unknown:
        import numpy as np

        results, vectors, sources = zip(*unknown, strict=True)
        _keep_unknowns(g, list(results), np.stack(vectors), list(sources))
    if as_json:
        _echo(rows, True)
    if any(r.get("decision") == "uncalibrated" for r in rows):
        _say_uncalibrated(how)


def _keep_unknowns(g: Any, results: list[Any], vectors: Any, sources: list[str]) -> None:
    """Keep the unknown probes when the gallery's unknown pool exists and is enabled (`discover pool --enable`)."""
    from lookalike.gallery.discover import keep_unknowns
    from lookalike.gallery.unknowns import POOL_NAME

    if not (Path(g.store.location) / POOL_NAME).is_file():
        return
    with g.unknown_pool() as pool:
        keep_unknowns(pool, results, vectors, sources=sources)


@app.command("verify")
def verify(
    model: str = typer.Argument(
        ..., help="exported model folder, encoder spec, or a gallery (its model and calibrated threshold)"
    ),
    a: Path = typer.Argument(..., help="first image or text file"),
    b: Path = typer.Argument(..., help="second image or text file"),
    threshold: float = typer.Option(None, help="accept threshold (similarity)"),
    gallery: str = typer.Option(None, help="take the calibrated threshold of this gallery"),
) -> None:
    """Do A and B show the same identity? Prints the score (and same/different given a threshold)."""
    from lookalike.gallery import Gallery, verify_items
    from lookalike.models import load_model

    _check_files([a, b])
    if _is_dsn(model) or (Path(model) / "gallery.sqlite").is_file():  # MODEL is a gallery: its model and threshold
        if gallery is not None and _where(gallery) != _where(model):
            raise DataError(f"{model} is a gallery and --gallery names another ({gallery}); give one gallery")
        gallery = model
        with _open(model) as g:
            m = g.model
            threshold = g.threshold if threshold is None else threshold
    else:
        if gallery is not None:
            _check_location(gallery, None, exists=True)
        m = load_model(model)
        if threshold is None and gallery is not None:
            with Gallery.open(gallery, m) as g:
                threshold = g.threshold
    items = [read_text_item(p) if m.kind == "text" else str(p) for p in (a, b)]
    v = verify_items(m, items[0], items[1], threshold)
    if v.threshold is None:
        typer.echo(f"score {v.score:.4f} (no threshold: pass --threshold or --gallery to decide same/different)")
        return
    typer.echo(f"{'SAME' if v.same else 'DIFFERENT'}: score {v.score:.4f}, threshold {v.threshold:.4f}")


@app.command("calibrate")
def calibrate(
    location: str = typer.Argument(..., help=_STORE_HELP),
    data: str = typer.Option(None, "--data", help="held-out labelled data: class folder, manifest or protocol"),
    from_fit: str = typer.Option(
        None,
        "--from-fit",
        help="instead of --data: the `lookalike fit` folder (or `lookalike train` run of a closed-form whitening "
        "head) whose model built this gallery; its pair scores of classes unseen by the model scoring them "
        "(calibration.npz)",
    ),
    split: str = typer.Option("val", help="protocol/manifest split to use (default: the validation classes)"),
    far: float = typer.Option(1e-3, "--far", help="target false-accept rate"),
    model: str = typer.Option(None, "--model", "-m", help="override the model recorded in the gallery"),
    name: str = typer.Option(None, help="pgvector table prefix"),
    skip_bad: bool = skip_bad_option(),
) -> None:
    """Choose and store the threshold meeting --far on held-out data (never the identities you enroll), or on
    the unseen-class pair scores of the `lookalike fit` run that made the gallery's model (--from-fit)."""
    from lookalike.data.resolve import load_data

    if not 0 < far < 1:
        raise DataError(f"--far must lie strictly between 0 and 1, got {far}")
    if (data is None) == (from_fit is None):
        raise DataError(
            "give exactly one of --data (labelled held-out data) and --from-fit (a `lookalike fit` or train folder)"
        )
    _check_location(location, name, exists=True)
    if from_fit is not None:
        from lookalike.models.export import read_card
        from lookalike.training.calibration import read_unseen_pairs
        from lookalike.training.grouping import GroupingChoice

        pairs = read_unseen_pairs(from_fit)
        fit_model = read_card(Path(from_fit) / "model").fingerprint
        with _open(location, model, name, need_model=False) as g:  # the scores are given: nothing to embed
            if fit_model != g.meta.model.fingerprint:
                raise DataError(
                    f"{from_fit}/model (fingerprint {fit_model[:16]}) is not the model of this gallery "
                    f"({g.meta.model.describe()}): its pair scores say nothing about this model; calibrate with "
                    "--data instead (nothing was changed)"
                )
            grouping = None if pairs.grouping is None else GroupingChoice.from_dict(pairs.grouping)
            report = g.calibrate_scores(
                pairs.genuine, pairs.impostor, target_far=far, grouping=None if grouping is None else grouping.params
            )
        typer.echo(report.summary())
        if grouping is not None:
            typer.echo(grouping.summary())
        return
    ds = load_data(data, split=split, on_bad=on_bad(skip_bad))
    with _open(location, model, name) as g:
        report = g.calibrate(ds, target_far=far)
    typer.echo(report.summary())
