"""ORL open-set identification through a Gallery, at a threshold calibrated on validation people.

    python benchmarks/orl_open_set.py [--model runs/orl/model] [--far 1e-3] [--shots 3]

Protocol (protocol:orl): s1-s30 are the model's training people; the calibration data are the
validation people carved from them (fraction 0.34, seed 0: the same 10 people recipe:orl holds out
from training). s31-s35 are enrolled with ``--shots`` photos each (seeded choice); their other photos are
probes that should be identified; all photos of s36-s40, never enrolled, are probes that should be
rejected as "unknown". s31-s40 play no part in choosing the threshold.

Without an exported ORL model (runs/orl/model, from ``lookalike train recipe:orl``) it uses the
untrained ImageNet baseline ``timm:tf_efficientnet_lite0`` and says so.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder or spec (default: runs/orl/model if present)")
    ap.add_argument("--far", type=float, default=1e-3, help="target false-accept rate for the threshold")
    ap.add_argument("--shots", type=int, default=3, help="photos enrolled per person (s31-s35)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from lookalike.data.protocols import ValSpec, load_protocol
    from lookalike.gallery import Gallery
    from lookalike.models import load_model

    torch.set_num_threads(2)
    default = ROOT / "runs" / "orl" / "model"
    spec = args.model or (str(default) if (default / "lookalike.json").is_file() else "timm:tf_efficientnet_lite0")
    model = load_model(spec)
    trained = not model.card.extra.get("untrained", False)
    print(f"model: {spec} ({'trained on ORL s1-s30' if trained else 'UNTRAINED ImageNet baseline'}), {model!r}")

    protocol = load_protocol(ROOT / "src" / "lookalike" / "protocols" / "orl.yaml")
    protocol.val = ValSpec(fraction=0.34, seed=0)
    val = protocol.dataset("val")
    test = protocol.dataset("test")
    names = test.class_names  # s31..s40 in natural order
    enrolled, strangers = names[:5], names[5:]
    print(f"calibration: {len(val)} photos of validation people {val.class_names} (carved from s1-s30)")

    rng = np.random.default_rng(args.seed)
    enroll_idx: dict[str, list[int]] = {}
    probes: list[tuple[int, str | None]] = []
    for c, name in enumerate(names):
        idx = np.nonzero(test.labels == c)[0]
        if name in enrolled:
            chosen = sorted(rng.choice(idx, args.shots, replace=False).tolist())
            enroll_idx[name] = chosen
            probes += [(int(i), name) for i in idx if i not in chosen]
        else:
            probes += [(int(i), None) for i in idx]

    with tempfile.TemporaryDirectory() as tmp, Gallery.create(Path(tmp) / "orl", model, model_source=spec) as g:
        for name, idx in enroll_idx.items():
            g.enroll(name, [test.items[i] for i in idx])
        report = g.calibrate(val, target_far=args.far)
        print(f"calibrated: {report.summary()}")
        results = g.identify([test.items[i] for i, _ in probes], k=3)

    known = [(r, truth) for r, (_, truth) in zip(results, probes, strict=True) if truth is not None]
    unknown = [r for r, (_, truth) in zip(results, probes, strict=True) if truth is None]
    ident_rate = np.mean([r.decision == "known" and r.identity == t for r, t in known])
    rank1 = np.mean([r.matches[0].identity == t for r, t in known])
    reject_rate = np.mean([r.decision == "unknown" for r in unknown])
    print(f"enrolled {', '.join(enrolled)} with {args.shots} photos each; probes: {len(known)} of enrolled people, "
          f"{len(unknown)} of never-enrolled {', '.join(strangers)}")  # fmt: skip
    print(f"identification rate of enrolled people at the calibrated threshold: {ident_rate:.3f} "
          f"({sum(r.decision == 'known' and r.identity == t for r, t in known)}/{len(known)}); "
          f"rank-1 without threshold {rank1:.3f}")  # fmt: skip
    print(f"rejection rate of never-enrolled people at the calibrated threshold: {reject_rate:.3f} "
          f"({sum(r.decision == 'unknown' for r in unknown)}/{len(unknown)})")  # fmt: skip


if __name__ == "__main__":
    main()
