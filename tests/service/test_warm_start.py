"""The service does a gallery's slow first-identify work (mixing its items) before it takes requests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from service_helpers import READ

from lookalike.models.distances import get_distance


def test_the_service_mixes_before_it_takes_requests(tmp_path: Path, make_client) -> None:
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel

    dist = get_distance("cosine")
    x = dist.embed(torch.from_numpy(np.random.default_rng(4).normal(size=(40, 8)).astype(np.float32))).numpy()
    model = EmbeddingModel.from_network(EmbeddingModel.for_vectors(8).network, database_augmentation=3)
    with Gallery.create(tmp_path / "g", model, threshold=0.5) as g:
        for i in range(5):
            g.enroll_vectors(f"id{i}", x[i * 8 : i * 8 + 8])
    with Gallery.open(tmp_path / "g", model) as g:
        assert g._mixer.last_searched == 0
        client = make_client(g)  # started: its lifespan ran
        assert g._mixer.last_searched == 40
        r = client.post("/v1/identify", json={"vectors": x[:2].tolist(), "k": 1}, headers=READ)
        assert r.status_code == 200 and [m["identity"] for m in r.json()["results"][0]["matches"]] == ["id0"]
        assert g._mixer.last_searched == 40  # the request found the items already mixed
