"""`lookalike identify` with a face model prints one line per face (real ORL faces composed into one photo)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from _extras import require_extra

require_extra("dlib", "faces")
pytestmark = pytest.mark.realdata


def run(*args: str) -> str:
    from lookalike.cli.app import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_identify_prints_one_line_per_face(tmp_path: Path, shared_data: Path) -> None:
    from PIL import Image

    orl = shared_data / "orl_faces"
    g = str(tmp_path / "gal")
    run("gallery", "create", g, "--model", "face:dlib")
    run("gallery", "enroll", g, "ann", str(orl / "s1" / "2.pgm"))
    run("gallery", "enroll", g, "bob", str(orl / "s2" / "2.pgm"))
    canvas = Image.new("RGB", (500, 200), (128, 128, 128))
    canvas.paste(Image.open(orl / "s1" / "1.pgm").convert("RGB"), (20, 40))
    canvas.paste(Image.open(orl / "s2" / "1.pgm").convert("RGB"), (300, 40))
    canvas.save(tmp_path / "two.png")
    Image.new("RGB", (640, 480), (0, 0, 0)).save(tmp_path / "blank.png")
    out = run("identify", g, str(tmp_path / "two.png"), str(tmp_path / "blank.png"), "-k", "1")
    lines = out.strip().splitlines()
    faces = [ln for ln in lines if "two.png face" in ln]
    assert len(faces) == 2 and all("/2 (box " in ln for ln in faces)
    # uncalibrated gallery: no verdict, but each face's nearest identity is the right person
    assert all(ln.split(": ", 1)[1].startswith("UNCALIBRATED [") for ln in faces)
    assert {ln.split(" [", 1)[1].split(" ")[0] for ln in faces} == {"ann", "bob"}
    assert any("blank.png: NO FACE" in ln for ln in lines)

    out = run("gallery", "enroll", g, "cy", str(orl / "s3" / "1.pgm"), str(tmp_path / "blank.png"), "--skip-no-face")
    assert "enrolled 1 item(s) as 'cy'" in out and "skipped 1 image(s) without a face" in out and "blank.png" in out
    from lookalike.cli.app import app
    from lookalike.errors import NoFaceError

    failed = CliRunner().invoke(app, ["gallery", "enroll", g, "dee", str(tmp_path / "blank.png")])
    assert isinstance(failed.exception, NoFaceError)  # `lookalike` turns it into one line on stderr, exit 1
    assert "no face found in" in str(failed.exception) and "blank.png" in str(failed.exception)


def test_identify_keeps_unknown_faces_in_the_pool(tmp_path: Path, shared_data: Path) -> None:
    """With the pool on, a stranger's face in a group photo is kept (its source: file, face, box)."""
    from PIL import Image

    from lookalike.gallery import Gallery

    orl = shared_data / "orl_faces"
    g = str(tmp_path / "gal")
    run("gallery", "create", g, "--model", "face:dlib", "--threshold", "0.9")
    run("gallery", "enroll", g, "ann", str(orl / "s1" / "2.pgm"))
    run("discover", "pool", g, "--enable")
    canvas = Image.new("RGB", (500, 200), (128, 128, 128))
    canvas.paste(Image.open(orl / "s1" / "1.pgm").convert("RGB"), (20, 40))  # ann
    canvas.paste(Image.open(orl / "s7" / "1.pgm").convert("RGB"), (300, 40))  # a stranger
    canvas.save(tmp_path / "two.png")
    out = run("identify", g, str(tmp_path / "two.png"), "-k", "1")
    assert "KNOWN ann" in out and "UNKNOWN" in out
    assert "1 kept" in run("discover", "pool", g)
    with Gallery.open(g) as gallery, gallery.unknown_pool() as pool:
        (item,) = pool.unknowns()
        assert "two.png face " in str(item.source) and " box 3" in str(item.source)  # the stranger, at x >= 300
