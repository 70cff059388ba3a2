"""The search's feature bank gives, per option, exactly what the exported encoder computes (flip, blur included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_fit import _digit_folders  # type: ignore[import-not-found]

from lookalike.data.sources import from_folder
from lookalike.fitting.features import FeatureBank
from lookalike.fitting.space import Family
from lookalike.models.encoders import build_encoder
from lookalike.models.preprocess import image_transform
from lookalike.training.datasets import ItemDataset


@pytest.mark.parametrize(("flip", "blur"), [(False, 0.0), (True, 0.0), (False, 2.0)])
def test_bank_features_equal_the_encoder_output(tmp_path: Path, flip: bool, blur: float) -> None:
    data = from_folder(_digit_folders(tmp_path / "d", per_class=2))
    fam = Family(name="lite0", encoder="timm:tf_efficientnet_lite0",
                 encoder_kwargs={"pretrained": False, "input_size": 32, "resize": "squash", "blur": blur},
                 options=[{"out_block": [3, 5], "global_pool": ["grid2", "avg"], "flip": flip},
                          {"out_block": 5, "global_pool": "avg"}])  # fmt: skip
    torch.manual_seed(0)
    bank = FeatureBank(data, cache_dir=tmp_path / "cache")
    got = bank.get(fam, 0)
    torch.manual_seed(0)  # the same random weights as the bank's encoder (pretrained: false)
    enc = build_encoder(fam.encoder, **fam.kwargs(0)).eval()
    items = ItemDataset(data, transform=image_transform(enc.preprocessing()), keep_decoded=False)
    with torch.no_grad():
        want = enc(torch.stack([items[i][0] for i in range(len(items))])).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    plain = bank.get(fam, 1)  # another option of the same pass: no flip there
    assert plain.shape == (len(data), enc.backbone.blocks[5][-1].conv_pwl.out_channels)


def test_flip_makes_the_features_mirror_invariant() -> None:
    enc = build_encoder("timm:tf_efficientnet_lite0", pretrained=False, input_size=32, flip=True).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), enc(x.flip(-1)), rtol=1e-4, atol=1e-5)
    again = build_encoder("timm:tf_efficientnet_lite0", pretrained=False, **enc.config())
    assert again.flip and enc.config()["flip"] is True
    assert "flip" not in build_encoder("timm:tf_efficientnet_lite0", pretrained=False).config()
