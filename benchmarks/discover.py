"""Discovery of never-enrolled classes: BCubed F1 and the number of proposals, on ORL and FlickrLogos-27.

    python benchmarks/discover.py [--data orl_dlib fl27] [--shots 5] [--far 1e-3] [--library-default [--trials 8]]

Per dataset, with its recipe's model and run folder (runs/<name>/, from ``lookalike train recipe:<name>``: a
frozen backbone with a learned-whitening head fitted on all training classes, or no head; ``--data orl_dlib``
is ORL's face recipe, face:dlib as it is):

1. The grouping settings, chosen on TRAINING classes only by the run itself: the recipe's ``discovery:`` section
   makes ``lookalike train`` choose them on seeded carve-outs of the training classes
   (:mod:`lookalike.training.grouping`: per trial 3 training classes enrolled with 5 items, 5 others as the
   unknown stream, the head refitted on the rest, the accept threshold at FAR 1e-3 on pairs of classes unseen by
   the head that scores them; the best mean BCubed F1 among the settings whose mean number of proposals is within
   +-1 of the 5 new classes) and store them in runs/<name>/calibration.npz beside those unseen-class pair scores.
   The benchmark prints that choice. ``--library-default`` instead chooses ONE setting for every dataset (the
   library's ``GroupingParams()`` default was chosen so: the same carve-outs, ``--trials`` draws, a 288-setting
   grid, the best mean F1 over the datasets among the settings within +-1 on every dataset) and uses it.
2. Held-out run (never used in 1), the product's own path: a real Gallery; the first 5 held-out classes (ORL
   s31-s35, FL27 Pepsi ...) are enrolled with ``--shots`` items each; the gallery is calibrated from the run's
   calibration.npz as ``lookalike calibrate GALLERY --from-fit runs/<name>`` does (threshold at ``--far`` on
   the unseen-class pairs; the grouping settings stored with it); the pool is enabled, every item of the other 5
   held-out classes is identified (those that come out unknown are kept), ``Gallery.discover`` proposes groups
   with the gallery's settings, and BCubed is computed over the whole stream (items accepted as known, or in no
   proposal, count as singletons). ``proposals.json`` / ``proposals.html`` go to runs/<name>/discover/.

HDBSCAN is not among the candidates: scikit-learn 1.9's HDBSCAN fails in its epsilon search on many of these
pools (lookalike then groups without the epsilon), so its threshold would not be the one derived here.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_NEW = 5
N_ENROLLED_SIM = 3
#: pool mixing depths searched (``GroupingParams.mix``: each unknown mixed with its k nearest other unknowns)
MIXES = (0, 2, 3, 5)


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f}"


def embeddings(name: str, model: Any, protocol: Any) -> dict[str, Any]:
    """Held-out and validation embeddings of the real model (cached by fingerprint), and the datasets."""
    cache = ROOT / "runs" / name / "discover_embeddings.npz"
    splits = {s: protocol.dataset(s) for s in ("train", "val", "test")}
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["fingerprint"]) == model.fingerprint:
            return {"datasets": splits, **{k: z[k] for k in z.files if k != "fingerprint"}}
    out = {s: model.embed_dataset(ds, batch_size=32) for s, ds in splits.items() if s != "train"}
    np.savez(cache, fingerprint=model.fingerprint, **out)
    return {"datasets": splits, **out}


def training_features(model: Any, datasets: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Backbone features and labels of every training class (train + val splits), via training's feature cache."""
    from lookalike.training.features import cached_features

    enc = model.network.encoder
    tr, va = datasets["train"], datasets["val"]
    f = np.concatenate([cached_features(enc, ds, cache_dir="~/.cache/lookalike/features")[0] for ds in (tr, va)])
    return f, np.concatenate([tr.labels, va.labels + tr.labels.max() + 1])


def candidates() -> list[Any]:
    from lookalike.models.grouping import GroupingParams

    scales = (0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0, 2.4, 2.8)
    grid = itertools.product(("average", "complete", "single"), scales, (2, 3), MIXES)
    return [
        GroupingParams(linkage=linkage, scale=scale, min_size=min_size, mix=mix)  # type: ignore[arg-type]
        for linkage, scale, min_size, mix in grid
    ]


def simulate(f: np.ndarray, y: np.ndarray, model: Any, shrink: float | None, far: float, shots: int, trials: int):
    """(trials, candidates, 2): BCubed F1 and #proposals of every candidate of the library-default grid on
    carve-outs of the training classes (the procedure of :func:`lookalike.training.grouping.carveout_scores`)."""
    from lookalike.training.grouping import carveout_scores

    return carveout_scores(
        f, y, model.distance, shrink=shrink, far=far, shots=shots, trials=trials, params=candidates()
    )


def choice_scores(sims: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: the mean over datasets of its mean carve-out F1, and whether its mean number of proposals is
    within +-1 of the set-aside new classes on every dataset (the target has both parts)."""
    score = np.mean([s[:, :, 0].mean(axis=0) for s in sims], axis=0)
    count_ok = np.all([np.abs(s[:, :, 1].mean(axis=0) - N_NEW) <= 1 for s in sims], axis=0)
    return score, count_ok


def choose(score: np.ndarray, count_ok: np.ndarray) -> int:
    """The best mean F1 among the candidates whose proposal count is within +-1 on every dataset; the best mean
    F1 overall when none is (first in grid order on ties)."""
    if not count_ok.any():
        return int(np.argmax(score))
    return int(np.argmax(np.where(count_ok, score, -np.inf)))


def held_out(name: str, model: Any, emb: dict[str, Any], pairs: Any, far: float, shots: int, params: Any) -> str:
    """``pairs``: the run's unseen-class pair scores (calibration.npz); ``params``: the grouping stored with them."""
    from lookalike.evaluation.discovery import UNGROUPED, discovery_from_groups
    from lookalike.gallery import Gallery
    from lookalike.gallery.discover import keep_unknowns
    from lookalike.gallery.report import write_proposals

    test = emb["datasets"]["test"]
    x, y = emb["test"], test.labels
    names = test.class_names
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, Gallery.create(Path(tmp) / name, model) as g:
        for c in range(N_NEW):
            rows = rng.choice(np.nonzero(y == c)[0], shots, replace=False)
            g.enroll_vectors(names[c], x[rows], [{"source": str(test.items[r])} for r in rows])
        report = g.calibrate_scores(pairs.genuine, pairs.impostor, target_far=far, grouping=params)
        stream = np.nonzero(y >= N_NEW)[0]
        with g.unknown_pool() as pool:
            pool.configure(enabled=True)
            results = g.identify_vectors(x[stream], k=1)
            kept = keep_unknowns(pool, results, x[stream], sources=[str(test.items[r]) for r in stream])
            found = g.discover(pool=pool)  # the gallery's settings, stored by the calibration
            write_proposals(found, pool, ROOT / "runs" / name / "discover")
    row_of_unknown = dict(zip(kept, stream[[i for i, r in enumerate(results) if r.decision == "unknown"]], strict=True))
    labels = np.full(len(y), UNGROUPED, np.int64)
    for gi, p in enumerate(found.proposals):
        labels[[row_of_unknown[u] for u in p.unknown_ids]] = gi
    m = discovery_from_groups(labels[stream], y[stream])
    within = abs(m.num_proposals - N_NEW) <= 1
    return (
        f"{name}: enrolled {', '.join(names[:N_NEW])} ({shots} each); unknown stream {len(stream)} items of "
        f"{', '.join(names[N_NEW:])}; threshold {report.threshold:.4f} (FAR {far:g} on the run's unseen-class pairs, "
        f"{report.n_impostor:,} impostor pairs); {len(kept)} came out unknown -> {m.num_proposals} proposals "
        f"({m.num_grouped} items grouped) with {params.to_dict()}\n"
        f"{name}: HELD-OUT BCubed P {m.bcubed_precision:.3f} R {m.bcubed_recall:.3f} F1 {m.bcubed_f1:.3f}; "
        f"proposals {m.num_proposals} vs {N_NEW} true new classes ({'within' if within else 'NOT within'} +-1)  "
        f"[{load()}]"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", nargs="+", default=["orl_dlib", "fl27"],
        help="shipped recipe names (recipe:NAME; run folder runs/NAME), e.g. orl_dlib for ORL's face recipe",
    )  # fmt: skip
    ap.add_argument("--shots", type=int, default=5, help="items enrolled per known class")
    ap.add_argument("--far", type=float, default=1e-3, help="target false-accept rate of the accept threshold")
    ap.add_argument("--library-default", action="store_true", help="choose one setting for every dataset (step 1)")
    ap.add_argument("--trials", type=int, default=8, help="--library-default: draws of training classes")
    ap.add_argument("--no-heldout", action="store_true", help="stop before the held-out run (step 2)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # carve-out calibrations rest on few impostor pairs; the held-out run's report is printed instead
    logging.getLogger("lookalike.gallery.calibration").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="only .* impostor pairs back")

    import torch
    import yaml

    from lookalike.data.protocols import load_protocol
    from lookalike.data.roots import config_path
    from lookalike.models import load_model
    from lookalike.training.calibration import read_unseen_pairs
    from lookalike.training.grouping import GroupingChoice

    torch.set_num_threads(2)
    prepared, sims, chosen = {}, [], {}
    for name in args.data:
        folder = ROOT / "runs" / name / "model"
        if not (folder / "lookalike.json").is_file():
            raise SystemExit(f"no {folder}; train the default recipe first: lookalike train recipe:{name}")
        model = load_model(folder)
        recipe = yaml.safe_load(config_path(f"recipe:{name}", "recipe").read_text())
        protocol = load_protocol(config_path(recipe["data"]["protocol"], "protocol"))
        pairs = read_unseen_pairs(folder.parent)
        if pairs.grouping is None:
            raise SystemExit(
                f"{folder.parent}/calibration.npz holds no grouping choice; retrain: lookalike train recipe:{name}"
            )
        choice = GroupingChoice.from_dict(pairs.grouping)
        print(f"{name}: model {folder} ({model.fingerprint[:12]}); {choice.summary()}")
        chosen[name] = choice.params
        emb = embeddings(name, model, protocol)
        if args.library_default:
            head = recipe["model"]["head"]
            shrink = None if head.get("type") == "none" else float(head["whiten_shrink"])
            f, y = training_features(model, emb["datasets"])
            sims.append(simulate(f, y, model, shrink, args.far, args.shots, args.trials))
        prepared[name] = (model, emb, pairs)
    if args.library_default:
        cands = candidates()
        score, count_ok = choice_scores(sims)
        best = choose(score, count_ok)
        print("one grouping setting for every dataset, on training classes (mean BCubed F1 / mean #proposals over")
        print(f"  trials, per dataset; * = mean proposals within +-1 of the {N_NEW} new classes on every dataset):")
        for j in np.argsort(-score)[:8].tolist() + ([best] if best not in np.argsort(-score)[:8] else []):
            per = "; ".join(
                f"{n} {s[:, j, 0].mean():.3f} / {s[:, j, 1].mean():.1f}" for n, s in zip(args.data, sims, strict=True)
            )
            print(f"  {'*' if count_ok[j] else ' '} {cands[j].to_dict()}: mean F1 {score[j]:.3f} ({per})")
        rule = "best F1 among those within +-1" if count_ok.any() else "none within +-1: best F1"
        print(f"chosen on training classes ({rule}): {cands[best].to_dict()}  [{load()}]")
        chosen = dict.fromkeys(args.data, cands[best])
    if args.no_heldout:
        return
    for name, (model, emb, pairs) in prepared.items():
        print(held_out(name, model, emb, pairs, args.far, args.shots, chosen[name]))


if __name__ == "__main__":
    main()
