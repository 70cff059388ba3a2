"""``proposals.json`` and ``proposals.html`` (a contact sheet per proposal) for a discovery run."""

from __future__ import annotations

import html
import io
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lookalike.gallery.discover import DiscoveryResult
    from lookalike.gallery.unknowns import UnknownPool

log = logging.getLogger(__name__)

THUMB = 96
_STYLE = f"""body{{font-family:sans-serif;margin:1.5em;color:#222}}section{{margin-bottom:2em}}
h2{{font-size:1.1em;margin:.2em 0}}.meta{{color:#555;font-size:.9em}}.sheet{{display:flex;flex-wrap:wrap;gap:4px}}
figure{{margin:0;width:{THUMB}px;font-size:.7em;word-break:break-all}}
figure img{{width:{THUMB}px;height:{THUMB}px;object-fit:cover}}
.medoid img{{outline:3px solid #c60}}.none{{width:{THUMB}px;height:{THUMB}px;background:#ddd;display:flex;
align-items:center;justify-content:center}}"""


def _thumbnail(pool: UnknownPool, unknown_id: int, source: str | None) -> bytes | None:
    """The pool's stored thumbnail, else one made from the source file when it is a readable image."""
    stored = pool.thumbnail(unknown_id)
    if stored is not None or not source or not Path(source).is_file():
        return stored
    try:
        from PIL import Image

        with Image.open(source) as opened:
            im = opened.convert("RGB")
            im.thumbnail((THUMB * 2, THUMB * 2))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
            return buf.getvalue()
    except OSError as err:  # not an image (texts, vectors): the sheet shows the source name only
        log.debug("no thumbnail for %s: %s", source, err)
        return None


def write_proposals(result: DiscoveryResult, pool: UnknownPool, out: str | Path) -> tuple[Path, Path]:
    """Write ``out/proposals.json`` and ``out/proposals.html`` (thumbnails in ``out/thumbs/``)."""
    out = Path(out)
    thumbs = out / "thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    js = out / "proposals.json"
    js.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>Discovery proposals</title><style>{_STYLE}</style>",
        f"<h1>{len(result.proposals)} proposed new identities</h1><p class='meta'>from {result.pool_size} kept "
        f"unknowns ({result.unassigned} in no proposal); threshold {result.threshold:.4f}; grouping "
        f"{html.escape(json.dumps(result.params.to_dict()))}. Review with <code>lookalike discover accept|reject|"
        "merge GALLERY PROPOSAL</code> or on the service page.</p>",
    ]
    for p in result.proposals:
        nearest = (
            "no enrolled identity"
            if p.nearest_identity is None
            else f"nearest identity {html.escape(p.nearest_identity)} (score {p.nearest_score:.4f})"
        )
        parts.append(
            f"<section id='{html.escape(p.id)}'><h2>#{p.rank} {html.escape(p.id)}: {p.size} items</h2>"
            f"<p class='meta'>cohesion {p.cohesion:.4f}; {nearest}</p><div class='sheet'>"
        )
        for uid, src in zip(p.unknown_ids, p.sources, strict=True):
            blob = _thumbnail(pool, uid, src)
            cls = " class='medoid'" if uid == p.medoid else ""
            label = html.escape(Path(src).name if src else f"unknown {uid}")
            if blob is not None:
                (thumbs / f"{uid}.jpg").write_bytes(blob)
                pic = f"<img src='thumbs/{uid}.jpg' alt='{label}'>"
            else:
                pic = "<div class='none'>no image</div>"
            parts.append(f"<figure{cls}>{pic}<figcaption>{label}</figcaption></figure>")
        parts.append("</div></section>")
    page = out / "proposals.html"
    page.write_text("\n".join(parts) + "\n")
    log.info("wrote %s and %s", js, page)
    return js, page


__all__ = ["write_proposals"]
