"""Protocols: class-disjoint train/val/test from YAML, manifests with a split column, k-shot, load_spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_fakes import jpeg_bytes

from lookalike.data.protocols import load_protocol
from lookalike.data.resolve import load_data
from lookalike.data.sources import from_vectors
from lookalike.data.splits import kshot_split, query_gallery_split
from lookalike.data.types import UNKNOWN_LABEL
from lookalike.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """data/set/c0..c9 with 3 images each, plus a protocol YAML next to data/."""
    for c in range(10):
        d = tmp_path / "data" / "set" / f"c{c}"
        d.mkdir(parents=True)
        for k in range(3):
            (d / f"{k}.jpg").write_bytes(jpeg_bytes((16, 16), seed=c * 10 + k))
    (tmp_path / "proto.yaml").write_text(
        "name: toy\ndata_root: data\nclass_order: natural\nsource: {kind: folder, path: set}\n"
        "train: {classes: {first: 6}}\nval: {fraction: 0.34, seed: 1}\ntest: {classes: {last: 4}}\n"
    )
    return tmp_path


def test_splits_are_class_disjoint_and_val_is_carved_from_train(tree: Path) -> None:
    proto = load_protocol(tree / "proto.yaml")
    train, val, test = (proto.dataset(s) for s in ("train", "val", "test"))
    assert test.class_names == ["c6", "c7", "c8", "c9"]
    assert len(val.class_names) == 2 and len(train.class_names) == 4
    assert set(train.class_names) | set(val.class_names) == {f"c{i}" for i in range(6)}
    assert not set(train.class_names) & set(val.class_names)
    assert len(train) == 12 and len(val) == 6 and len(test) == 12
    assert train.labels.max() == 3 and test.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert "train" in proto.describe() and "12 image items" in proto.describe()
    assert load_protocol(tree / "proto.yaml").classes("val") == val.class_names  # the seed fixes the carve


def test_overlapping_test_classes_are_refused(tree: Path) -> None:
    text = (tree / "proto.yaml").read_text().replace("last: 4", "last: 5")
    (tree / "bad.yaml").write_text(text)
    with pytest.raises(DataError, match=r"test classes also train: \['c5'\]"):
        load_protocol(tree / "bad.yaml").dataset("test")


def test_data_root_env_overrides(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKALIKE_DATA_ROOT", str(tree / "nowhere"))
    with pytest.raises(DataError, match="LOOKALIKE_DATA_ROOT"):
        load_protocol(tree / "proto.yaml").dataset("train")
    monkeypatch.setenv("LOOKALIKE_DATA_ROOT", str(tree / "data"))
    assert len(load_protocol(tree / "proto.yaml").dataset("test")) == 12


def test_typos_in_protocol_yaml_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("name: x\nsource: {kind: digits}\ntrain: {clases: {first: 3}}\ntest: {}\n")
    with pytest.raises(ConfigError, match=r"train\.clases: unknown key \(did you mean 'classes'\?\)"):
        load_protocol(tmp_path / "p.yaml")
    (tmp_path / "q.yaml").write_text(
        "name: x\nsource: {kind: digits}\ntrain: {classes: {first: 3, last: 2}}\ntest: {}\n"
    )
    with pytest.raises(ConfigError, match="exactly one of"):
        load_protocol(tmp_path / "q.yaml")


def test_manifest_protocol_with_split_column_and_query_gallery(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(jpeg_bytes())
    rows = ["path,label,split,is_query,is_gallery"]
    rows += [f"x.jpg,a{c},train,0,0" for c in range(4) for _ in range(2)]
    rows += [f"x.jpg,b{c},test,{k % 2},{1 - k % 2}" for c in range(3) for k in range(4)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "p.yaml").write_text(
        "name: m\nsource: {kind: manifest, path: m.csv}\n"
        "train: {where: {split: train}}\nval: {names: [a3]}\ntest: {where: {split: test}}\n"
    )
    proto = load_protocol(tmp_path / "p.yaml")
    assert proto.classes("train") == ["a0", "a1", "a2"] and proto.classes("test") == ["b0", "b1", "b2"]
    gallery, queries = query_gallery_split(proto.dataset("test"))
    assert len(gallery) == 6 and len(queries) == 6
    assert load_data(tmp_path / "m.csv", split="test").class_names == ["b0", "b1", "b2"]
    assert len(load_data(tmp_path / "p.yaml", split="val")) == 2
    with pytest.raises(DataError, match="no rows with split='val'"):
        load_data(tmp_path / "m.csv", split="val")


def test_digits_protocol_needs_no_data() -> None:
    proto = load_protocol(REPO / "src" / "lookalike" / "protocols" / "digits.yaml")
    assert proto.dataset("test").class_names == ["7", "8", "9"]
    assert proto.classes("train") == ["0", "1", "2", "3", "4"] and proto.classes("val") == ["5", "6"]


def test_kshot_split_per_class_and_unknowns_to_queries() -> None:
    labels = np.array([0] * 5 + [1] * 4 + [UNKNOWN_LABEL] * 2)
    ds = from_vectors(np.arange(len(labels) * 2, dtype=np.float32).reshape(-1, 2), labels, ["a", "b"])
    gallery, queries = kshot_split(ds, shots=3, seed=0)
    assert np.bincount(gallery.labels).tolist() == [3, 3]
    assert sorted(queries.labels.tolist()) == [-1, -1, 0, 0, 1]
    assert len(gallery) + len(queries) == len(ds)
    assert kshot_split(ds, shots=3, seed=0).gallery.items.tolist() == gallery.items.tolist()
    with pytest.raises(DataError, match="fewer than 5 items"):
        kshot_split(ds, shots=5)


def test_load_spec_refuses_unknown_things(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError, match="expected a class folder"):
        load_data(tmp_path / "f.txt")


# -- the real held-out protocols --------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "sizes", "n_classes"),
    [
        ("fl27", {"test": 550}, {"train": 14, "val": 3, "test": 10}),
        ("orl", {"train": 240, "val": 60, "test": 100}, {"train": 24, "val": 6, "test": 10}),
        ("omniglot", {"train": 2180, "val": 540, "test": 2120}, {"train": 109, "val": 27, "test": 106}),
        ("clinc150", {"train": 8000, "val": 2000, "test": 1500, "unknown": 1000}, {"train": 80, "val": 20, "test": 50}),
    ],
)
def test_real_protocol_split_sizes(
    name: str, sizes: dict[str, int], n_classes: dict[str, int], shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOKALIKE_DATA_ROOT", str(shared_data))
    proto = load_protocol(REPO / "src" / "lookalike" / "protocols" / f"{name}.yaml")
    for split, n in sizes.items():
        assert len(proto.dataset(split)) == n, split
    for split, k in n_classes.items():
        assert len(proto.classes(split)) == k, split
    assert len(proto.classes("train")) + len(proto.classes("val")) == {"fl27": 17, "orl": 30}.get(
        name, len(proto.classes("train")) + len(proto.classes("val"))
    )


@pytest.mark.realdata
def test_real_protocols_hold_out_the_documented_classes(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.data.omniglot import omniglot_alphabets, omniglot_runs

    monkeypatch.setenv("LOOKALIKE_DATA_ROOT", str(shared_data))
    protos = {
        n: load_protocol(REPO / "src" / "lookalike" / "protocols" / f"{n}.yaml") for n in ("fl27", "orl", "omniglot")
    }
    assert (
        protos["fl27"].classes("test")
        == sorted(p.name for p in (shared_data / "flickr_logos_27/crops").iterdir())[-10:]
    )
    assert protos["fl27"].classes("test")[0] == "Pepsi" and protos["fl27"].classes("test")[-1] == "Yahoo"
    assert protos["orl"].classes("test") == [f"s{i}" for i in range(31, 41)]
    assert sorted(protos["orl"].classes("train") + protos["orl"].classes("val"), key=lambda s: int(s[1:])) == [
        f"s{i}" for i in range(1, 31)
    ]
    small1 = omniglot_alphabets(shared_data / "omniglot_small/images_background_small1.zip")
    small2 = omniglot_alphabets(shared_data / "omniglot_small/images_background_small2.zip")
    held_out = sorted({c.split("/")[0] for c in protos["omniglot"].classes("test")})
    assert held_out == sorted(set(small2) - set(small1))
    runs = omniglot_runs(protos["omniglot"].resolve(protos["omniglot"].one_shot_runs or ""))
    assert len(runs) == 20 and all(len(r.gallery) == 20 and len(r.queries) == 20 for r in runs)
    assert runs[0].queries.load(0).size == (105, 105)


def test_one_kshot_splitter_serves_enrollment_and_the_open_set_split() -> None:
    import numpy as np

    from lookalike.data.splits import kshot_indices
    from lookalike.evaluation.evaluate import open_set_split

    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, -1])
    g = kshot_indices(labels, 2, np.random.default_rng(0))
    assert np.bincount(labels[g]).tolist() == [2, 2, 2] and -1 not in labels[g]
    with pytest.raises(DataError, match=r"1 classes have fewer than 3 items.*1 \(2\)"):
        kshot_indices(labels, 3, np.random.default_rng(0))
    whole = kshot_indices(labels, 3, np.random.default_rng(0), small="whole")
    assert np.bincount(labels[whole]).tolist() == [3, 2, 3]  # the small class enrolled whole
    og, probes, _ = open_set_split(labels, 2, seed=0)  # unknown items present: every class is enrolled
    np.testing.assert_array_equal(og, kshot_indices(labels, 2, np.random.default_rng(0), small="whole"))
    assert not set(og) & set(probes)
