"""Contract: every registered loss × distance × (a miner) gives a finite loss and gradients, or is refused."""

from __future__ import annotations

import pytest
import torch

from lookalike.errors import ConfigError, UnknownNameError
from lookalike.models.distances import DISTANCES, get_distance
from lookalike.models.encoders import build_encoder
from lookalike.models.heads import Head
from lookalike.models.network import EmbeddingNet
from lookalike.training.losses import LOSSES, MINERS, build_loss, build_miner

DIST_NAMES = [n for n in DISTANCES.names()]
LOSS_NAMES = LOSSES.names()
PAIRS = [(loss, dist) for loss in LOSS_NAMES for dist in DIST_NAMES]


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 10, generator=g)
    y = torch.arange(6).repeat_interleave(4)
    return x, y


def _net(dist: str) -> EmbeddingNet:
    enc = build_encoder("mlp", input_dim=10, hidden=[16])
    return EmbeddingNet(encoder=enc, head=Head(in_dim=16, type="linear", out_dim=8), distance=get_distance(dist))


@pytest.mark.parametrize(("loss_name", "dist_name"), PAIRS)
def test_loss_contract(loss_name: str, dist_name: str) -> None:
    spec = LOSSES.create(loss_name)
    distance = get_distance(dist_name)
    if dist_name not in spec.distances:
        with pytest.raises(ConfigError, match="does not fit"):
            build_loss(loss_name, distance=distance, num_classes=6, embedding_size=8)
        return
    net = _net(dist_name)
    loss_fn = build_loss(loss_name, distance=distance, num_classes=6, embedding_size=8)
    assert (len(list(loss_fn.parameters())) > 0) == spec.has_parameters
    x, y = _batch()
    loss = loss_fn(net(x), y)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    for p in loss_fn.parameters():  # proxies / class weights learn too
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("miner_name", MINERS.names())
@pytest.mark.parametrize("dist_name", DIST_NAMES)
def test_miner_feeds_triplet_loss(miner_name: str, dist_name: str) -> None:
    distance = get_distance(dist_name)
    net = _net(dist_name)
    miner = build_miner(miner_name, distance=distance)
    loss_fn = build_loss("triplet_margin", distance=distance, num_classes=6, embedding_size=8)
    x, y = _batch()
    emb = net(x)
    tuples = miner(emb, y) if miner is not None else None
    if tuples is not None:
        # Whatever form the miner returns (pairs or triplets), mined positives share the anchor's label
        # and mined negatives do not: otherwise the loss would learn the wrong thing.
        if len(tuples) == 3:
            a, p, n = tuples
            assert len(a) > 0, "the miner found no triplet in a batch of 6 classes x 4"
            assert bool((y[a] == y[p]).all()) and bool((y[a] != y[n]).all()) and bool((a != p).all())
        else:
            a1, p, a2, n = tuples
            assert len(a1) + len(a2) > 0, "the miner found no pair in a batch of 6 classes x 4"
            assert bool((y[a1] == y[p]).all()) and bool((y[a2] != y[n]).all())
    loss = loss_fn(emb, y, tuples)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_every_issue_loss_and_miner_is_registered() -> None:
    assert set(LOSS_NAMES) == {
        "triplet_margin",
        "contrastive",
        "multi_similarity",
        "arcface",
        "cosface",
        "subcenter_arcface",
        "proxy_anchor",
        "normalized_softmax",
        "supcon",
        "ntxent",
    }
    assert set(MINERS.names()) == {"batch_hard", "semi_hard", "multi_similarity", "none"}


def test_unknown_loss_and_bad_params_are_clear() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean"):
        build_loss("triplet", distance=get_distance("cosine"), num_classes=2, embedding_size=2)
    with pytest.raises(ConfigError, match="bad parameters"):
        build_loss("triplet_margin", distance=get_distance("cosine"), num_classes=2, embedding_size=2, margn=0.1)
