"""``lookalike fit`` on tiny digit folders: selection never sees held-out classes, budget, reproduction, errors."""

from __future__ import annotations

import csv
import html
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from _extras import require_extra
from lookalike.errors import ConfigError, DataError
from lookalike.fitting import fit, load_space
from lookalike.fitting.calibration import read_unseen_pairs

SPACE = """
modality: small_images
folds: 3
val_fraction: 0.25
families:
  - name: pixels
    encoder: pixels
    options: [{size: 8}, {size: 6}]
heads:
  - {name: none, head: {type: none}}
  - {name: whiten, head: {type: linear, init: whiten}, shrink: [0.05, 0.95]}
  - {name: linear, head: {type: linear, embedding_size: 16}, trained: true}
distances: [cosine, euclidean]
training:
  losses: [{name: multi_similarity, miner: multi_similarity}]
  lr_head: [0.001, 0.01]
  epochs: [1, 2]
  m_per_class: 4
  classes_per_batch: 4
"""


def _digit_folders(root: Path, per_class: int = 25, scramble: tuple[str, ...] = ()) -> Path:
    """sklearn digits as PNG class folders; items of the ``scramble`` classes are dealt among them at random."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255 / 16)).astype(np.uint8)
    rng = np.random.default_rng(1)
    picked = {c: np.nonzero(d.target == c)[0][:per_class] for c in range(10)}
    pool = np.concatenate([picked[int(c)] for c in scramble]) if scramble else np.array([], dtype=int)
    pool = rng.permutation(pool)
    for c in range(10):
        idx = picked[c]
        if str(c) in scramble:
            k = list(scramble).index(str(c))
            idx = pool[k * per_class : (k + 1) * per_class]
        folder = root / str(c)
        folder.mkdir(parents=True)
        for j, i in enumerate(idx):
            Image.fromarray(images[i]).save(folder / f"{j:03d}.png")
    return root


@pytest.fixture(scope="module")
def space_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("space") / "space.yaml"
    p.write_text(SPACE, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory, space_file: Path):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("fit")
    data = _digit_folders(root / "digits")
    cache = str(root / "cache")
    result = fit(data, root / "out", budget=5, seed=0, space=space_file, max_trials=6, cache_dir=cache, progress=False)
    return result, root, cache


def _held_out(out: Path) -> list[str]:
    from lookalike.data.protocols import load_protocol

    return load_protocol(out / "protocol.yaml").classes("test")


def test_fit_writes_every_output(fitted) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = fitted
    out = result.out_dir
    for name in ("recipe.yaml", "model/lookalike.json", "search.csv", "report.html", "heldout.json", "protocol.yaml"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "search.csv").open()))
    assert len(rows) == result.trials == 6
    assert {"fold_1", "fold_2", "fold_3", "mean", "std", "seconds"} <= set(rows[0])
    assert 0.0 < result.val_map_at_r <= 1.0 and result.val_std >= 0
    assert 0.0 < result.heldout_map_at_r <= 1.0
    held = _held_out(out)
    assert len(held) == 2  # 0.2 of 10 classes
    assert "trials" in (out / "report.html").read_text()


def test_scrambled_heldout_labels_leave_the_search_unchanged(fitted, space_file: Path) -> None:  # type: ignore[no-untyped-def]
    result, root, cache = fitted
    held = tuple(_held_out(result.out_dir))
    data = _digit_folders(root / "scrambled", scramble=held)
    other = fit(data, root / "out2", budget=5, seed=0, space=space_file, max_trials=6, cache_dir=cache, progress=False)

    def rows(path: Path) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(path.open())]

    def recipe(path: Path) -> dict:
        r = yaml.safe_load(path.read_text())
        r.pop("output_dir")
        r["data"].pop("protocol")
        return r

    assert rows(other.out_dir / "search.csv") == rows(result.out_dir / "search.csv")
    assert recipe(other.recipe_path) == recipe(result.recipe_path)
    assert other.chosen == result.chosen
    # the calibration pairs come from the training carve-outs only
    a, b = read_unseen_pairs(result.out_dir), read_unseen_pairs(other.out_dir)
    np.testing.assert_array_equal(a.genuine, b.genuine)
    np.testing.assert_array_equal(a.impostor, b.impostor)
    assert other.heldout_map_at_r != pytest.approx(result.heldout_map_at_r, abs=1e-6)  # the held-out data did change


def test_fit_writes_pair_scores_of_classes_its_fold_models_never_saw(fitted) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = fitted
    assert result.calibration_path == result.out_dir / "calibration.npz"
    pairs = read_unseen_pairs(result.out_dir)
    # 8 training classes x 25 items; each fold's validation items are paired among themselves only
    from lookalike.data.splits import class_folds

    folds = class_folds(np.repeat(np.arange(8), 25), folds=3, fraction=0.25, seed=0)
    per_fold = [len(va) // 25 for _, va in folds]  # validation classes of each fold
    assert pairs.folds == 3
    assert len(pairs.genuine) == sum(c * 300 for c in per_fold)  # C(25, 2) = 300 per class
    assert len(pairs.impostor) == sum(c * (c - 1) // 2 * 625 for c in per_fold)  # 25 x 25 per pair of classes
    assert np.isfinite(pairs.genuine).all() and np.isfinite(pairs.impostor).all()
    assert pairs.genuine.mean() > pairs.impostor.mean()  # a real model: same-class pairs score higher
    # the report gives the thresholds the pairs can measure (the rule of three: FAR 1e-4 needs 30,000 of them)
    points = pairs.operating_points()
    assert "FAR 0.01: threshold" in points and "FAR 0.0001" not in points
    assert points in (result.out_dir / "report.html").read_text()


def test_recipe_retrained_with_train_reproduces_heldout_map_at_r(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lookalike.evaluation.evaluate import evaluate_model
    from lookalike.evaluation.inputs import load_evaluation_data
    from lookalike.models.export import load_model
    from lookalike.training import load_train_config, train

    result, _, _ = fitted
    cfg = load_train_config(result.recipe_path, [f"output_dir={tmp_path / 'again'}"])
    again = train(cfg, resume=False)
    ev = load_evaluation_data(result.protocol_path)
    score = evaluate_model(load_model(again.model_dir), ev.dataset, shots=ev.shots).retrieval.map_at_r
    assert score == pytest.approx(result.heldout_map_at_r, abs=0.01)


def test_the_chosen_query_expansion_reaches_recipe_card_and_heldout(fitted) -> None:  # type: ignore[no-untyped-def]
    import json

    result, _, _ = fitted
    out = result.out_dir
    card = json.loads((out / "model" / "lookalike.json").read_text())
    info = json.loads((out / "heldout.json").read_text())["info"]
    for name in ("query_expansion", "database_augmentation"):
        k = yaml.safe_load(result.recipe_path.read_text())["model"][name]
        assert card.get(name, 0) == k and info[name] == k
        assert (f"{name}={k}" in result.chosen) == (k > 0)
    rows = [r for r in csv.DictReader((out / "search.csv").open()) if r["mean"]]
    assert rows and all(float(r["mean"]) >= float(r["mean_no_expansion"]) for r in rows)  # 0 is always a choice
    for name in ("query_expansion", "database_augmentation"):
        assert all((f"{name}={r[name]}" in r["recipe"]) == (r[name] != "0") for r in rows)


def test_a_trial_keeps_the_expansion_with_the_best_mean() -> None:
    from lookalike.fitting.search import Trial
    from lookalike.fitting.space import Candidate, HeadChoice
    from lookalike.training.config import HeadConfig

    trial = Trial(0, Candidate("f/0", HeadChoice(name="none", head=HeadConfig(type="none")), "cosine"), {}, "complete")
    trial.add_fold({(0, 0, 0): 0.5, (5, 0, 0): 0.7, (10, 0, 0): 0.6, (0, 5, 0): 0.65, (0, 0, 30): 0.6})
    assert trial.fold_scores == [0.7] and trial.candidate.query_expansion == 5
    trial.add_fold({(0, 0, 0): 0.5, (5, 0, 0): 0.4, (10, 0, 0): 0.8, (0, 5, 0): 0.9, (0, 0, 30): 0.7})
    assert trial.fold_scores == [0.65, 0.9]  # means 0.5, 0.55, 0.7, 0.775, 0.65
    assert (trial.candidate.query_expansion, trial.candidate.database_augmentation) == (0, 5)
    assert trial.candidate.diffusion == 0
    trial.add_fold({(0, 0, 0): 0.5, (5, 0, 0): 0.4, (10, 0, 0): 0.5, (0, 5, 0): 0.5, (0, 0, 30): 1.0})
    assert trial.fold_scores == [0.6, 0.7, 1.0]  # diffusion's mean 0.767 beats augmentation's 0.683
    assert (trial.candidate.query_expansion, trial.candidate.database_augmentation, trial.candidate.diffusion) == (
        0, 0, 30,
    )  # fmt: skip
    assert "diffusion=30" in trial.candidate.describe()
    tie = Trial(1, Candidate("f/0", HeadChoice(name="none", head=HeadConfig(type="none")), "cosine"), {}, "complete")
    tie.add_fold({(0, 0, 0): 0.5, (5, 0, 0): 0.5, (0, 5, 0): 0.5, (0, 0, 30): 0.5})
    assert (tie.candidate.query_expansion, tie.candidate.database_augmentation, tie.candidate.diffusion) == (0, 0, 0)


def test_the_choice_prefers_the_better_plain_search_among_trials_within_one_standard_error() -> None:
    from lookalike.fitting.search import Trial, choose
    from lookalike.fitting.space import Candidate, HeadChoice
    from lookalike.training.config import HeadConfig

    def trial(number: int, folds: list[tuple[float, float]], needs_nets: bool = False) -> Trial:
        cand = Candidate(f"f/{number}", HeadChoice(name="none", head=HeadConfig(type="none")), "cosine")
        t = Trial(number, cand, {}, "complete", needs_nets=needs_nets)
        for plain, diffused in folds:
            t.add_fold({(0, 0, 0): plain, (0, 0, 30): diffused})
        return t

    saturated = trial(0, [(0.85, 0.9996), (0.85, 0.9979), (0.86, 0.9968)])  # mean 0.9981, standard error 0.0008
    strong = trial(1, [(0.95, 0.9982), (0.94, 0.9944), (0.95, 1.0)])  # mean 0.9975: within it, plain 0.947
    weak = trial(2, [(0.97, 0.99), (0.97, 0.99), (0.97, 0.99)])  # the best plain search, but 0.008 below
    best, near = choose([saturated, strong, weak])
    assert best is strong and {t.number for t in near} == {0, 1}
    assert choose([saturated, weak])[0] is saturated  # outside one standard error the mean decides
    lost = trial(3, [(0.99, 0.9996), (0.99, 0.9979), (0.99, 0.9968)], needs_nets=True)  # its fold networks let go
    assert choose([saturated, lost])[0] is saturated


def test_space_query_expansion_values_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPACE + "query_expansion: [0, 500]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"query_expansion values must be in \[0, 100\]"):
        load_space(str(bad))
    bad.write_text(SPACE + "database_augmentation: [-1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"database_augmentation values must be in \[0, 100\]"):
        load_space(str(bad))
    good = tmp_path / "good.yaml"
    good.write_text(SPACE + "query_expansion: [5, 0, 5]\n", encoding="utf-8")
    assert load_space(str(good)).query_expansion == [0, 5]


def test_budget_is_respected(space_file: Path, tmp_path: Path) -> None:
    data = _digit_folders(tmp_path / "digits", per_class=15)
    budget_min = 0.35  # 21 s: FINAL_OVERHEAD_S (10 s) and the final training leave room for a few trials
    t0 = time.monotonic()
    result = fit(data, tmp_path / "out", budget=budget_min, space=space_file, cache_dir=str(tmp_path / "c"),
                 progress=False)  # fmt: skip
    wall = time.monotonic() - t0
    assert result.trials >= 2  # it used the budget, not just one candidate
    assert result.search_seconds < budget_min * 60
    assert wall <= budget_min * 60 + 5, f"fit took {wall:.1f} s for a {budget_min * 60:.0f} s budget"


def test_budget_too_small_for_one_candidate(space_file: Path, tmp_path: Path) -> None:
    data = _digit_folders(tmp_path / "digits", per_class=5)
    with pytest.raises(ConfigError, match=r"too small for even one candidate.*--budget"):
        fit(data, tmp_path / "out", budget=1e-4, space=space_file, cache_dir=str(tmp_path / "c"), progress=False)


def test_too_few_classes(space_file: Path, tmp_path: Path) -> None:
    data = _digit_folders(tmp_path / "digits", per_class=5)
    for c in "3456789":
        shutil.rmtree(data / c)
    with pytest.raises(DataError, match="fit needs at least 4"):
        fit(data, tmp_path / "out", space=space_file, cache_dir=str(tmp_path / "c"), progress=False)


def test_single_item_classes(space_file: Path, tmp_path: Path) -> None:
    data = _digit_folders(tmp_path / "digits", per_class=1)
    with pytest.raises(DataError, match=r"single item.*at least 2 items"):
        fit(data, tmp_path / "out", space=space_file, cache_dir=str(tmp_path / "c"), progress=False)


def test_skip_bad_is_written_into_the_protocol_fit_writes(tmp_path: Path) -> None:
    """A folder with an unreadable image: refused by default; with ``on_bad='skip'`` the protocol fit writes (the
    one its recipe trains on) records it, so the recipe retrains on the same items. A protocol says it itself."""
    from lookalike.data.protocols import load_protocol
    from lookalike.errors import BadFilesError
    from lookalike.fitting.data import resolve_data

    data = _digit_folders(tmp_path / "digits", per_class=3)
    (data / "4" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    with pytest.raises(BadFilesError, match=r"broken\.png"):
        resolve_data(data, tmp_path / "a", holdout=0.2, seed=0)
    with pytest.warns(UserWarning, match="skipped 1 bad file"):
        fd = resolve_data(data, tmp_path / "b", holdout=0.2, seed=0, on_bad="skip")
    assert yaml.safe_load(fd.protocol_path.read_text())["source"]["on_bad"] == "skip"
    assert not any("broken" in str(item) for item in fd.train.items)
    with pytest.warns(UserWarning, match="skipped 1 bad file"):
        again = load_protocol(fd.protocol_path).dataset("train")
    assert [str(i) for i in again.items] == [str(i) for i in fd.train.items]
    with pytest.raises(ConfigError, match="is a protocol"):
        resolve_data("protocol:digits", tmp_path / "c", holdout=0.2, seed=0, on_bad="skip")
    with pytest.raises(DataError, match="on_bad must be"):
        fit(data, tmp_path / "d", on_bad="ignore", progress=False)  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists()  # refused before the output folder is made


def test_a_holdout_of_one_class_is_refused_before_the_search(tmp_path: Path) -> None:
    """It used to fail only at the very end, after the search and the final training."""
    data = _digit_folders(tmp_path / "digits", per_class=3)
    with pytest.raises(DataError, match=r"1 held-out class\(es\); the final test needs at least 2"):
        fit(data, tmp_path / "out", holdout=0.1, progress=False)
    assert not (tmp_path / "out" / "search.csv").exists()


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        fit(tmp_path / "empty", tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "recipe.yaml").exists()


def test_out_folder_with_other_files_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        fit(tmp_path, out, progress=False)
    assert (out / "mine.txt").read_text() == "keep me"


def test_a_stopped_fits_folder_can_be_reused(tmp_path: Path) -> None:
    """A fit that stops before its first output (here: refused data, after protocol.yaml was written) leaves a
    folder a later fit reuses; before the marker it was refused as "not empty" though only fit had written it."""
    data = _digit_folders(tmp_path / "digits", per_class=1)
    out = tmp_path / "out"
    for _ in range(2):
        with pytest.raises(DataError, match="single item"):
            fit(data, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [".lookalike-fit", "protocol.yaml"]


def test_a_reused_folder_keeps_no_earlier_fits_pairs(space_file: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Where the chosen model has no unseen-class pairs (a scratch network without fold networks), an earlier
    fit's calibration.npz in the same folder is removed: it would describe another model."""
    import importlib

    fit_module = importlib.import_module("lookalike.fitting.fit")  # the module (the package exports the function)

    data = _digit_folders(tmp_path / "digits", per_class=10)
    out = tmp_path / "out"
    fit(data, out, budget=5, seed=0, space=space_file, max_trials=1, progress=False)
    assert (out / "calibration.npz").is_file()
    monkeypatch.setattr(fit_module, "unseen_pairs", lambda *a, **k: None)
    again = fit(data, out, budget=5, seed=0, space=space_file, max_trials=1, progress=False)
    assert again.calibration_path is None and not (out / "calibration.npz").exists()


@pytest.mark.parametrize("modality", ["images", "faces", "small_images", "text", "vectors"])
def test_packaged_spaces_load(modality: str) -> None:
    space = load_space(modality, input_dim=8)
    assert space.modality == modality and space.features()


def test_protocol_test_fraction_holds_classes_out_of_train() -> None:
    from lookalike.config import validate
    from lookalike.data.protocols import Protocol

    p = validate(Protocol, {"name": "d", "source": {"kind": "digits"}, "train": {}, "test": {"fraction": 0.3}})
    train, test = p.classes("train"), p.classes("test")
    assert len(test) == 3 and not set(train) & set(test) and len(train) + len(test) == 10


def test_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "empty").mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "lookalike", "fit", str(tmp_path / "empty"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "no class sub-folders" in proc.stderr


@pytest.mark.realdata
def test_face_photos_get_the_face_search_space(shared_data: Path) -> None:
    """ORL photos are faces (dlib finds one in most): fit searches face:dlib beside the ImageNet features;
    logo crops are not."""
    require_extra("dlib", "faces")
    from lookalike.data.types import LabeledDataset
    from lookalike.fitting.fit import detect_modality

    def folder(paths: list[Path]) -> LabeledDataset:
        labels = np.arange(len(paths)) % 4
        return LabeledDataset(kind="image", items=[str(p) for p in paths], labels=labels, class_names=list("abcd"))

    faces = sorted((shared_data / "orl_faces").glob("s1*/*.pgm"))[:40]
    logos = sorted((shared_data / "flickr_logos_27" / "crops").glob("*/*.jpg"))[::30][:40]
    assert detect_modality(folder(faces)) == "faces"
    assert detect_modality(folder(logos)) == "images"
    space = load_space("faces")
    assert space.families[0].encoder == "face:dlib"
    assert any(h.name == "none" for h in space.heads)  # the untrained face model stays a candidate


HYPERBOLIC_SPACE = """
modality: small_images
folds: 2
families: [{name: pixels, encoder: pixels, options: [{size: 8}]}]
heads:
  - {name: whiten, head: {type: linear, init: whiten}, shrink: [0.5, 0.5]}
  - {name: linear, head: {type: linear, embedding_size: 16}, trained: true}
distances: [hyperbolic]
training:
  losses: [{name: multi_similarity, miner: multi_similarity}]
  epochs: [2]
"""


def test_fit_searches_and_exports_a_hyperbolic_distance(tmp_path: Path) -> None:
    from lookalike.models.export import load_model

    space = tmp_path / "space.yaml"
    space.write_text(HYPERBOLIC_SPACE, encoding="utf-8")
    data = _digit_folders(tmp_path / "digits", per_class=12)
    result = fit(data, tmp_path / "out", budget=3, seed=0, space=space, max_trials=2, cache_dir=str(tmp_path / "c"),
                 progress=False)  # fmt: skip
    assert "hyperbolic" in result.chosen
    model = load_model(result.model_dir)
    emb = model.embed([np.zeros((8, 8), dtype=np.uint8), np.full((8, 8), 255, dtype=np.uint8)])
    assert model.distance.name == "hyperbolic"
    assert float(np.linalg.norm(emb, axis=1).max()) < 1 / np.sqrt(model.distance.c)  # inside the Poincaré ball


def test_cli_fit_names_every_output_and_the_calibration_command(space_file: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lookalike.cli.app import app

    data = _digit_folders(tmp_path / "digits", per_class=10)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["fit", str(data), "--out", str(out), "--budget", "5", "--space", str(space_file), "--max-trials", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "held-out MAP@R" in result.output and "heldout.json" in result.output
    assert f"--from-fit {out}" in result.output and (out / "calibration.npz").is_file()
    assert "discovery grouping: the library default (8 training classes; a choice needs 13)" in result.output


GROUPING_SPACE = """
modality: small_images
folds: 2
families: [{name: pixels, encoder: pixels, options: [{size: 8}]}]
heads:
  - {name: whiten, head: {type: linear, init: whiten}, shrink: [0.5, 0.5]}
distances: [cosine]
training:
  losses: [{name: multi_similarity, miner: multi_similarity}]
  epochs: [2]
"""


def _many_classes(root: Path, per_class: int = 12) -> Path:
    """17 image classes: sklearn's 10 digits, and 7 more made of digits 0-6 transposed."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255 / 16)).astype(np.uint8)
    for name, c, flip in [*((str(c), c, False) for c in range(10)), *((f"t{c}", c, True) for c in range(7))]:
        folder = root / name
        folder.mkdir(parents=True)
        for j, i in enumerate(np.nonzero(d.target == c)[0][:per_class]):
            Image.fromarray(images[i].T if flip else images[i]).save(folder / f"{j:03d}.png")
    return root


def test_a_closed_form_choice_also_chooses_discoverys_grouping_for_the_gallery(tmp_path: Path) -> None:
    from lookalike.training.calibration import read_unseen_pairs as read_train_pairs
    from lookalike.training.grouping import GroupingChoice

    space = tmp_path / "space.yaml"
    space.write_text(GROUPING_SPACE, encoding="utf-8")
    data = _many_classes(tmp_path / "data")
    result = fit(data, tmp_path / "out", budget=5, seed=0, space=space, max_trials=1, cache_dir=str(tmp_path / "c"),
                 progress=False)  # fmt: skip
    recipe = yaml.safe_load(result.recipe_path.read_text())
    assert recipe["discovery"]["trials"] == 8  # 14 training classes, a budget with room for every trial
    # `lookalike train` chose it; fit keeps it beside its own pairs, where `calibrate --from-fit` reads it
    trained = read_train_pairs(result.out_dir / "train").grouping
    kept = read_unseen_pairs(result.out_dir).grouping
    assert trained is not None and kept == trained
    choice = GroupingChoice.from_dict(kept)
    assert choice.trials == 8 and 0.0 < choice.f1 <= 1.0
    assert html.escape(choice.summary()) in (result.out_dir / "report.html").read_text()
    # a gallery of the fit's model, calibrated from the fit folder, groups its unknowns with the choice
    from typer.testing import CliRunner

    from lookalike.cli.app import app
    from lookalike.gallery import Gallery
    from lookalike.models.export import load_model

    g = str(tmp_path / "gallery")
    Gallery.create(g, load_model(result.model_dir)).close()
    out = CliRunner().invoke(app, ["calibrate", g, "--from-fit", str(result.out_dir), "--far", "0.01"])
    assert out.exit_code == 0, out.output
    with Gallery.open(g) as gal:
        assert gal.grouping == choice.params


def test_too_few_classes_or_a_small_budget_leave_the_library_grouping(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lookalike.fitting.fit import _Costs, _grouping_trials
    from lookalike.fitting.search import Trial
    from lookalike.fitting.space import Candidate

    result, _, _ = fitted  # 8 training classes: fewer than a grouping choice needs
    assert "discovery" not in yaml.safe_load(result.recipe_path.read_text())
    assert read_unseen_pairs(result.out_dir).grouping is None
    assert "the library default (8 training classes" in (result.out_dir / "report.html").read_text()

    (tmp_path / "space.yaml").write_text(GROUPING_SPACE, encoding="utf-8")
    space = load_space(tmp_path / "space.yaml")
    whiten = Candidate(feature="pixels/0", head=space.heads[0], distance="cosine", shrink=0.5)
    trial = Trial(number=0, candidate=whiten, params={}, state="complete", fold_scores=[0.9, 0.9], seconds=20.0)
    costs = _Costs(space, bank=None, n_final=0, n_classes=14, budget_s=600.0)  # type: ignore[arg-type]
    costs.per_item["pixels"] = 0.0
    per = costs.grouping_trial(trial)
    assert per == pytest.approx(4 * 10.0 + 10.0)  # four refits of a 10 s fold, and the groupings
    assert _grouping_trials(costs, trial, left=1e6)[0] == 8
    assert _grouping_trials(costs, trial, left=costs.core(trial) + 3.5 * per)[0] == 3  # what the time affords
    trials, why = _grouping_trials(costs, trial, left=costs.core(trial) + 1.5 * per)
    assert trials == 0 and why.startswith("the library default (the budget left")
    assert costs.grouping(trial) == pytest.approx(min(8 * per, 0.25 * 600.0))  # kept back during the search
