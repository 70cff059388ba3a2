"""Model folders: ``model.safetensors`` + ``lookalike.json``. Loading never unpickles.

``load_model`` also accepts an encoder spec for an untrained baseline (``"timm:tf_efficientnet_lite0"``,
``"hf:<folder>"``, ``"identity:<dim>"``): raw pooled features, no head, cosine distance by default.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from lookalike.errors import DataError, ModelMismatchError, NotFoundError
from lookalike.models.card import CARD_FILE, WEIGHTS_FILE, ModelCard, compute_fingerprint
from lookalike.models.distances import Distance, get_distance
from lookalike.models.embedder import EmbeddingModel
from lookalike.models.encoder_options import encoder_options
from lookalike.models.encoders import ENCODERS, HFTextEncoder, build_encoder
from lookalike.models.heads import Head
from lookalike.models.network import EmbeddingNet

log = logging.getLogger(__name__)
TEXT_ASSETS = "text_encoder"


def save_model(model: EmbeddingModel, folder: str | Path) -> Path:
    """Write ``model`` to ``folder`` (created; existing card/weights replaced). Returns the folder."""
    from safetensors.torch import save_file

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise DataError(
            f"{out} is a file; a model is written as a folder (model.safetensors + lookalike.json): give a new "
            "folder, or a name ending in .onnx with --onnx"
        )
    out.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().cpu().contiguous().float() if v.is_floating_point() else v.detach().cpu().contiguous()
        for k, v in model.network.state_dict().items()
    }
    card = model.card.model_copy()
    card.fingerprint = compute_fingerprint(card, state)
    save_file(state, str(out / WEIGHTS_FILE), metadata={"fingerprint": card.fingerprint})
    encoder = model.network.encoder
    if isinstance(encoder, HFTextEncoder):  # config + tokenizer, so the folder works without the source folder
        assets = out / TEXT_ASSETS
        encoder.tokenizer.save_pretrained(str(assets))
        encoder.model.config.save_pretrained(str(assets))
    (out / CARD_FILE).write_text(json.dumps(card.model_dump(), indent=2) + "\n", encoding="utf-8")
    model.card = card
    log.info("saved model %s to %s", card.fingerprint[:12], out)
    return out


def read_card(folder: str | Path) -> ModelCard:
    """The validated card of a model folder."""
    from lookalike.config import validate

    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise NotFoundError(
            f"{str(folder)!r} is not a model folder: {CARD_FILE} is missing (export one with save_model)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err}); the model folder is damaged") from None
    return validate(ModelCard, data, str(path))


def network_from_card(card: ModelCard, folder: Path | None = None) -> EmbeddingNet:
    """Rebuild the architecture a card describes, with untrained weights (no downloads)."""
    arch = card.architecture
    kwargs: dict[str, Any] = dict(arch.get("encoder_kwargs", {}))
    spec = card.encoder
    if spec.startswith("hf:") and folder is not None and (folder / TEXT_ASSETS).is_dir():
        spec = f"hf:{folder / TEXT_ASSETS}"
    if spec.startswith("hf:"):
        kwargs["config_only"] = True
    encoder = build_encoder(spec, **kwargs)
    head_cfg = dict(arch.get("head", {"type": "none"}))
    head = Head(in_dim=encoder.feature_dim, **head_cfg)
    net = EmbeddingNet(encoder=encoder, head=head, distance=get_distance(card.distance))
    if isinstance(encoder, HFTextEncoder):
        encoder.spec = card.encoder  # keep the original spec in re-exports
    return net


def _load_folder(folder: Path, *, verify: bool = True) -> EmbeddingModel:
    from safetensors.torch import load_file

    card = read_card(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise NotFoundError(f"{str(folder)!r}: {WEIGHTS_FILE} is missing; the model folder is incomplete")
    try:
        state = load_file(str(weights))
    except Exception as e:  # safetensors raises its own SafetensorError (not exported), or OSError
        raise ModelMismatchError(
            f"{folder}: {WEIGHTS_FILE} is not readable ({e}); the model folder is damaged: export or copy it again"
        ) from None
    net = network_from_card(card, folder)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelMismatchError(
            f"{folder}: weights do not fit the architecture in {CARD_FILE} (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}); the folder was edited or mixed from two models"
        )
    if verify and card.fingerprint and compute_fingerprint(card, state) != card.fingerprint:
        raise ModelMismatchError(
            f"{folder}: fingerprint does not match the weights and card; the files were changed after export"
        )
    return EmbeddingModel(network=net, card=card)


def load_model(
    path_or_spec: str | Path, *, distance: str | dict[str, Any] | Distance = "cosine", **encoder_kwargs: Any
) -> EmbeddingModel:
    """An exported model folder, or an untrained baseline from an encoder spec.

    For specs, ``timm:`` backbones get pretrained weights (offline package, else the hub) unless
    ``pretrained=False`` is passed; ``distance`` applies to specs only (a folder records its own).
    """
    path = Path(path_or_spec)
    if path.is_dir() and (path / CARD_FILE).is_file():
        return _load_folder(path)
    spec = str(path_or_spec)
    if spec.split(":", 1)[0].lower() not in {n.split(":")[0] for n in ENCODERS.names()}:
        raise NotFoundError(
            f"{spec!r} is neither a model folder (with {CARD_FILE}) nor an encoder spec; "
            f"specs start with one of {ENCODERS.names()}"
        )
    encoder = build_encoder(spec, **encoder_options(spec, encoder_kwargs).kwargs())
    net = EmbeddingNet(
        encoder=encoder, head=Head(in_dim=encoder.feature_dim, type="none"), distance=get_distance(distance)
    )
    return EmbeddingModel.from_network(net, extra={"untrained": True})


def copy_model(src: str | Path, dst: str | Path) -> Path:
    """Copy a model folder (card, weights, text assets)."""
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return Path(dst)


__all__ = ["load_model", "network_from_card", "read_card", "save_model"]
