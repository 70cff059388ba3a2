"""The one data-spec resolver and the shipped recipes/protocols (lookalike.data.resolve, lookalike.data.roots)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.data.protocols import load_protocol
from lookalike.data.resolve import FL27_ANNOTATION, as_protocol, load_data, split_spec
from lookalike.data.roots import DATA_ROOT_ENV, packaged, packaged_names
from lookalike.errors import ConfigError, DataError


def _class_folder(root: Path, classes: int = 10, per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root


def test_recipes_and_protocols_ship_as_package_data_found_by_name() -> None:
    assert {"orl", "fl27", "digits", "lfw"} <= set(packaged_names("protocol"))
    assert {"orl", "fl27", "pixels", "untrained_backbone"} <= set(packaged_names("recipe"))
    assert packaged("protocol", "orl").parent.parent.name == "lookalike"
    for name in packaged_names("protocol"):  # no shipped protocol points at one machine's layout
        assert "data_root" not in packaged("protocol", name).read_text()
    with pytest.raises(ConfigError, match=r"no shipped recipe named 'orll' \(did you mean recipe:orl\?\)"):
        packaged("recipe", "orll")


def test_every_shipped_recipe_validates() -> None:
    from lookalike.training import load_train_config

    for name in set(packaged_names("recipe")) - {"default"}:
        cfg = load_train_config(f"recipe:{name}")
        assert cfg.data.protocol.startswith("protocol:"), name
        load_protocol(cfg.data.protocol)  # the protocol it names is shipped too
    with pytest.raises(ConfigError, match=r"data\.protocol: Field required"):  # recipe:default wants --data
        load_train_config("recipe:default")


def test_name_split_specs() -> None:
    assert split_spec("orl:val") == ("orl", "val")
    assert split_spec("protocol:orl") == ("protocol:orl", None)
    assert split_spec("protocol:digits:oos") == ("protocol:digits", "oos")
    assert load_data("digits:val").class_names == ["5", "6"]
    assert load_data("protocol:digits").class_names == ["7", "8", "9"]
    assert load_data("digits", split="train").class_names == ["0", "1", "2", "3", "4"]


def test_a_folder_trains_every_class_with_a_carved_validation(tmp_path: Path) -> None:
    folder = _class_folder(tmp_path / "set")
    protocol = as_protocol(folder)
    train, val = protocol.dataset("train"), protocol.dataset("val")
    assert len(val.class_names) == 2 and not set(train.class_names) & set(val.class_names)
    assert sorted(train.class_names + val.class_names) == sorted(f"c{c}" for c in range(10))
    with pytest.raises(DataError, match="has no 'test' split"):
        protocol.dataset("test")
    assert load_data(folder).class_names == [f"c{c}" for c in range(10)]


def test_train_config_takes_a_folder_as_its_data(tmp_path: Path) -> None:
    from lookalike.training import load_train_config
    from lookalike.training.builder import build_splits

    folder = _class_folder(tmp_path / "set")
    cfg = load_train_config("recipe:default", [f"data.protocol={folder}"])  # what `train --data FOLDER` sets
    splits = build_splits(cfg)  # recipe:default trains on every class (train_classes: all)
    assert splits.val is None and len(splits.train.class_names) == 10
    (folder / "c3" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    skip = load_train_config("recipe:default", [f"data.protocol={folder}", "data.on_bad=skip"])  # `train --skip-bad`
    with pytest.warns(UserWarning, match="skipped 1 bad file"):
        assert len(build_splits(skip).train) == 30


def test_the_raw_flickr27_layout_is_refused_with_the_import_command(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "flickr_logos_27_dataset_images").mkdir(parents=True)
    (raw / FL27_ANNOTATION).write_text("")
    for call in (lambda: load_data(raw), lambda: as_protocol(raw)):
        with pytest.raises(DataError, match=r"FlickrLogos-27's original layout.*lookalike import flickr27"):
            call()


def test_missing_data_names_the_folders_searched_and_the_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match=rf"data 'orl_faces' is not in '{tmp_path}/elsewhere'.*{DATA_ROOT_ENV}"):
        load_data("orl:test")
    _class_folder(tmp_path / "elsewhere" / "orl_faces", classes=40, per_class=1)
    assert load_data("orl:test").class_names == [f"c{c}" for c in range(30, 40)]


def test_unknown_data_spec_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither a folder, a manifest nor a protocol name"):
        load_data("no_such_thing")
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "x.csv")


def test_cli_trains_a_shipped_recipe_on_a_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lookalike.cli.app import app

    folder = _class_folder(tmp_path / "set", classes=6, per_class=4)
    args = ["train", "recipe:default", "--data", str(folder), "--set", f"output_dir={tmp_path / 'run'}",
            "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", "model.encoder_kwargs.pretrained=false",
            "--set", "model.encoder_kwargs.input_size=32", "--set", "model.encoder=timm:test_efficientnet",
            "--set", "model.encoder_kwargs.out_block=2"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (tmp_path / "run" / "model" / "lookalike.json").is_file()


def test_fit_takes_a_shipped_protocol_by_name(tmp_path: Path) -> None:
    from lookalike.fitting.data import resolve_data

    data = resolve_data("protocol:digits", tmp_path, holdout=0.3, seed=0)
    assert data.protocol.val is None and data.train.class_names == [str(d) for d in range(7)]
    assert load_protocol("digits").val is not None  # the shipped protocol itself keeps its carve-out


def test_data_root_option_sets_the_env_and_refuses_a_missing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from typer.testing import CliRunner

    from lookalike.cli.app import app

    monkeypatch.setenv(DATA_ROOT_ENV, "unset-by-teardown")  # monkeypatch restores the variable afterwards
    result = CliRunner().invoke(app, ["--data-root", str(tmp_path / "nope"), "embed", "pixels", "--data", "orl",
                                      "--out", str(tmp_path / "x.npy")])  # fmt: skip
    assert isinstance(result.exception, ConfigError) and "--data-root" in str(result.exception)
    _class_folder(tmp_path / "root" / "orl_faces", classes=40, per_class=1)
    result = CliRunner().invoke(app, ["--data-root", str(tmp_path / "root"), "embed", "pixels", "--data", "orl:test",
                                      "--out", str(tmp_path / "x.npy")])  # fmt: skip
    assert result.exit_code == 0, repr(result.exception)
    assert os.environ[DATA_ROOT_ENV] == str((tmp_path / "root").resolve())
    assert np.load(tmp_path / "x.npy").shape[0] == 10  # s31-s40 of the protocol: the last 10 classes


def _with_bad_files(root: Path) -> Path:
    _class_folder(root, classes=4, per_class=3)
    (root / "c0" / "empty.jpg").write_bytes(b"")
    (root / "c1" / "text.png").write_text("not an image")
    return root


def test_bad_files_are_refused_naming_every_way_to_skip_them(tmp_path: Path) -> None:
    from lookalike.errors import BadFilesError

    root = _with_bad_files(tmp_path / "d")
    with pytest.raises(BadFilesError, match="2 bad file") as info:
        load_data(root)
    assert "--skip-bad" in str(info.value) and "on_bad='skip'" in str(info.value) and "on_bad: skip" in str(info.value)
    with pytest.warns(UserWarning, match="skipped 2 bad file"):
        ds = load_data(root, on_bad="skip")
    assert len(ds) == 12 and not any(Path(str(p)).name in ("empty.jpg", "text.png") for p in ds.items)
    protocol = as_protocol(root, on_bad="skip")
    assert protocol.source is not None and protocol.source.on_bad == "skip"
    with pytest.warns(UserWarning, match="skipped 2 bad file"):
        assert len(protocol.dataset("train")) + len(protocol.dataset("val")) == 12


def test_skipping_is_refused_for_a_protocol_which_says_it_in_its_source(tmp_path: Path) -> None:
    for call in (lambda: load_data("protocol:orl", on_bad="skip"), lambda: as_protocol("protocol:orl", on_bad="skip")):
        with pytest.raises(ConfigError, match=r"is a protocol: write `on_bad: skip` under its `source:`"):
            call()
    with pytest.raises(DataError, match="on_bad must be 'error'"):
        load_data(_class_folder(tmp_path / "d"), on_bad="ignore")  # type: ignore[arg-type]
