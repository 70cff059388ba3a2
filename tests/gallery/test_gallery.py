"""Gallery behaviour on toy embeddings: enroll, identify with unknown, scoring, verify, model checks, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _gallery_helpers import clustered
from PIL import Image

from lookalike.errors import DataError, EmbeddingSizeError, GalleryError, ModelMismatchError, NotFoundError
from lookalike.gallery import Gallery, Identification, Match
from lookalike.models import EmbeddingModel


def test_identify_known_and_unknown_at_threshold(location: str, store_options: dict, model8: EmbeddingModel) -> None:
    x, y = clustered(4, 5, seed=1)
    with Gallery.create(location, model8, threshold=0.9, **store_options) as g:
        for c in range(3):  # identity 3 is never enrolled
            g.enroll(f"p{c}", x[y == c][:3])
        res = g.identify(np.concatenate([x[y == 0][3:4], x[y == 3][:1]]), k=2)
        assert isinstance(res[0], Identification)
        assert res[0].decision == "known" and res[0].identity == "p0" and len(res[0].matches) == 2
        assert res[0].matches[0].score > res[0].matches[1].score
        assert res[1].decision == "unknown" and res[1].identity is None and res[1].threshold == 0.9
        assert res[1].matches[0].score < 0.9


def test_exact_scores_match_hand_computation(tmp_path: Path) -> None:
    model = EmbeddingModel.for_vectors(2, "dot")
    g = Gallery.create(tmp_path / "g", model)
    g.enroll("a", np.array([[1.0, 0.0], [0.0, 1.0]]))
    g.enroll("b", np.array([[0.5, 0.25]]))
    q = np.array([[2.0, 1.0]])
    assert g.identify(q, k=2)[0].matches == [Match("a", 2.0), Match("b", 1.25)]  # max: best item of each
    g.store.set_meta({"scoring": "mean"})
    assert g.identify(q, k=2)[0].matches == [Match("a", 1.5), Match("b", 1.25)]  # mean of 2.0 and 1.0
    g.store.set_meta({"scoring": "centroid"})
    assert g.identify(q, k=2)[0].matches == [Match("a", 1.5), Match("b", 1.25)]  # q . (0.5, 0.5)
    g.close()


@pytest.mark.parametrize("scoring", ["max", "mean", "centroid"])
def test_every_scoring_finds_the_right_identity(tmp_path: Path, model8: EmbeddingModel, scoring: str) -> None:
    x, y = clustered(6, 6, seed=2)
    with Gallery.create(tmp_path / "g", model8, scoring=scoring) as g:
        for c in range(6):
            g.enroll(f"p{c}", x[y == c][:4])
        res = g.identify(x[y >= 0][4::6], k=3)
        assert [r.matches[0].identity for r in res] == [f"p{c}" for c in range(6)]
        assert {r.decision for r in res} == {"uncalibrated"}  # no threshold: nearest identities, no verdict
        assert g.info().scoring == scoring


def test_empty_gallery_answers_unknown_with_no_matches(location: str, store_options: dict, model8) -> None:
    x, _ = clustered(1, 2)
    with Gallery.create(location, model8, **store_options) as g:
        assert g.identify(x, k=3) == [Identification([], "unknown", None)] * 2


def test_remove_and_remove_item(location: str, store_options: dict, model8: EmbeddingModel) -> None:
    x, y = clustered(2, 3)
    with Gallery.create(location, model8, **store_options) as g:
        ids = g.enroll("a", x[y == 0], {"who": "a"})
        g.enroll("b", x[y == 1])
        g.remove_item(ids[0])
        assert g.identities() == {"a": 2, "b": 3}
        assert all(r.metadata == {"who": "a"} for r in g.items("a"))
        assert g.remove("b") and g.identities() == {"a": 2}
        with pytest.raises(NotFoundError):
            g.remove("b")
        with pytest.raises(NotFoundError):
            g.remove_item(ids[0])
        assert g.identify(x[y == 1][:1])[0].matches[0].identity == "a"


def test_open_with_another_model_says_which_model_built_it(location: str, store_options: dict, model8) -> None:
    Gallery.create(location, model8, model_source="identity:8", **store_options).close()
    other = EmbeddingModel.for_vectors(8, "euclidean")
    with pytest.raises(ModelMismatchError, match=r"built with model encoder 'identity', fingerprint .*identity:8"):
        Gallery.open(location, other, **store_options)
    with Gallery.open(location, EmbeddingModel.for_vectors(8, "cosine"), **store_options) as g:
        assert g.info().model["fingerprint"] == model8.fingerprint


def test_wrong_embedding_size_names_both_sizes_and_model(tmp_path: Path, model8: EmbeddingModel) -> None:
    with Gallery.create(tmp_path / "g", model8) as g:
        with pytest.raises(EmbeddingSizeError, match=r"8 columns.*identity.*\(1, 5\)"):
            g.enroll_vectors("a", np.ones(5, np.float32))
        with pytest.raises(EmbeddingSizeError):
            g.enroll("a", np.ones((2, 5), np.float32))  # through the model: 5-wide inputs for an 8-wide model
        with pytest.raises(DataError, match="cosine space"):
            g.identify_vectors(np.full((1, 8), 3.0))  # not normalised: not what the model's embed() returns
        assert len(g) == 0


def test_corrupt_image_raises_data_error_and_keeps_what_was_stored(tmp_path: Path) -> None:
    from lookalike.models import load_model

    model = load_model("timm:tf_efficientnet_lite0", pretrained=False)
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with Gallery.create(tmp_path / "g", model) as g:
        [item] = g.enroll("alice", [good])
        with pytest.raises(DataError):
            g.enroll("alice", [good, bad])
        assert g.identities() == {"alice": 1} and g.items()[0].metadata == {"source": str(good)}
        assert g.identify([good], k=1)[0].matches[0].identity == "alice" and item == g.items()[0].id


def test_verify_uses_the_threshold(tmp_path: Path, model8: EmbeddingModel) -> None:
    x, _ = clustered(2, 2)
    with Gallery.create(tmp_path / "g", model8) as g:
        with pytest.raises(GalleryError, match="calibrate"):
            g.verify(x[0], x[1])
        g.set_threshold(0.8)
        same, diff = g.verify(x[0], x[1]), g.verify(x[0], x[2])
        assert same.same and not diff.same and same.threshold == 0.8
        assert same.score == pytest.approx(float(x[0] @ x[1]), abs=1e-5)


def test_opened_without_model_can_list_but_not_embed(tmp_path: Path, model8: EmbeddingModel) -> None:
    x, _ = clustered(1, 2)
    with Gallery.create(tmp_path / "g", model8) as g:
        g.enroll("a", x)
    with Gallery.open(tmp_path / "g") as g:
        assert g.identities() == {"a": 2} and g.info().size == 2
        with pytest.raises(GalleryError, match="without its model"):
            g.identify(x)
        assert g.identify_vectors(x)[0].matches[0].identity == "a"


def test_an_uncalibrated_gallery_gives_no_verdict(tmp_path: Path, model8: EmbeddingModel) -> None:
    """Regression: without a threshold the nearest identity was "known", so a logo against three faces came out
    as a confident match. Until calibrated the decision is "uncalibrated" and nobody is named."""
    x, y = clustered(4, 3, seed=5)
    with Gallery.create(tmp_path / "g", model8) as g:
        for c in range(3):
            g.enroll_vectors(f"face{c}", x[y == c])
        logo = x[y == 3][:1]  # nobody enrolled
        [r] = g.identify_vectors(logo, k=2)
        assert r.decision == "uncalibrated" and r.identity is None and r.threshold is None
        assert len(r.matches) == 2 and r.to_dict()["decision"] == "uncalibrated"
        g.set_threshold(0.99)
        assert g.identify_vectors(logo, k=1)[0].decision == "unknown"
        assert g.identify_vectors(x[:1], k=1)[0].decision == "known"
        g.set_threshold(None)
        assert g.identify_vectors(x[:1], k=1)[0].decision == "uncalibrated"


def test_names_are_trimmed_and_checked_the_same_way_everywhere(tmp_path: Path, model8: EmbeddingModel) -> None:
    x, _ = clustered(1, 2)
    with Gallery.create(tmp_path / "g", model8) as g:
        g.enroll_vectors("  Zoë / AC-DC ", x[:1])
        assert g.identities() == {"Zoë / AC-DC": 1}
        assert [r.identity for r in g.items(" Zoë / AC-DC")] == ["Zoë / AC-DC"]
        with pytest.raises(DataError, match="control"):
            g.enroll_vectors("forged\tline\n1", x[1:])
        assert g.remove("Zoë / AC-DC  ") and g.identities() == {}


def test_a_k_larger_than_any_search_still_finds_the_match(tmp_path: Path) -> None:
    """k above a quarter of the fetch cap used to skip the search altogether: no match, so "unknown"."""
    from lookalike.gallery.stores.base import MAX_FETCH, widening_identity_search

    g = Gallery.create(tmp_path / "g", EmbeddingModel.for_vectors(4), threshold=0.5)
    g.enroll_vectors("a", np.eye(4, dtype=np.float32)[:2])
    g.enroll_vectors("b", np.eye(4, dtype=np.float32)[2:3])
    for k in (1, 3, 10**6, 10**9):
        r = g.identify_vectors(np.eye(4, dtype=np.float32)[:1], k=k)[0]
        assert r.decision == "known" and r.identity == "a", (k, r)
        assert [m.identity for m in r.matches] == ["a", "b"][: min(k, 2)]
    asked: list[int] = []

    def fetch(rows: list[int], m: int) -> list[tuple[list[Match], int]]:
        asked.append(m)
        return [([Match("a", 1.0)], m) for _ in rows]

    assert widening_identity_search(1, 10**9, fetch) == [[Match("a", 1.0)]] and asked == [MAX_FETCH]
    asked.clear()
    widening_identity_search(1, 40, fetch, total=500)  # widens 160 -> 500 (the store's size), then stops
    assert asked == [160, 500]
    assert widening_identity_search(2, 5, fetch, total=0) == [[], []]


def test_vectors_and_metadata_of_the_wrong_type_are_data_errors(tmp_path: Path) -> None:
    """They were a bare ValueError from numpy and from dict()."""
    g = Gallery.create(tmp_path / "g", EmbeddingModel.for_vectors(4), threshold=0.5)
    with pytest.raises(DataError, match=r"vectors must be numbers, one row of 4 per item"):
        g.enroll_vectors("a", np.array([["x", 1, 2, 3]], dtype=object))
    with pytest.raises(DataError, match=r"queries must be numbers"):
        g.identify_vectors([[1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])  # ragged
    with pytest.raises(DataError, match=r"item metadata must be dicts .*got a str"):
        g.enroll_vectors("a", np.eye(4, dtype=np.float32)[:1], ["source: cam 1"])  # type: ignore[list-item]
    assert g.identities() == {}


def test_a_model_with_query_expansion_ranks_by_the_expanded_query_and_reports_plain_scores(tmp_path: Path) -> None:
    def unit(deg: list[float]) -> np.ndarray:
        a = np.deg2rad(np.asarray(deg))
        return np.stack([np.cos(a), np.sin(a)], 1).astype(np.float32)

    plain_model = EmbeddingModel.for_vectors(2)
    expanding = EmbeddingModel.from_network(plain_model.network, query_expansion=3)
    probe = unit([46])
    results = {}
    for name, model in (("plain", plain_model), ("expanding", expanding)):
        with Gallery.create(tmp_path / name, model, threshold=0.5) as g:
            g.enroll("a", unit([0, 5, 10, 20, 30, 31]))
            g.enroll("b", unit([60, 90, 100, 110, 120, 130]))
            results[name] = g.identify_vectors(probe, k=2)[0]
            assert g.info().model["query_expansion"] == model.query_expansion  # recorded at creation
        with Gallery.open(tmp_path / name) as reopened:  # no model attached: the record still says how to search
            assert reopened.identify_vectors(probe, k=2)[0] == results[name]
    assert results["plain"].identity == "b"  # the nearest item (60 degrees) is b's
    # 46 degrees averaged with its 3 nearest items (60, 31, 30) lies nearer a's arc; scores stay the plain ones
    assert results["expanding"].identity == "a" and results["expanding"].decision == "known"
    assert [m.identity for m in results["expanding"].matches] == ["a", "b"]
    assert results["expanding"].matches[0].score == pytest.approx(np.cos(np.deg2rad(15)), abs=1e-6)
    assert results["expanding"].matches[1].score == pytest.approx(np.cos(np.deg2rad(14)), abs=1e-6)


def test_database_augmentation_ranks_against_mixed_items_refreshed_after_each_enrollment(tmp_path: Path) -> None:
    def unit(deg: list[float]) -> np.ndarray:
        a = np.deg2rad(np.asarray(deg))
        return np.stack([np.cos(a), np.sin(a)], 1).astype(np.float32)

    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(2).network, database_augmentation=3)
    probe = unit([59])
    with Gallery.create(tmp_path / "g", model, threshold=0.5) as g:
        assert g.info().model["database_augmentation"] == 3  # recorded at creation
        g.enroll("a", unit([0, 5, 10, 15, 20, 50]))
        g.enroll("b", unit([64, 66, 67, 68, 69, 70]))
        # the nearest item (64 degrees) is b's; mixed with its 3 nearest others, a's 50-degree item lies near 58
        first = g.identify_vectors(probe, k=2)[0]
        assert [m.identity for m in first.matches] == ["a", "b"]
        assert first.matches[0].score == pytest.approx(np.cos(np.deg2rad(9)), abs=1e-6)  # the plain scores
        assert first.matches[1].score == pytest.approx(np.cos(np.deg2rad(5)), abs=1e-6)
        g.enroll("b", unit([52]))  # now a's 50 mixes with b's 52 and b's 52 lies nearest the probe: re-mixed
        assert g.identify_vectors(probe, k=2)[0].identity == "b"
    with Gallery.open(tmp_path / "g") as reopened:  # no model attached: the record still says how to search
        assert reopened.identify_vectors(probe, k=2)[0].identity == "b"


def test_diffusion_ranks_identities_by_their_best_diffused_item_and_keeps_plain_scores(tmp_path: Path) -> None:
    from lookalike.evaluation.openset import open_set_metrics
    from lookalike.models.diffusion import DiffusionGraph

    # two identities on two parallel circles 12 degrees apart (items 1.8 degrees apart along each); probes between
    # the circles, nearer b's: what decides is each identity's best diffusion score over the items' graph
    n = 200
    t = np.deg2rad(np.arange(n) * 360.0 / n)
    g = np.deg2rad(12.0)
    a = np.stack([np.cos(t), np.sin(t), np.zeros(n)], 1).astype(np.float32)
    b = np.stack([np.cos(t) * np.cos(g), np.sin(t) * np.cos(g), np.full(n, np.sin(g))], 1).astype(np.float32)
    ps, el = np.deg2rad(np.arange(0, 360, 15) + 0.9), np.deg2rad(np.linspace(4, 8, 24))
    probes = np.stack([np.cos(ps) * np.cos(el), np.sin(ps) * np.cos(el), np.sin(el)], 1).astype(np.float32)
    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(3).network, diffusion=10)
    with Gallery.create(tmp_path / "g", model, threshold=0.5) as gal:
        assert gal.info().model["diffusion"] == 10  # recorded at creation
        gal.enroll("a", a)
        gal.enroll("b", b)
        assert gal.warm() == 2 * n
        got = gal.identify_vectors(probes, k=2)
    with Gallery.create(tmp_path / "plain", EmbeddingModel.for_vectors(3), threshold=0.5) as ref:
        ref.enroll("a", a)
        ref.enroll("b", b)
        want_plain = ref.identify_vectors(probes, k=2)
    x = np.concatenate([a, b]).astype(np.float64)
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    nb = np.argsort(-s, axis=1)[:, :10]
    net = DiffusionGraph(nb, np.take_along_axis(s, nb, 1), 10)
    want = []
    for probe in probes.astype(np.float64):
        sp = x @ probe
        seeds = np.argsort(-sp)[:10]
        f = net.diffuse(seeds, sp[seeds])
        want.append("a" if f[:n].max() > f[n:].max() else "b")
    assert [r.identity for r in got] == want
    assert want.count("a") and want.count("b")  # both answers occur: the test can tell a wrong ranking
    for r, r_plain in zip(got, want_plain, strict=True):  # the matches keep their plain scores
        assert {m.identity: m.score for m in r.matches} == pytest.approx(
            {m.identity: m.score for m in r_plain.matches}, abs=1e-6
        )
    labels = np.repeat([0, 1], n)
    mirrored = open_set_metrics(x, labels, probes, np.zeros(len(ps), np.int64), diffusion=10)
    assert mirrored.rank1_accuracy == pytest.approx(want.count("a") / len(want))


def test_expansion_ignores_items_another_process_enrolled_after_the_table_was_read(tmp_path: Path) -> None:
    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(2).network, query_expansion=2)
    x = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0], [0.28, 0.96]], np.float32)
    with Gallery.create(tmp_path / "g", model) as g:
        g.enroll("a", x[:2])
        g.enroll("b", x[2:])
        g._table()  # read (and cached) before the other writer's enroll
        with Gallery.open(tmp_path / "g") as other:  # another handle: its own connection, like another process
            other.enroll_vectors("c", np.array([[0.8, 0.6], [0.6, 0.8]], np.float32))
        real_generation = g.store.generation
        g.store.generation = lambda: g._cache[0]  # type: ignore[method-assign,index]  # still the stale table
        try:
            result = g.identify_vectors(np.array([[0.7, 0.71414]], np.float32), k=3)[0]
        finally:
            g.store.generation = real_generation  # type: ignore[method-assign]
        assert {m.identity for m in result.matches} == {"a", "b"}  # the stale table's identities, no KeyError
