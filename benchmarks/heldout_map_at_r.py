"""Held-out MAP@R of models on a protocol's TEST classes (queries = all test items, references = the others).

    python benchmarks/heldout_map_at_r.py --protocol fl27 runs/fl27/model "timm:tf_efficientnet_lite0" \
        "timm:tf_efficientnet_lite0?resize=squash"

A model is an exported folder or an encoder spec; ``spec?key=value&...`` passes encoder options (the untrained
backbone with squash resizing, say). Prints one line per model with MAP@R, the number of items and seconds.
Run it once per final recipe: the test classes are for reporting, never for choosing.
"""

from __future__ import annotations

import argparse
import time

import yaml


def _load(spec: str):  # type: ignore[no-untyped-def]
    from lookalike.models import load_model

    name, _, query = spec.partition("?")
    kwargs = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in query.split("&") if p)}
    return load_model(name, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", required=True, help="protocol name or YAML (fl27, orl, ...)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    import torch

    from lookalike.data.protocols import load_protocol
    from lookalike.training.metrics import map_at_r

    torch.set_num_threads(args.threads)
    ds = load_protocol(args.protocol).dataset(args.split)
    for spec in args.models:
        start = time.perf_counter()
        model = _load(spec)
        emb = model.embed_dataset(ds, batch_size=32)
        score = map_at_r(emb, ds.labels, model.distance)
        print(
            f"{args.protocol}/{args.split}  MAP@R {score:.4f}  ({len(ds)} items, {len(ds.class_names)} classes, "
            f"{time.perf_counter() - start:.0f} s)  {spec}"
        )


if __name__ == "__main__":
    main()
