"""Verification, open-set and few-shot metrics on hand-checkable inputs, plus the Omniglot one-shot runs."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import DataError
from lookalike.evaluation.fewshot import Episode, embed_episodes, few_shot_accuracy
from lookalike.evaluation.openset import open_set_from_candidates, open_set_metrics
from lookalike.evaluation.verification import pair_scores, threshold_at_rate, verification_metrics
from lookalike.models.pair_scoring import accepts


def test_verification_on_hand_made_scores() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.2])
    impostor = np.array([0.75, 0.5, 0.4, 0.3, 0.1, 0.05, 0.0, -0.1, -0.2, -0.3])
    m = verification_metrics(genuine, impostor, fars=(0.1, 0.01))
    # AUC = P(genuine > impostor): (10 + 10 + 9 + 6) / 40
    assert m.roc_auc == pytest.approx(35 / 40)
    # FAR 0.1 allows one of 10 impostors: threshold = 2nd highest impostor 0.5 → TAR = 3/4
    assert m.threshold_at_far[0.1] == pytest.approx(0.5)
    assert m.tar_at_far[0.1] == pytest.approx(0.75)
    assert m.tar_at_far[0.01] is None  # 10 impostor pairs cannot measure a FAR of 1%
    assert 0.1 <= m.eer <= 0.25
    assert m.num_genuine == 4 and m.num_impostor == 10


def test_perfect_separation_has_zero_eer_and_full_tar() -> None:
    rng = np.random.default_rng(0)
    m = verification_metrics(rng.uniform(0.6, 1, 500), rng.uniform(-1, 0.4, 20000))
    assert m.roc_auc == 1.0 and m.eer == pytest.approx(0.0, abs=1e-3)
    assert all(v == 1.0 for v in m.tar_at_far.values())


def test_threshold_at_rate_accepts_at_or_above_and_never_splits_ties() -> None:
    neg = np.array([3.0, 3.0, 2.0, 1.0])
    t = threshold_at_rate(neg, 0.25)
    assert t == np.nextafter(3.0, np.inf)  # the allowed one is tied with another: accept neither
    assert not accepts(neg, t).any()
    t = threshold_at_rate(neg, 0.5)
    assert t == np.nextafter(2.0, np.inf) and accepts(neg, t).sum() == 2
    assert threshold_at_rate(neg, 0.1) is None


def test_pair_scores_all_pairs_and_sampled() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.repeat(np.arange(6), 10)
    y[:3] = -1  # unknown items take part in no pair
    full = pair_scores(x, y)
    n_gen = 7 * 6 // 2 + 5 * 45
    assert len(full.genuine) == n_gen and len(full.impostor) == 57 * 56 // 2 - n_gen and not full.sampled
    np.testing.assert_allclose(
        np.sort(full.genuine)[-1],
        np.max([x[i] @ x[j] for i in range(3, 60) for j in range(i + 1, 60) if y[i] == y[j]]),
        rtol=1e-5,
    )
    sampled = pair_scores(x, y, max_pairs=200, seed=0)
    assert sampled.sampled and len(sampled.genuine) == 100 and len(sampled.impostor) == 100
    assert np.isin(np.round(sampled.genuine, 5), np.round(full.genuine, 5)).all()


def test_open_set_from_candidates_by_hand() -> None:
    scores = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.2, 0.1])
    correct = np.array([True, False, True, True, False, False, False, False])
    known = np.array([True, True, True, True, False, False, False, False])
    m = open_set_from_candidates(scores, correct, known, fpirs=(0.25, 0.5))
    assert m.rank1_accuracy == 0.75
    # FPIR 0.25: one of 4 unknowns may pass → threshold 0.5; identified known probes above it: 0.9, 0.6
    # (thresholds just above those scores: a score at or above the threshold is accepted)
    assert m.threshold_at_fpir[0.25] == np.nextafter(0.5, 1) and m.dir_at_fpir[0.25] == 0.5
    assert m.fnir_at_fpir[0.25] == 0.5
    assert m.threshold_at_fpir[0.5] == np.nextafter(0.2, 1) and m.dir_at_fpir[0.5] == 0.75


def test_open_set_metrics_with_a_gallery() -> None:
    gallery = np.eye(3, dtype=np.float32)
    probes = np.array([[1, 0.1, 0], [0, 1, 0.2], [0.1, 0, 1], [0.5, 0.5, 0.5]], dtype=np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    m = open_set_metrics(gallery, [0, 1, 2], probes, [0, 1, 7, -1], fpirs=(0.5,))
    assert m.num_known_probes == 2 and m.num_unknown_probes == 2  # class 7 is not enrolled: unknown
    assert m.rank1_accuracy == 1.0 and m.dir_at_fpir[0.5] == 1.0
    with pytest.raises(DataError, match="known labels"):
        open_set_metrics(gallery, [0, 1, -1], probes, [0, 1, 2, 2])


def test_few_shot_nearest_and_prototype() -> None:
    support = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    support /= np.linalg.norm(support, axis=1, keepdims=True)
    queries = np.array([[1, 0.2], [0.2, 1], [0.6, 0.4]], dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ep = Episode(support, np.array([0, 0, 1, 1]), queries, np.array([0, 1, 1]), name="toy")
    nearest = few_shot_accuracy([ep])
    assert nearest.accuracy == pytest.approx(2 / 3) and nearest.ways == 2 and nearest.shots == 2
    assert few_shot_accuracy([ep], rule="prototype").per_episode == {"toy": pytest.approx(2 / 3)}
    with pytest.raises(DataError, match="support"):
        few_shot_accuracy([Episode(support, np.array([0, 0, 1, 1]), queries, np.array([0, 5, 1]))])


@pytest.mark.realdata
def test_omniglot_official_one_shot_runs_from_the_zip(shared_data) -> None:
    """The 20 runs x 20-way one-shot protocol read from all_runs.zip, scored with a pixel model."""
    from PIL import Image

    from lookalike.data.omniglot import omniglot_runs

    runs = omniglot_runs(shared_data / "omniglot_small" / "all_runs.zip")
    assert len(runs) == 20

    def pixels(ds) -> np.ndarray:  # ink on a 28x28 grid, centred: a deterministic "model"
        rows = [
            1.0 - np.asarray(ds.load(i).convert("L").resize((28, 28), Image.Resampling.BOX), np.float32).ravel() / 255.0
            for i in range(len(ds))
        ]
        x = np.stack(rows)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    episodes = embed_episodes(runs, pixels)
    m = few_shot_accuracy(episodes)
    assert (m.ways, m.shots, m.num_episodes, m.num_queries) == (20, 1, 20, 400)
    assert 0.15 < m.accuracy < 0.5  # 0.2175 measured: well above chance (0.05), far from solved by pixels
    # sanity of the answer key: a query identical to its support image is always right
    same = [Episode(e.support, e.support_labels, e.support, e.support_labels, e.name) for e in episodes]
    assert few_shot_accuracy(same).accuracy == 1.0


def test_single_item_classes_are_named_as_the_reason_retrieval_has_nothing_to_find() -> None:
    from lookalike.evaluation.retrieval import metrics_from_neighbours

    labels = np.array([0, 1, 2, -1])
    nb = np.array([[1, 2, -1], [0, 2, -1], [0, 1, -1], [0, 1, 2]])
    with pytest.raises(DataError, match="every class has a single item"):
        metrics_from_neighbours(nb, labels, labels, exclude_self=True, ks=(1,))
    with pytest.raises(DataError, match="no query has a relevant reference"):  # separate sets: another cause
        metrics_from_neighbours(nb[:3], labels[:3], np.array([5, 6, 7]), exclude_self=False, ks=(1,))
