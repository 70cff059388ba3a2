"""Output folders (lookalike.paths): a file where a folder should go is refused before any work."""

from pathlib import Path

import pytest

from lookalike.errors import DataError
from lookalike.paths import output_folder


def test_a_file_is_refused_a_folder_new_or_not_is_fine(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(DataError, match=r"output_dir '.*taken' is a file; give a folder"):
        output_folder(tmp_path / "taken", "output_dir")
    assert (tmp_path / "taken").read_text() == "mine"
    assert output_folder(tmp_path) == tmp_path
    assert output_folder(str(tmp_path / "new")) == tmp_path / "new" and not (tmp_path / "new").exists()
