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
        (["gallery", "enroll", "G", "bob", "EMPTY"], "no image or text files in folder"),
        (["identify", "G", "EMPTY"], "no image or text files in folder"),
        (["verify", "G", "FOLDER", "FILE"], "is a folder, not a file"),
        (["gallery", "enroll", "G", "two\nlines", "FILE"], "control/invisible character"),
        (["gallery", "enroll", "G", "..", "FILE"], "cannot be an identity name"),
        (["identify", "G", "missing.png"], "no such file"),
        (["identify", "G", "FILE", "-k", "0"], "-k must be at least 1"),
        (["gallery", "create", "NEW", "--model", "nowhere", "--name", "x"], "--name is the table prefix"),
        (["gallery", "create", "G", "--model", "nowhere"], "a gallery already exists"),
        (["gallery", "list", "G", "--name", "x"], "'name' is the table prefix"),
        (["calibrate", "G", "--data", "FOLDER", "--far", "2"], "--far must lie strictly between 0 and 1"),
        (["calibrate", "G"], "give exactly one of --data"),
        (["calibrate", "G", "--data", "FOLDER", "--from-fit", "FOLDER"], "give exactly one of --data"),
        (["calibrate", "G", "--from-fit", "FOLDER"], "calibration.npz does not exist"),
        (["verify", "nowhere", "FILE", "missing.png"], "no such file"),
        # an output that is a file: refused up front, not as a traceback after the work
        (["evaluate", "pixels", "--data", "FOLDER", "--out", "FILE"], "--out '"),
        (["fit", "FOLDER", "--out", "FILE"], "is a file; give a folder"),
        (["demo", "--out", "FILE"], "is a file; give a folder"),
        (["train", "recipe:default", "--data", "FOLDER", "--set", "output_dir=FILE"], "output_dir '"),
    ],
)
def test_bad_input_is_one_error_line_before_any_model_loads(
    args: list[str], message: str, gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """In-process through the console entry point ``main()`` (as fast as the checks; no interpreter start)."""
    from lookalike.cli.app import main

    (tmp_path / "f.png").write_bytes(b"not read")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.md").write_text("neither an image nor a .txt item")
    subs = {"G": str(gallery), "FOLDER": str(tmp_path), "FILE": str(tmp_path / "f.png"), "NEW": str(tmp_path / "n"),
            "EMPTY": str(tmp_path / "empty")}  # fmt: skip
    args = [subs.get(a, a) if "=" not in a else a.replace("FILE", subs["FILE"]) for a in args]
    monkeypatch.setattr(sys, "argv", ["lookalike", *args])
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


def test_a_val_override_without_fraction_or_names_is_a_config_error_at_load() -> None:
    from lookalike.errors import ConfigError
    from lookalike.training import load_train_config

    with pytest.raises(ConfigError, match=r"data\.val: .*exactly one of 'fraction' or 'names'"):
        load_train_config(Path(__file__).parents[2] / "src" / "lookalike" / "recipes" / "orl.yaml", ["data.val.seed=1"])


def test_a_val_override_replaces_the_protocols_carve_out_without_changing_it() -> None:
    from lookalike.data.protocols import ValSpec, load_protocol
    from lookalike.training import load_train_config
    from lookalike.training.builder import build_splits

    protocol = Path(__file__).parents[2] / "src" / "lookalike" / "protocols" / "digits.yaml"
    cfg = load_train_config(
        Path(__file__).parents[2] / "src" / "lookalike" / "recipes" / "orl.yaml",
        [f"data.protocol={protocol}", "data.train_classes=carve", "data.val.names=['1', '2']"],
    )
    assert cfg.data.val == ValSpec(names=["1", "2"])
    splits = build_splits(cfg)
    assert splits.val is not None and splits.val.class_names == ["1", "2"]
    assert load_protocol(protocol).val != cfg.data.val  # the loaded protocol is a new object, not edited


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"out_blok": 5}, r"model\.encoder_kwargs\.timm\.out_blok: unknown key \(did you mean 'out_block'\?\)"),
        ({"resize": "stretch"}, r"model\.encoder_kwargs\.timm\.resize"),
        ({"pretrained": False, "size": 8}, r"encoder_kwargs\.timm\.size: unknown key"),
    ],
)
def test_a_typo_in_encoder_options_fails_at_load(options: dict, message: str) -> None:
    from lookalike.config import validate
    from lookalike.errors import ConfigError
    from lookalike.training import TrainConfig

    raw = {"data": {"protocol": "digits"}, "model": {"encoder": "timm:resnet18", "encoder_kwargs": options}}
    with pytest.raises(ConfigError, match=message):
        validate(TrainConfig, raw)


def test_encoder_options_are_typed_per_encoder_with_one_default() -> None:
    from lookalike.config import validate
    from lookalike.errors import ConfigError
    from lookalike.models.encoder_options import PixelsOptions, TimmOptions, encoder_options
    from lookalike.training import TrainConfig

    cfg = validate(
        TrainConfig, {"data": {"protocol": "digits"}, "model": {"encoder": "pixels", "encoder_kwargs": {"size": 8}}}
    )
    assert cfg.model.encoder_kwargs == PixelsOptions(size=8)
    assert cfg.model.encoder_kwargs.kwargs() == {"size": 8, "grayscale": True}
    assert encoder_options("timm:resnet18").kwargs()["pretrained"] is True  # the one default, for train and load
    assert isinstance(encoder_options("timm:resnet18", {"out_block": [3, 4]}), TimmOptions)
    with pytest.raises(ConfigError, match=r"Input tag 'nosuch' .*expected tags: 'timm'"):
        encoder_options("nosuch:x", {})
    with pytest.raises(ConfigError, match=r"sise: unknown key \(did you mean 'size'\?\)"):
        encoder_options("pixels", {"sise": 8})


def test_load_model_checks_encoder_options_by_the_same_types() -> None:
    from lookalike.errors import ConfigError
    from lookalike.models import load_model

    with pytest.raises(ConfigError, match=r"grayscle: unknown key \(did you mean 'grayscale'\?\)"):
        load_model("pixels", grayscle=False)


def test_skip_bad_leaves_unreadable_images_out_of_a_folder(tmp_path: Path) -> None:
    """``lookalike embed --data FOLDER``: refused listing the bad file and naming --skip-bad; with it, the good
    images are embedded and the bad one is named in a warning."""
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(tmp_path / "d" / c / f"{i}.png")
    (tmp_path / "d" / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    args = ["embed", "pixels", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "e.npy")]
    r = cli(*args)
    assert r.returncode == 1 and "broken.jpg" in r.stderr and "--skip-bad" in r.stderr, r.stderr
    assert not (tmp_path / "e.npy").exists()
    r = cli(*args, "--skip-bad")
    assert r.returncode == 0, r.stderr
    assert "skipped 1 bad file" in r.stderr and np.load(tmp_path / "e.npy").shape[0] == 4
