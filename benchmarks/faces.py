"""Faces on ORL, side by side in one run: ImageNet recipe, ``face:dlib`` untrained, face recipe (dlib + whitening).

    python benchmarks/faces.py [--cache .cache/faces] [--speed-images 40]

Protocol (protocol:orl): s1-s30 train, s31-s40 held out and never used for any choice.

1. Selection (training people only): dlib features of s1-s30; 100 seeded random splits of those 30 people, learned
   whitening fitted on 20, MAP@R on the other 10, for each shrinkage; the best one is what recipe:orl_faces
   should say (the script prints both).
2. Three models: ``recipe:orl`` (frozen ImageNet EfficientNet-Lite0 + whitened head, the project default),
   ``face:dlib`` raw features (no training), ``recipe:orl_faces`` (face:dlib + whitened head), the two
   recipes trained here with ``lookalike.training.train`` exactly as ``lookalike train`` would.
3. Held-out retrieval on s31-s40 (MAP@R, P@1, leave-one-out among the 100 photos).
4. Open set through a Gallery: s31-s35 enrolled with 3 seeded photos each, the threshold calibrated at FAR 1e-3
   on validation people carved from s1-s30 (fraction 0.34, seed 0, as benchmarks/orl_open_set.py), the other
   35 photos of s31-s35 identified, every photo of s36-s40 to be rejected. For the recipes, whose head saw all
   of s1-s30, the head is refitted (same whitening code, same shrinkage) without the 10 calibration people, so
   that the threshold is chosen on people the model never saw, as it will meet them.
5. Speed of face:dlib on this machine's CPU cores: faces/s from image files (decode + HOG detection + 5-point
   alignment + ResNet) and from aligned chips (ResNet only). The load average is printed with every figure.

Features are computed once per encoder and cached under ``--cache`` (the training runs use the same cache).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def map_at_r(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from lookalike.evaluation.retrieval import retrieval_metrics

    m, _ = retrieval_metrics(x, y, distance="cosine", ks=(1,))
    return m.map_at_r, m.precision_at_1


def normalize(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


def select_shrink(feats: np.ndarray, labels: np.ndarray, shrinks: list[float], splits: int = 100) -> float:
    from lookalike.training.whitening import fit_whitening

    rng = np.random.default_rng(0)
    people = np.unique(labels)
    rows: dict[str, list[float]] = {"raw (no head)": []} | {f"whiten shrink {s:g}": [] for s in shrinks}
    for _ in range(splits):
        val = rng.permutation(people)[:10]
        fit, ev = ~np.isin(labels, val), np.isin(labels, val)
        rows["raw (no head)"].append(map_at_r(normalize(feats[ev]), labels[ev])[0])
        for s in shrinks:
            w, b = fit_whitening(feats[fit], labels[fit], shrink=s)
            rows[f"whiten shrink {s:g}"].append(map_at_r(normalize(feats[ev] @ w.T + b), labels[ev])[0])
    print(f"selection on s1-s30 only ({splits} splits: fit on 20 people, MAP@R on 10); {load()}")
    for name, vals in rows.items():
        print(f"  {name:<22} MAP@R {np.mean(vals):.5f} ± {np.std(vals):.4f}")
    best = max(shrinks, key=lambda s: np.mean(rows[f"whiten shrink {s:g}"]))
    print(f"  best shrinkage on the carve-outs: {best:g}")
    return best


def refit_without(net, *, f_all: np.ndarray, labels: np.ndarray, drop: np.ndarray, shrink: float):  # type: ignore[no-untyped-def]
    """A copy of ``net`` whose whitened head is fitted (same code as training) without the ``drop`` items."""
    import copy

    import torch

    from lookalike.training.whitening import fit_whitening

    keep = np.setdiff1d(np.arange(len(labels)), drop)
    w, b = fit_whitening(f_all[keep], labels[keep], shrink=shrink, dim=net.head.net[-1].weight.shape[0])
    out = copy.deepcopy(net)
    with torch.no_grad():
        out.head.net[-1].weight.copy_(torch.from_numpy(w))
        out.head.net[-1].bias.copy_(torch.from_numpy(b))
    return out


def open_set(model, emb_test, test, emb_cal, cal_labels, tmp: Path, shots: int, far: float) -> dict[str, float]:
    from lookalike.gallery import Gallery

    rng = np.random.default_rng(0)
    names = test.class_names
    enrolled = names[:5]
    probes: list[tuple[int, str | None]] = []
    with Gallery.create(tmp, model) as g:
        for c, name in enumerate(names):
            idx = np.nonzero(test.labels == c)[0]
            if name in enrolled:
                chosen = sorted(rng.choice(idx, shots, replace=False).tolist())
                g.enroll_vectors(name, emb_test[chosen])
                probes += [(int(i), name) for i in idx if i not in chosen]
            else:
                probes += [(int(i), None) for i in idx]
        report = g.calibrate(emb_cal, cal_labels, target_far=far)
        results = g.identify_vectors(emb_test[[i for i, _ in probes]], k=1)
    known = [(r, t) for r, (_, t) in zip(results, probes, strict=True) if t is not None]
    unknown = [r for r, (_, t) in zip(results, probes, strict=True) if t is None]
    return {
        "threshold": report.threshold,
        "identified": sum(r.decision == "known" and r.identity == t for r, t in known),
        "n_known": len(known),
        "rejected": sum(r.decision == "unknown" for r in unknown),
        "n_unknown": len(unknown),
    }


def speed(n: int, cache: Path) -> None:
    import torch

    from lookalike.models import load_model
    from lookalike.models.faces import find_faces

    files = sorted((ROOT.parent / "shared" / "data" / "orl_faces").glob("s3*/*.pgm"))[:n]
    model = load_model("face:dlib")
    model.embed(files[:2])  # load the networks
    t = time.perf_counter()
    model.embed(files, batch_size=16)
    full = len(files) / (time.perf_counter() - t)
    print(f"face:dlib speed, {len(files)} ORL files, detection included (decode + HOG + 5-point + ResNet): "
          f"{full:.1f} faces/s; torch threads {torch.get_num_threads()}; {load()}")  # fmt: skip
    chips = torch.stack(
        [torch.from_numpy(find_faces(f)[0].chip.transpose(2, 0, 1).copy()).float() / 255 for f in files]
    )
    t = time.perf_counter()
    for s in range(0, len(chips), 16):
        model.network.encoder(chips[s : s + 16])
    bare = len(files) / (time.perf_counter() - t)
    print(f"face:dlib speed, detection excluded (aligned 150 px chips -> 128-d): {bare:.1f} faces/s; {load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "faces"), help="feature cache folder")
    ap.add_argument("--far", type=float, default=1e-3)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--speed-images", type=int, default=40, help="images for the speed figures (0: skip)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from lookalike.data.protocols import ValSpec, load_protocol
    from lookalike.models import load_model
    from lookalike.training import train
    from lookalike.training.config import load_train_config
    from lookalike.training.features import cached_features

    torch.set_num_threads(2)
    t_start = time.perf_counter()
    cache = Path(args.cache)
    protocol = load_protocol(ROOT / "src" / "lookalike" / "protocols" / "orl.yaml")
    protocol.val = None
    train_people, test = protocol.dataset("train"), protocol.dataset("test")
    protocol.val = ValSpec(fraction=0.34, seed=0)
    cal = protocol.dataset("val")
    cal_idx = np.nonzero(np.isin(np.asarray(train_people.items, dtype=object), np.asarray(cal.items, dtype=object)))[0]
    print(f"ORL: {len(train_people)} photos of s1-s30 (training), {len(test)} of s31-s40 (held out); "
          f"calibration people (carved from s1-s30): {', '.join(cal.class_names)}")  # fmt: skip

    dlib_raw = load_model("face:dlib")
    f_train = cached_features(dlib_raw.network.encoder, train_people, cache_dir=cache)[0]
    chosen = select_shrink(f_train, train_people.labels, [0.3, 0.5, 0.7, 0.8, 0.9, 0.95])
    recipe = load_train_config(ROOT / "src" / "lookalike" / "recipes" / "orl_faces.yaml")
    print(f"src/lookalike/recipes/orl_faces.yaml says whiten_shrink {recipe.model.head.whiten_shrink:g}; "
          f"the selection above chose {chosen:g}")  # fmt: skip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for label, cfg_name in (("ImageNet recipe (recipe:orl)", "orl.yaml"), ("face recipe", "orl_faces.yaml")):
            t = time.perf_counter()
            cfg = load_train_config(
                ROOT / "src" / "lookalike" / "recipes" / cfg_name,
                [f"output_dir={tmp}/{cfg_name}", f"data.cache_dir={cache}"],
            )
            result = train(cfg)
            models[label] = load_model(result.model_dir)
            print(f"trained {cfg_name} in {time.perf_counter() - t:.0f} s; {load()}")
        models = {
            "ImageNet recipe (recipe:orl)": models["ImageNet recipe (recipe:orl)"],
            "face:dlib untrained": dlib_raw,
            "face recipe (recipe:orl_faces)": models["face recipe"],
        }
        for k, (label, model) in enumerate(models.items()):
            enc, net = model.network.encoder, model.network
            ft = torch.from_numpy(cached_features(enc, test, cache_dir=cache)[0])
            fc = torch.from_numpy(cached_features(enc, train_people, cache_dir=cache)[0][cal_idx])
            with torch.no_grad():
                e_test, e_cal = net.head_only(ft).numpy(), net.head_only(fc).numpy()
            check = float(np.abs(model.embed(list(test.items[:2])) - e_test[:2]).max())
            m, p1 = map_at_r(e_test, test.labels)
            shrink = model.card.extra.get("train_config", {}).get("model", {}).get("head", {}).get("whiten_shrink")
            if shrink is not None:  # the calibration people must be unseen: refit the head without them
                net = refit_without(net, f_all=cached_features(enc, train_people, cache_dir=cache)[0],
                                    labels=train_people.labels, drop=cal_idx, shrink=float(shrink))  # fmt: skip
                with torch.no_grad():
                    e_test_os, e_cal = net.head_only(ft).numpy(), net.head_only(fc).numpy()
            else:
                e_test_os = e_test
            os_ = open_set(model, e_test_os, test, e_cal, cal.labels, Path(tmp) / f"g{k}", args.shots, args.far)
            rows.append((label, m, p1, os_, check))
    print(f"\nheld-out s31-s40 and open set (enroll s31-s35 x{args.shots}, FAR {args.far:g} on s1-s30 carve-out); "
          f"{load()}")  # fmt: skip
    print(f"{'model':<38} {'MAP@R':>6} {'P@1':>6} {'identified s31-35':>18} {'rejected s36-40':>16} {'threshold':>9}")
    for label, m, p1, o, check in rows:
        ident = f"{o['identified']}/{o['n_known']} = {o['identified'] / o['n_known']:.3f}"
        rej = f"{o['rejected']}/{o['n_unknown']} = {o['rejected'] / o['n_unknown']:.3f}"
        print(f"{label:<38} {m:6.4f} {p1:6.4f} {ident:>18} {rej:>16} {o['threshold']:9.4f}"
              f"   (embed vs cached features: max diff {check:.1e})")  # fmt: skip
    print(f"wall time {time.perf_counter() - t_start:.0f} s; {load()}")
    if args.speed_images:
        speed(args.speed_images, cache)


if __name__ == "__main__":
    main()
