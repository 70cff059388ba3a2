"""Sources: class folders with bad files, manifests (CSV/Parquet, boxes, unknowns), Omniglot zip, CLINC150, digits."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from data_fakes import jpeg_bytes, png_header_claiming
from PIL import Image

from lookalike.data.sources import (
    from_clinc150,
    from_digits,
    from_folder,
    from_manifest,
    from_omniglot_zip,
    from_vectors,
)
from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import BadFilesError, DataError


def make_folder(root: Path, classes: dict[str, int]) -> Path:
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            (root / name / f"{i}.jpg").write_bytes(jpeg_bytes((20 + i, 16)))
    return root


def test_folder_reads_classes_sorted_and_ignores_non_images(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "set", {"b": 2, "a": 3})
    (root / "README").write_text("not a class")
    (root / "a" / "notes.txt").write_text("ignored")
    ds = from_folder(root)
    assert ds.class_names == ["a", "b"] and len(ds) == 5
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    assert ds.load(0).mode == "RGB"


def test_folder_scan_lists_every_bad_file_in_one_error(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "set", {"a": 2, "b": 2})
    (root / "a" / "truncated.jpg").write_bytes(jpeg_bytes((64, 64))[:-400])
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "b" / "text.jpg").write_text("hello, I am not a JPEG")
    (root / "b" / "bomb.png").write_bytes(png_header_claiming(20000, 20000))
    with pytest.raises(BadFilesError) as info:
        from_folder(root)
    bad = dict(info.value.bad)
    assert {Path(p).name for p in bad} == {"truncated.jpg", "empty.jpg", "text.jpg", "bomb.png"}
    message = str(info.value)
    assert "4 bad file(s)" in message
    for name in ("truncated.jpg", "empty.jpg", "text.jpg", "bomb.png"):
        assert name in message


def test_folder_skip_warns_with_count_and_keeps_good_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "set", {"a": 2, "b": 2})
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "b" / "text.jpg").write_text("nope")
    with pytest.warns(UserWarning, match="skipped 2 bad file"):
        ds = from_folder(root, on_bad="skip")
    assert len(ds) == 4 and all(Path(p).name in ("0.jpg", "1.jpg") for p in ds.items)


def test_folder_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        from_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="on_bad"):
        from_folder(tmp_path, on_bad="ignore")  # type: ignore[arg-type]


def test_csv_manifest_with_boxes_splits_and_unknowns(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    Image.fromarray(np.arange(100 * 80 * 3, dtype=np.uint8).reshape(80, 100, 3)).save(tmp_path / "img" / "x.png")
    (tmp_path / "m.csv").write_text(
        "path,label,split,is_query,x1,y1,x2,y2\n"
        "img/x.png,cat,train,false,10,20,40,60\n"
        "img/x.png,dog,test,true,0,0,100,80\n"
        "img/x.png,-1,test,1,0,0,5,5\n"
    )
    ds = from_manifest(tmp_path / "m.csv")
    assert ds.class_names == ["cat", "dog"]
    assert ds.labels.tolist() == [0, 1, UNKNOWN_LABEL]
    assert ds.metadata[0] == {"split": "train", "is_query": False, "box": (10, 20, 40, 60)}
    assert ds.metadata[1]["is_query"] is True
    assert ds.load(0).size == (30, 40)  # cropped on load
    assert Path(ds.items[0]).is_absolute()


def test_manifest_reports_bad_rows_and_missing_files_together(tmp_path: Path) -> None:
    (tmp_path / "ok.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "m.csv").write_text(
        "path,label,x1,y1,x2,y2\nok.jpg,a,5,5,1,1\nmissing.jpg,a,0,0,3,3\nok.jpg,b,0,0,3,3\n"
    )
    with pytest.raises(BadFilesError) as info:
        from_manifest(tmp_path / "m.csv")
    reasons = " ".join(r for _, r in info.value.bad)
    assert len(info.value.bad) == 2 and "degenerate box" in reasons and "no such file" in reasons


def test_parquet_text_manifest(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {"text": ["hi", "bye", "??"], "label": ["greet", "leave", None], "is_gallery": ["yes", "0", "true"]}
    )
    pq.write_table(table, tmp_path / "t.parquet")
    ds = from_manifest(tmp_path / "t.parquet")
    assert ds.kind == "text" and ds.labels.tolist() == [0, 1, UNKNOWN_LABEL]
    assert [m["is_gallery"] for m in ds.metadata] == [True, False, True]


def test_blank_and_missing_texts_are_bad_rows(tmp_path: Path) -> None:
    """A blank text was embedded as an item, and a Parquet null became the text "None"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["hi", None, "  ", "bye"], "label": ["a", "a", "b", "b"]}), tmp_path / "t.pq")
    with pytest.raises(BadFilesError, match=r"2 bad file\(s\) in .* \(of 4\):\n.*row 3: empty text") as info:
        from_manifest(tmp_path / "t.pq")
    assert [name for name, _ in info.value.bad] == [f"{tmp_path / 't.pq'} row 3", f"{tmp_path / 't.pq'} row 4"]
    with pytest.warns(UserWarning, match="skipped 2 bad file"):
        ds = from_manifest(tmp_path / "t.pq", on_bad="skip")
    assert list(ds.items) == ["hi", "bye"] and ds.labels.tolist() == [0, 1]


def test_manifest_needs_label_and_one_item_column(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,text,label\na,b,c\n")
    with pytest.raises(DataError, match="exactly one of"):
        from_manifest(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("path\na\n")
    with pytest.raises(DataError, match="'label' column"):
        from_manifest(tmp_path / "n.csv")


def test_csv_manifests_as_spreadsheets_write_them(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" (a BOM, CRLF) loads; another encoding, or a row with an unquoted comma, is one clear
    error (they used to be a UnicodeDecodeError traceback and a silently shifted row)."""
    (tmp_path / "m.csv").write_bytes("\ufeffpath,label\r\nhello,café\r\n".encode())
    ds = from_manifest(tmp_path / "m.csv", check_files=False)
    assert ds.class_names == ["café"] and str(ds.items[0]).endswith("hello")
    (tmp_path / "l.csv").write_bytes("path,label\nhello,café\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"is not UTF-8 \(byte 0xe9 at offset 20\); save it as UTF-8"):
        from_manifest(tmp_path / "l.csv", check_files=False)
    (tmp_path / "c.csv").write_text("path,label\nmy,photo.jpg,alice\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2 has 3 cells but the header has 2; quote cells that hold a comma"):
        from_manifest(tmp_path / "c.csv", check_files=False)


def test_omniglot_zip_labels_are_alphabet_character(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("1", (105, 105), 1).save(buf, "PNG")
    z = tmp_path / "images_background_small9.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for alpha in ("Greek", "Latin"):
            for char in ("character01", "character02"):
                for k in range(3):
                    zf.writestr(f"images_background_small9/{alpha}/{char}/{k:04d}.png", buf.getvalue())
    ds = from_omniglot_zip(z)
    assert ds.class_names == ["Greek/character01", "Greek/character02", "Latin/character01", "Latin/character02"]
    assert len(ds) == 12 and ds.load(0).size == (105, 105)
    assert from_omniglot_zip(z, alphabets=["Latin"]).class_names == ["Latin/character01", "Latin/character02"]
    restored = pickle.loads(pickle.dumps(ds))
    assert restored.load(11).mode == "RGB"
    with pytest.raises(DataError, match="not in the archive"):
        from_omniglot_zip(z, alphabets=["Klingon"])


def test_clinc150_marks_out_of_scope_unknown(tmp_path: Path) -> None:
    data = {
        "train": [["play a song", "play_music"], ["book a table", "restaurant_reservation"]],
        "test": [["play jazz", "play_music"]],
        "oos_test": [["what is love", "oos"]],
    }
    (tmp_path / "d.json").write_text(json.dumps(data))
    ds = from_clinc150(tmp_path / "d.json", parts=["test", "oos_test"])
    assert ds.class_names == ["play_music", "restaurant_reservation"]
    assert ds.labels.tolist() == [0, UNKNOWN_LABEL]
    assert ds.label_name(1) == "unknown"
    with pytest.raises(DataError, match="not in the file"):
        from_clinc150(tmp_path / "d.json", parts=["val"])


def test_digits_are_always_available_images() -> None:
    ds = from_digits()
    assert len(ds) == 1797 and ds.class_names == [str(i) for i in range(10)]
    im = ds.load(0)
    assert im.mode == "RGB" and im.size == (32, 32)
    sub = pickle.loads(pickle.dumps(ds.subset([0, 5])))
    assert len(sub) == 2


def test_vectors_validate_shape_and_values() -> None:
    ds = from_vectors(np.eye(3), [0, 1, -1], ["a", "b"])
    assert (
        ds.load(2).dtype == np.float32
        and ds.describe() == "vectors: 3 vector items, 2 classes, 1-1 per class, 1 unknown"
    )
    with pytest.raises(DataError, match="2-D"):
        from_vectors(np.zeros(3), [0, 0, 0], ["a"])
    with pytest.raises(DataError, match="NaN"):
        from_vectors(np.array([[np.nan]]), [0], ["a"])
