"""Wrong invocations: a usage line and exit 2 for usage errors, one `error:` line and exit 1 for bad input,
never a traceback; inputs are checked before any model loads (the gallery below records a model that no longer
exists, so a command that loaded it first would fail on the model, not on the input)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lookalike", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vector gallery whose recorded model folder has been deleted."""
    import shutil

    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel, save_model

    root = tmp_path_factory.mktemp("cli")
    model = EmbeddingModel.for_vectors(4)
    folder = save_model(model, root / "model")
    with Gallery.create(root / "g", model, model_source=str(folder)) as g:
        g.enroll_vectors("alice", np.eye(4, dtype=np.float32)[:1])
    shutil.rmtree(folder)
    return root / "g"


@pytest.mark.parametrize(
    "args",
    [
        ["gallery", "list"],  # missing argument
        ["gallery", "list", "G", "--bogus"],  # unknown option
        ["identify", "G", "x.png", "-k", "abc"],  # not an integer
        ["gallery", "enroll", "G", "-bob", "x.png"],  # a name beginning with '-' (goes after `--`)
    ],
)
def test_usage_errors_print_usage_and_exit_2(args: list[str], gallery: Path) -> None:
    r = cli(*[str(gallery) if a == "G" else a for a in args])
    assert r.returncode == 2, r.stderr
    assert "Usage:" in r.stderr and "Traceback" not in r.stderr + r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gallery", "enroll", "G", "bob", "missing.png"], "no such file"),
        (["gallery", "enroll", "G", "bob", "FOLDER"], "is a folder, not a file"),
        (["gallery", "enroll", "G", "two\nlines", "FILE"], "control/invisible character"),
        (["gallery", "enroll", "G", "..", "FILE"], "cannot be an identity name"),
        (["identify", "G", "missing.png"], "no such file"),
        (["identify", "G", "FILE", "-k", "0"], "-k must be at least 1"),
        (["gallery", "create", "NEW", "--model", "nowhere", "--name", "x"], "--name is the table prefix"),
        (["gallery", "create", "G", "--model", "nowhere"], "a gallery already exists"),
        (["gallery", "list", "G", "--name", "x"], "'name' is the table prefix"),
        (["calibrate", "G", "--data", "FOLDER", "--far", "2"], "--far must lie strictly between 0 and 1"),
        (["verify", "nowhere", "FILE", "missing.png"], "no such file"),
    ],
)
def test_bad_input_is_one_error_line_before_any_model_loads(
    args: list[str], message: str, gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """In-process through the console entry point ``main()`` (as fast as the checks; no interpreter start)."""
    from lookalike.cli.app import main

    (tmp_path / "f.png").write_bytes(b"not read")
    subs = {"G": str(gallery), "FOLDER": str(tmp_path), "FILE": str(tmp_path / "f.png"), "NEW": str(tmp_path / "n")}
    monkeypatch.setattr(sys, "argv", ["lookalike", *[subs.get(a, a) for a in args]])
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 1, err
    assert err.startswith("error: ") and message in err, err


def test_a_bad_hugging_face_folder_is_a_data_error(tmp_path: Path) -> None:
    from lookalike.errors import DataError
    from lookalike.models import load_model

    (tmp_path / "config.json").write_text('{"model_type": "nonsense"}')
    with pytest.raises(DataError, match="not a usable Hugging Face model"):
        load_model(f"hf:{tmp_path}")


def test_a_val_override_without_fraction_or_names_is_a_config_error() -> None:
    from lookalike.errors import ConfigError
    from lookalike.training import load_train_config
    from lookalike.training.builder import build_splits

    cfg = load_train_config(Path(__file__).parents[2] / "configs" / "orl.yaml", ["data.val.seed=1"])
    with pytest.raises(ConfigError, match="exactly one of 'fraction' or 'names'"):
        build_splits(cfg)
