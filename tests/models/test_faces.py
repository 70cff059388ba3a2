"""face:dlib and the detect policies on real ORL faces: cropped, composed two-face and blank images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _extras import require_extra
from lookalike.errors import ConfigError, NoFaceError, UnknownNameError
from lookalike.models import load_model, save_model
from lookalike.models.faces import FaceOptions, face_detection_rate, find_faces, looks_like_faces

require_extra("dlib", "faces")

pytestmark = pytest.mark.realdata


def orl(shared: Path, person: int, k: int) -> str:
    return str(shared / "orl_faces" / f"s{person}" / f"{k}.pgm")


def two_faces(shared: Path) -> object:
    """s1/1 on the left, s2/1 on the right, on a 500x200 grey canvas."""
    from PIL import Image

    canvas = Image.new("RGB", (500, 200), (128, 128, 128))
    canvas.paste(Image.open(orl(shared, 1, 1)).convert("RGB"), (20, 40))
    canvas.paste(Image.open(orl(shared, 2, 1)).convert("RGB"), (300, 40))
    return canvas


@pytest.fixture(scope="module")
def dlib_model():  # type: ignore[no-untyped-def]
    return load_model("face:dlib")


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_detect_policies_on_a_tight_crop(shared_data: Path) -> None:
    path = orl(shared_data, 1, 1)  # 92x112
    always = find_faces(path, FaceOptions(detect="always"))
    never = find_faces(path, FaceOptions(detect="never"))
    assert len(always) == 1 and always[0].detected and always[0].box != (0, 0, 92, 112)
    assert len(never) == 1 and not never[0].detected and never[0].box == (0, 0, 92, 112)
    assert always[0].chip.shape == never[0].chip.shape == (150, 150, 3)


def test_cnn_detector_finds_the_face(shared_data: Path) -> None:
    faces = find_faces(orl(shared_data, 1, 1), FaceOptions(detector="cnn", detect="always"))
    assert len(faces) == 1 and faces[0].detected


def test_blank_images_under_each_policy() -> None:
    big = np.full((480, 640, 3), 200, np.uint8)
    small = np.full((112, 92, 3), 200, np.uint8)
    with pytest.raises(NoFaceError, match=r"no face found in blank.*detect=auto or detect=never"):
        find_faces(big, FaceOptions(detect="always"), name="blank")
    with pytest.raises(NoFaceError, match="crop_max_side"):
        find_faces(big, FaceOptions(detect="auto"))
    assert not find_faces(small, FaceOptions(detect="auto"))[0].detected  # a small image counts as a crop
    assert find_faces(big, FaceOptions(detect="never"))[0].box == (0, 0, 640, 480)


def test_two_faces_give_two_boxes_and_matching_vectors(shared_data: Path, dlib_model) -> None:  # type: ignore[no-untyped-def]
    faces = dlib_model.embed_faces(two_faces(shared_data))
    assert len(faces) == 2 and all(f.detected for f in faces)
    left, right = sorted(faces, key=lambda f: f.box[0])
    assert left.box[2] <= 120 and right.box[0] >= 300  # each box lies on its face
    alone = dlib_model.embed([orl(shared_data, 1, 1), orl(shared_data, 2, 1)])
    assert cos(left.vector, alone[0]) > 0.99 and cos(right.vector, alone[1]) > 0.99
    assert cos(left.vector, alone[1]) < 0.95


def test_embed_names_the_file_without_a_face(tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (640, 480), (10, 10, 10)).save(blank)
    model = load_model("face:dlib", detect="always")
    with pytest.raises(NoFaceError, match=r"no face found in .*blank\.png"):
        model.embed([str(blank)])


def test_same_person_closer_than_another(shared_data: Path, dlib_model) -> None:  # type: ignore[no-untyped-def]
    e = dlib_model.embed([orl(shared_data, 1, 1), orl(shared_data, 1, 2), orl(shared_data, 2, 1)])
    assert e.shape == (3, 128)
    assert cos(e[0], e[1]) > cos(e[0], e[2])


def test_model_folder_reloads_with_its_face_options(tmp_path: Path, shared_data: Path) -> None:
    model = load_model("face:dlib", detect="never", upsample=0)
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.card.encoder == "face:dlib" and again.is_face_model
    assert again.card.preprocessing["face"]["detect"] == "never"
    items = [orl(shared_data, 3, 1)]
    np.testing.assert_allclose(again.embed(items), model.embed(items), atol=1e-6)


def test_bad_options_and_names_are_clear() -> None:
    with pytest.raises(
        ConfigError, match=r"encoder 'face:dlib':\n  face\.upsample: Input should be less than or equal to 4"
    ):
        load_model("face:dlib", upsample=9)
    with pytest.raises(ConfigError, match="unknown face model 'arcface'"):
        load_model("face:arcface")
    from lookalike.models import build_encoder

    with pytest.raises(UnknownNameError, match="Did you mean 'face'"):
        build_encoder("fase:dlib")


def test_face_detection_rate_tells_faces_from_blanks(shared_data: Path) -> None:
    faces = [orl(shared_data, p, 1) for p in range(1, 6)]
    blanks = [np.full((112, 92, 3), v, np.uint8) for v in (0, 90, 200)]
    assert face_detection_rate(faces) == 1.0
    assert face_detection_rate(blanks) == 0.0


def test_looks_like_faces_on_a_folder_sample(shared_data: Path) -> None:
    faces = sorted(str(p) for p in (shared_data / "orl_faces").glob("s1*/*.pgm"))
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (112, 92, 3), dtype=np.uint8) for _ in range(6)]
    yes = looks_like_faces(faces, sample=6)
    assert yes.faces and yes.sampled == 6 and yes.rate >= 0.6
    assert not looks_like_faces(noise, sample=6).faces


@pytest.mark.parametrize(
    "head, epochs",
    [({"type": "linear", "init": "whiten", "whiten_shrink": 0.9}, 0), ({"type": "linear", "init": "identity"}, 2)],
    ids=["whitened", "trained"],
)
def test_heads_train_on_cached_face_features(tmp_path: Path, shared_data: Path, make_tiny_config, head, epochs) -> None:  # type: ignore[no-untyped-def]
    """face:dlib under the closed-form whitened head and under a gradient-trained head (frozen, cached features)."""
    import shutil

    from lookalike.training import load_train_config, train

    people = tmp_path / "people"
    for p in range(1, 9):  # s1-s4 fit, s5-s6 validation (carved from the training people), s7-s8 test
        (people / f"s{p}").mkdir(parents=True)
        for k in range(1, 5):
            shutil.copy(shared_data / "orl_faces" / f"s{p}" / f"{k}.pgm", people / f"s{p}" / f"{k}.pgm")
    (tmp_path / "p.yaml").write_text(
        f"name: mini\nsource: {{kind: folder, path: {people}}}\nclass_order: natural\n"
        "train: {classes: {first: 6}}\nval: {names: [s5, s6]}\ntest: {classes: {last: 2}}\n"
    )
    cfg_path = make_tiny_config(
        tmp_path,
        **{
            "data.protocol": str(tmp_path / "p.yaml"),
            "data.batch_size": 8,
            "data.m_per_class": 4,
            "model.encoder": "face:dlib",
            "model.encoder_kwargs": {},
            "model.head": head,
            "trainer.max_epochs": epochs,
        },
    )
    result = train(load_train_config(cfg_path))
    assert result.best_val_map_at_r is not None and result.best_val_map_at_r > 0.9
    model = load_model(result.model_dir)
    assert model.card.encoder == "face:dlib" and model.is_face_model and model.embedding_size == 128
    e = model.embed([orl(shared_data, 7, 1), orl(shared_data, 7, 2), orl(shared_data, 8, 1)])
    assert cos(e[0], e[1]) > cos(e[0], e[2])


def test_eyes_to_template_puts_the_eye_centres_on_arcface_positions() -> None:
    from lookalike.models.faces.detect import ARCFACE_112_EYES, eyes_to_template

    corners = [(80.0, 40.0), (70.0, 42.0), (40.0, 45.0), (30.0, 44.0)]  # right eye first, as dlib gives them
    a, b = eyes_to_template(corners, 224)
    left, right = complex(35.0, 44.5), complex(75.0, 41.0)
    assert abs(a * left + b - complex(*ARCFACE_112_EYES[0]) * 2) < 1e-9
    assert abs(a * right + b - complex(*ARCFACE_112_EYES[1]) * 2) < 1e-9
    with pytest.raises(NoFaceError, match="coincide"):
        eyes_to_template([(5.0, 5.0)] * 4, 112)


def test_arcface_template_chip_has_the_eyes_where_arcface_expects_them(shared_data: Path) -> None:
    """Landmarks found again on the warped 112 px chips sit within 2 px of ArcFace's eye positions."""
    from lookalike.models.faces.detect import ARCFACE_112_EYES, _shape_predictor, detect_boxes

    for person, k in ((1, 1), (9, 4), (13, 1)):
        (face,) = find_faces(orl(shared_data, person, k), FaceOptions(template="arcface112", chip_size=112))
        assert face.chip.shape == (112, 112, 3) and face.chip.dtype == np.uint8
        (rect, *_) = detect_boxes(face.chip, FaceOptions(), lenient=True)
        shape = _shape_predictor()(face.chip, rect)
        pts = [complex(shape.part(i).x, shape.part(i).y) for i in range(4)]
        eyes = sorted([(pts[0] + pts[1]) / 2, (pts[2] + pts[3]) / 2], key=lambda z: z.real)
        assert max(abs(e - complex(*t)) for e, t in zip(eyes, ARCFACE_112_EYES, strict=True)) < 2.0


def test_face_dlib_is_not_exported_to_onnx(tmp_path: Path, dlib_model) -> None:  # type: ignore[no-untyped-def]
    """dlib's network is C++: traced, it gave a 3 KB graph with no input that returned one fixed embedding."""
    from lookalike.models.onnx import export_onnx

    with pytest.raises(ConfigError, match="face:dlib runs dlib's own C\\+\\+ network"):
        export_onnx(dlib_model, tmp_path / "face.onnx")
    assert not (tmp_path / "face.onnx").exists()
