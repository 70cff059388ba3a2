"""Average query expansion: the mean and its depth rule, and the card field that carries it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookalike.errors import ConfigError
from lookalike.models import EmbeddingModel
from lookalike.models.card import compute_fingerprint
from lookalike.models.distances import get_distance
from lookalike.models.expansion import check_expansion, expand_queries, expansion_depth


def test_expanded_query_is_half_itself_half_its_neighbours_mean_normalised() -> None:
    refs = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], np.float32)
    q = np.array([[1.0, 0.0], [0.0, -1.0]], np.float32)
    out = expand_queries(q, refs, np.array([[1, -1], [2, 1]]), get_distance("cosine"))
    # row 0: -1 is ignored, (1,0) and (0,1); row 1: (0,-1) and the mean of (-1,0) and (0,1), i.e. (-0.5,-0.25)*2
    want = np.array([[1.0, 1.0], [-1.0, -1.0]]) / np.sqrt(2)
    np.testing.assert_allclose(out, want, atol=1e-6)


def test_dot_expansion_is_the_plain_mix() -> None:
    refs = np.array([[2.0, 0.0], [0.0, 4.0]], np.float32)
    out = expand_queries(np.zeros((1, 2), np.float32), refs, np.array([[0, 1]]), get_distance("dot"))
    np.testing.assert_allclose(out, [[0.5, 1.0]], atol=1e-6)  # (0 + mean((2,0), (0,4))) / 2


def test_hyperbolic_expansion_stays_inside_the_ball() -> None:
    d = get_distance("hyperbolic")
    pts = d.embed(torch.randn(20, 4) * 5).numpy()
    out = expand_queries(pts[:5], pts, np.arange(15).reshape(5, 3) + 5, d)
    d.check_vectors(out)  # raises for a point outside the ball


@pytest.mark.parametrize(
    ("k", "counts", "want"), [(10, [5, 5, 5], 2), (10, [40, 45, 50], 10), (3, [1, 1], 0), (0, [50], 0), (4, [], 0)]
)
def test_depth_is_at_most_half_the_median_items_per_identity(k: int, counts: list[int], want: int) -> None:
    assert expansion_depth(k, np.array(counts, np.int64)) == want


@pytest.mark.parametrize("bad", [-1, 101, 2.5, True, "3"])
def test_bad_expansion_names_the_range(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"query_expansion must be an integer in \[0, 100\]"):
        check_expansion(bad)  # type: ignore[arg-type]


def test_card_carries_expansion_and_old_cards_keep_their_fingerprint() -> None:
    base = EmbeddingModel.for_vectors(4)
    expanded = EmbeddingModel.from_network(base.network, query_expansion=5)
    assert base.query_expansion == 0 and expanded.query_expansion == 5
    assert expanded.fingerprint != base.fingerprint  # a different search is a different model for galleries
    # a card written before the field existed has no key: its stored fingerprint must still verify
    old = base.card.model_copy()
    fields = old.model_dump()
    fields.pop("query_expansion")
    assert compute_fingerprint(type(old).model_validate(fields), base.network.state_dict()) == base.fingerprint


def test_expansion_survives_save_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lookalike.models.export import load_model, save_model

    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(4).network, query_expansion=7)
    loaded = load_model(save_model(model, tmp_path / "m"))  # the fingerprint is verified on load
    assert loaded.query_expansion == 7 and loaded.fingerprint == model.fingerprint


def test_card_carries_database_augmentation_and_old_cards_keep_their_fingerprint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lookalike.models.export import load_model, save_model

    base = EmbeddingModel.for_vectors(4)
    mixed = EmbeddingModel.from_network(base.network, query_expansion=2, database_augmentation=5)
    assert (mixed.query_expansion, mixed.database_augmentation) == (2, 5) and base.database_augmentation == 0
    assert mixed.fingerprint != EmbeddingModel.from_network(base.network, query_expansion=2).fingerprint
    old = base.card.model_dump()
    old.pop("database_augmentation")  # a card written before the field existed
    assert compute_fingerprint(type(base.card).model_validate(old), base.network.state_dict()) == base.fingerprint
    loaded = load_model(save_model(mixed, tmp_path / "m"))  # the fingerprint is verified on load
    assert loaded.database_augmentation == 5 and loaded.fingerprint == mixed.fingerprint
    with pytest.raises(ConfigError, match=r"database_augmentation must be an integer in \[0, 100\]"):
        EmbeddingModel.from_network(base.network, database_augmentation=101)
