"""CLI: ``lookalike discover GALLERY [FILES|FOLDER] --out DIR`` and ``discover accept|reject|merge|pool|purge|audit``.

``discover GALLERY ...`` is short for ``discover run GALLERY ...``. Thin: parse, call
:mod:`lookalike.gallery.discover`, format.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from lookalike.cli.app import app
from lookalike.cli.gallery import _STORE_HELP, _check_files, _items, _open


class _DefaultRun(TyperGroup):
    """A group whose first argument, when it is not a sub-command, starts the default ``run`` command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


discover_app = typer.Typer(
    cls=_DefaultRun,
    help="Group the probes that came out unknown into proposed new identities; review them.\n\n"
    "`lookalike discover GALLERY [FILES|FOLDER] --out DIR` is short for `discover run ...`.",
    no_args_is_help=True,
)
app.add_typer(discover_app, name="discover")

_POOL_HELP = "unknown pool file (default: unknowns.sqlite inside a folder gallery)"


@discover_app.command("run")
def run(
    location: str = typer.Argument(..., help=_STORE_HELP),
    files: list[Path] = typer.Argument(None, help="probe files or folders: those that come out unknown join the pool"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for proposals.json and proposals.html"),
    method: str = typer.Option(None, help="agglomerative or hdbscan; options not given: the gallery's"),
    linkage: str = typer.Option(None, help="agglomerative linkage: complete, average or single"),
    scale: float = typer.Option(None, help="clustering threshold as a multiple of the accept threshold's distance"),
    min_size: int = typer.Option(None, "--min-size", help="drop proposals with fewer items"),
    mix: int = typer.Option(None, "--mix", help="mix each unknown with its K nearest other unknowns first (0: none)"),
    pool: str = typer.Option(None, "--pool", help=_POOL_HELP),
    model: str = typer.Option(None, "--model", "-m", help="override the model recorded in the gallery"),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Propose new identities from the kept unknowns (and FILES); writes DIR/proposals.json and .html."""
    from lookalike.gallery.report import write_proposals
    from lookalike.paths import output_folder

    output_folder(out)  # before the pool is touched: a bad --out must not leave new proposals unwritten
    _check_files(files or [], folders=True)
    given = {"method": method, "linkage": linkage, "scale": scale, "min_size": min_size, "mix": mix}
    with _open(location, model, name, need_model=bool(files)) as g, g.unknown_pool(pool) as p:
        # options not given keep the gallery's settings (chosen for its model when calibrated --from-fit)
        params = replace(g.grouping, **{k: v for k, v in given.items() if v is not None})
        items = _items(g, files)[1] if files else None
        result = g.discover(items, pool=p, params=params)
        js, page = write_proposals(result, p, out)
    typer.echo(
        f"{len(result.proposals)} proposal(s) from {result.pool_size} unknown(s) "
        f"({result.unassigned} in no proposal); wrote {js} and {page}"
    )
    for pr in result.proposals:
        near = f"nearest {pr.nearest_identity} {pr.nearest_score:.4f}" if pr.nearest_identity else "no identities"
        typer.echo(f"  {pr.id}: {pr.size} items, cohesion {pr.cohesion:.4f}, {near}")


@discover_app.command("accept")
def accept(
    location: str = typer.Argument(..., help=_STORE_HELP),
    proposal: str = typer.Argument(..., help="proposal id (from proposals.json)"),
    identity: str = typer.Option(..., "--identity", "-i", help="name of the new identity"),
    pool: str = typer.Option(None, "--pool", help=_POOL_HELP),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Enroll a proposal as a new IDENTITY."""
    from lookalike.gallery import discover as dsc

    with _open(location, name=name, need_model=False) as g, g.unknown_pool(pool) as p:
        r = dsc.accept(g, p, proposal, identity, actor="cli")
    typer.echo(f"accepted {proposal} as {r.identity!r}: {len(r.item_ids)} item(s) enrolled")


@discover_app.command("merge")
def merge(
    location: str = typer.Argument(..., help=_STORE_HELP),
    proposal: str = typer.Argument(..., help="proposal id (from proposals.json)"),
    into: str = typer.Option(..., "--into", help="existing identity to add the proposal's items to"),
    pool: str = typer.Option(None, "--pool", help=_POOL_HELP),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Enroll a proposal's items into an existing identity."""
    from lookalike.gallery import discover as dsc

    with _open(location, name=name, need_model=False) as g, g.unknown_pool(pool) as p:
        r = dsc.merge(g, p, proposal, into, actor="cli")
    typer.echo(f"merged {proposal} into {r.identity!r}: {len(r.item_ids)} item(s) enrolled")


@discover_app.command("reject")
def reject(
    location: str = typer.Argument(..., help=_STORE_HELP),
    proposal: str = typer.Argument(..., help="proposal id (from proposals.json)"),
    pool: str = typer.Option(None, "--pool", help=_POOL_HELP),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Reject a proposal: its unknowns leave the pool, nothing is enrolled."""
    from lookalike.gallery import discover as dsc

    with _open(location, name=name, need_model=False) as g, g.unknown_pool(pool) as p:
        dsc.reject(p, proposal, actor="cli")
    typer.echo(f"rejected {proposal}")


@discover_app.command("pool")
def pool_(
    location: str = typer.Argument(..., help=_STORE_HELP),
    enable: bool = typer.Option(None, "--enable/--disable", help="keep the probes that come out unknown (opt-in)"),
    max_items: int = typer.Option(None, "--max-items", help="keep at most this many (oldest dropped first)"),
    max_age_days: float = typer.Option(None, "--max-age-days", help="drop unknowns older than this"),
    no_age_limit: bool = typer.Option(False, "--no-age-limit", help="keep unknowns regardless of age"),
    pool: str = typer.Option(None, "--pool", help=_POOL_HELP),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Show or change whether (and for how long) the gallery keeps unknown probes."""
    age: Any = None if no_age_limit else ("keep" if max_age_days is None else max_age_days)
    with _open(location, name=name, need_model=False) as g, g.unknown_pool(pool) as p:
        s = p.configure(enabled=enable, max_items=max_items, max_age_days=age)
        n = p.count()
    age_text = "no age limit" if s.max_age_days is None else f"{s.max_age_days:g} days"
    state = "enabled" if s.enabled else "disabled"
    typer.echo(f"unknown pool {p.path}: {state}, {n} kept; retention {s.max_items} items, {age_text}")


@discover_app.command("purge")
def purge(
    location: str = typer.Argument(..., help=_STORE_HELP),
    pool: str = typer.Option(None, "--pool", help=_POOL_HELP),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Delete every kept unknown and every proposal (the audit keeps a line saying so)."""
    with _open(location, name=name, need_model=False) as g, g.unknown_pool(pool) as p:
        n = p.purge()
    typer.echo(f"purged {n} unknown(s) and all proposals from {p.path}")


@discover_app.command("audit")
def audit(
    location: str = typer.Argument(..., help=_STORE_HELP),
    pool: str = typer.Option(None, "--pool", help=_POOL_HELP),
    name: str = typer.Option(None, help="pgvector table prefix"),
) -> None:
    """Every review action (accept / reject / merge / purge) as JSON lines, oldest first."""
    with _open(location, name=name, need_model=False) as g, g.unknown_pool(pool) as p:
        entries = p.audit()
    for e in entries:
        typer.echo(json.dumps(e.to_dict()))
