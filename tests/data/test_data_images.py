"""load_image / check_image: RGB conversion, EXIF, pixel guard before decoding, errors that name the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from data_fakes import jpeg_bytes, png_header_claiming
from PIL import Image

from lookalike.data.images import ZipMember, check_image, load_image
from lookalike.errors import DataError, ImageTooLargeError


def test_grayscale_pgm_becomes_rgb(tmp_path: Path) -> None:
    p = tmp_path / "face.pgm"
    Image.fromarray(np.full((112, 92), 77, dtype=np.uint8), "L").save(p)
    im = load_image(p, max_pixels=10**6)
    assert im.mode == "RGB" and im.size == (92, 112)
    assert np.asarray(im)[0, 0].tolist() == [77, 77, 77]


def test_exif_orientation_is_applied() -> None:
    im = load_image(jpeg_bytes((40, 30), exif_orientation=6), max_pixels=10**6)  # 6 = rotate 90° clockwise
    assert im.size == (30, 40)


def test_arrays_and_alpha_become_rgb(tmp_path: Path) -> None:
    assert load_image(np.zeros((8, 8), dtype=np.uint8), max_pixels=100).mode == "RGB"
    p = tmp_path / "a.png"
    Image.new("RGBA", (5, 5), (255, 0, 0, 0)).save(p)
    assert np.asarray(load_image(p, max_pixels=100))[0, 0].tolist() == [255, 255, 255]  # transparent → white


def test_pixel_limit_is_checked_from_the_header(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_claiming(20000, 20000))
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png.*decompression bomb"):
        load_image(bomb, max_pixels=50_000_000)
    assert "decompression bomb" in (check_image(bomb, max_pixels=50_000_000) or "")
    small_bomb = tmp_path / "small_bomb.png"  # under PIL's own limit, over ours: our header check refuses it
    small_bomb.write_bytes(png_header_claiming(3000, 3000))
    with pytest.raises(ImageTooLargeError, match=r"small_bomb\.png: 3000x3000 = 9000000 pixels exceeds"):
        load_image(small_bomb, max_pixels=1_000_000)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "0 bytes"),
        (b"this is a text file, not a jpeg", "not an image"),
        (jpeg_bytes()[:-300], "truncated"),
    ],
    ids=["zero-byte", "text", "truncated"],
)
def test_bad_files_raise_data_error_naming_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "broken.jpg"
    p.write_bytes(content)
    with pytest.raises(DataError, match=r"broken\.jpg"):
        load_image(p, max_pixels=10**6)
    assert reason in (check_image(p, max_pixels=10**6) or "")


def test_good_files_pass_the_check(tmp_path: Path) -> None:
    p = tmp_path / "ok.jpg"
    p.write_bytes(jpeg_bytes())
    assert check_image(p, max_pixels=10**6) is None


def test_zip_member_is_loadable_and_picklable(tmp_path: Path) -> None:
    import pickle
    import zipfile

    z = tmp_path / "a.zip"
    buf = io.BytesIO()
    Image.new("1", (105, 105), 1).save(buf, "PNG")
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("top/Alpha/character01/0001_01.png", buf.getvalue())
    member = pickle.loads(pickle.dumps(ZipMember(str(z), "top/Alpha/character01/0001_01.png")))
    im = load_image(member, max_pixels=10**6)
    assert im.mode == "RGB" and im.size == (105, 105)
