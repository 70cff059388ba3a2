"""`lookalike data list` and `lookalike data download` (no network: --archive, and an unreachable URL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from std_archives import make_tgz, mini_flickr_logos_27
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.errors import ChecksumError


def test_data_list_shows_every_dataset_with_size_licence_and_split() -> None:
    result = CliRunner().invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["name", "size", "classes/images"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert sorted(by_name) == ["cars196", "cub200", "flickr_logos_27", "inshop", "lfw", "sop"]
    assert "200/11,788" in by_name["cub200"] and "≈1.15 GB" in by_name["cub200"]
    assert "22,634/120,053" in by_name["sop"] and "11,318" in by_name["sop"]
    assert "(manual)" in by_name["inshop"] and "non-commercial" in by_name["inshop"]


def test_data_download_with_archive_converts_offline(tmp_path: Path, jpeg: bytes) -> None:
    archive = tmp_path / "flickr_logos_27_dataset.tar.gz"
    archive.write_bytes(mini_flickr_logos_27(jpeg))
    out = tmp_path / "fl27"
    result = CliRunner().invoke(app, ["data", "download", "flickr_logos_27", str(out), "--archive", str(archive)])
    assert result.exit_code == 0, result.output
    assert "27 classes, 27 images" in result.output and "train: 17 classes" in result.output
    assert (out / "manifest.csv").is_file() and (out / "queries.csv").is_file()


def test_data_download_archive_with_wrong_checksum_names_file_and_expected_md5(tmp_path: Path) -> None:
    archive = tmp_path / "CUB_200_2011.tgz"
    archive.write_bytes(make_tgz({"CUB_200_2011/images.txt": b""}))
    result = CliRunner().invoke(app, ["data", "download", "cub200", str(tmp_path / "cub"), "--archive", str(archive)])
    assert isinstance(result.exception, ChecksumError)
    assert str(archive) in str(result.exception) and "97eceeb196236b17998738112f37df78" in str(result.exception)


def test_data_download_offline_exits_1_with_where_to_put_the_archives(tmp_path: Path) -> None:
    out = tmp_path / "lfw"
    cmd = [sys.executable, "-m", "lookalike", "data", "download", "lfw", str(out), "--no-progress"]
    cmd += ["--url", "http://127.0.0.1:9/lfw.tgz", "--url", "http://127.0.0.1:9/pairs.txt"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.startswith("error: cannot reach http://127.0.0.1:9/lfw.tgz") and len(err.splitlines()) == 1
    assert f"put it at {out / 'downloads' / 'lfw.tgz'} or pass --archive PATH" in err
    assert "pairs.txt (http://vis-www.cs.umass.edu/lfw/pairs.txt)" in err
