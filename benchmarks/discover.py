"""Discovery of never-enrolled classes: BCubed F1 and the number of proposals, on ORL and FlickrLogos-27.

    python benchmarks/discover.py [--data orl fl27] [--shots 5] [--far 1e-3] [--trials 12] [--no-heldout]

Per dataset, with its recipe's model (runs/<name>/model, from ``lookalike train recipe:<name>``: a frozen
backbone and a learned-whitening head fitted on all training classes, or no head; ``--data orl_dlib fl27`` uses
ORL's face recipe, face:dlib as it is, instead of the ImageNet one):

1. Features: the backbone's features of the training classes (train + val splits; cached on disk like
   training's) and the model's embeddings of the held-out classes (cached in runs/<name>/discover_embeddings.npz).
2. Choosing the grouping parameters, on TRAINING classes only, by class carve-outs that mirror deployment:
   per seeded trial, 8 training classes are set aside (3 enrolled with ``--shots`` items, 5 the unknown
   stream); the whitening head is refitted (the recipe's shrinkage) on the other training classes; the accept
   threshold is calibrated at ``--far`` on pairs of classes unseen by the head that scores them (3 carve-outs
   of those fitted classes, each scored by a head fitted without it: what ``lookalike fit`` writes to
   calibration.npz; a recipe with no head is calibrated on the fitted classes themselves, unseen by anything);
   the stream items that come out unknown are grouped with every candidate (linkage, scale, min_size, pool
   mixing) and scored by BCubed F1 over the whole stream. The set-aside classes are unseen by that head, as the
   held-out classes are by the real one. Chosen (one setting for every dataset), like the target's two parts:
   among the candidates whose mean number of proposals is within +-1 of the 5 set-aside classes on every
   dataset, the best mean F1 over both datasets' trials (the best F1 overall if none is within). ``--no-heldout``
   stops here.
3. Held-out run (never used in 2): a real Gallery; the first 5 held-out classes (ORL s31-s35, FL27 Pepsi ...)
   are enrolled with ``--shots`` items each, the threshold is calibrated at ``--far`` on unseen-class pairs of
   the training classes (3 carve-outs, each scored by a whitening head fitted on the other training classes;
   a recipe with no head has fitted nothing on the training classes: it is calibrated on all of them), the
   pool is enabled, every item of the other 5 held-out classes is
   identified (those that come out unknown are kept), ``Gallery.discover`` proposes groups, and BCubed is
   computed over the whole stream (items accepted as known, or in no proposal, count as singletons).
   ``proposals.json`` / ``proposals.html`` go to runs/<name>/discover/.

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


def simulate(
    f: np.ndarray, y: np.ndarray, model: Any, shrink: float | None, far: float, shots: int, trials: int
) -> np.ndarray:
    """(trials, candidates, 2): BCubed F1 and #proposals of every candidate on carve-outs of the training classes."""
    import torch

    from lookalike.evaluation.discovery import UNGROUPED, discovery_from_groups
    from lookalike.evaluation.knn import exact_knn
    from lookalike.gallery.calibration import calibrate_embeddings, choose_threshold
    from lookalike.models.grouping import group_embeddings
    from lookalike.training.calibration import whitening_unseen_pairs
    from lookalike.training.whitening import fit_whitening

    cands = candidates()
    out = np.zeros((trials, len(cands), 2))
    classes = np.unique(y)
    dist = model.distance
    for t in range(trials):
        rng = np.random.default_rng(1000 + t)
        order = rng.permutation(classes)
        enrolled_c, new_c = order[:N_ENROLLED_SIM], order[N_ENROLLED_SIM : N_ENROLLED_SIM + N_NEW]
        fit_c = order[N_ENROLLED_SIM + N_NEW :]
        fit_rows = np.nonzero(np.isin(y, fit_c))[0]
        if shrink is None:  # no head: the features are the embedding
            x = dist.embed(torch.from_numpy(f)).numpy()
        else:
            w, b = fit_whitening(f[fit_rows], y[fit_rows], shrink=shrink)
            x = dist.embed(torch.from_numpy(f @ w.T + b)).numpy()
        if shrink is None:  # nothing fitted: every remaining class is as unseen as the stream
            threshold = calibrate_embeddings(x[fit_rows], y[fit_rows], dist, target_far=far).threshold
        else:  # as deployed: on pairs of classes unseen by the head scoring them (carve-outs of the fitted classes)
            pairs = whitening_unseen_pairs(f[fit_rows], y[fit_rows], dist, shrink=shrink, seed=t)
            assert pairs is not None, "a trial keeps at least 5 fitted classes"
            threshold = choose_threshold(pairs.genuine, pairs.impostor, target_far=far).threshold
        enrolled = np.concatenate([rng.choice(np.nonzero(y == c)[0], shots, replace=False) for c in enrolled_c])
        stream = np.nonzero(np.isin(y, new_c))[0]
        # the known/unknown decision does not depend on the grouping: take it once per trial
        best = exact_knn(x[stream], x[enrolled], k=1, distance=dist).scores[:, 0]
        unknown = np.nonzero(np.asarray(best) < threshold)[0]
        for j, p in enumerate(cands):
            labels = np.full(len(stream), UNGROUPED, np.int64)
            for gi, g in enumerate(group_embeddings(x[stream][unknown], distance=dist, threshold=threshold, params=p)):
                labels[unknown[list(g.members)]] = gi
            m = discovery_from_groups(labels, y[stream])
            out[t, j] = m.bcubed_f1, m.num_proposals
    return out


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


def held_out(
    name: str,
    model: Any,
    emb: dict[str, Any],
    calibration: tuple[str, Any],
    far: float,
    shots: int,
    params: Any,
) -> str:
    """``calibration``: (what, labelled embeddings (x, y)) or (what, unseen-class PairScores)."""
    from lookalike.evaluation.discovery import UNGROUPED, discovery_from_groups
    from lookalike.gallery import Gallery
    from lookalike.gallery.discover import keep_unknowns
    from lookalike.gallery.report import write_proposals

    test = emb["datasets"]["test"]
    x, y = emb["test"], test.labels
    cal_what, cal = calibration
    names = test.class_names
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, Gallery.create(Path(tmp) / name, model) as g:
        for c in range(N_NEW):
            rows = rng.choice(np.nonzero(y == c)[0], shots, replace=False)
            g.enroll_vectors(names[c], x[rows], [{"source": str(test.items[r])} for r in rows])
        if isinstance(cal, tuple):
            report = g.calibrate(cal[0], cal[1], target_far=far)
        else:
            report = g.calibrate_scores(cal.genuine, cal.impostor, target_far=far)
        stream = np.nonzero(y >= N_NEW)[0]
        with g.unknown_pool() as pool:
            pool.configure(enabled=True)
            results = g.identify_vectors(x[stream], k=1)
            kept = keep_unknowns(pool, results, x[stream], sources=[str(test.items[r]) for r in stream])
            found = g.discover(pool=pool, params=params)
            write_proposals(found, pool, ROOT / "runs" / name / "discover")
    row_of_unknown = dict(zip(kept, stream[[i for i, r in enumerate(results) if r.decision == "unknown"]], strict=True))
    labels = np.full(len(y), UNGROUPED, np.int64)
    for gi, p in enumerate(found.proposals):
        labels[[row_of_unknown[u] for u in p.unknown_ids]] = gi
    m = discovery_from_groups(labels[stream], y[stream])
    within = abs(m.num_proposals - N_NEW) <= 1
    return (
        f"{name}: enrolled {', '.join(names[:N_NEW])} ({shots} each); unknown stream {len(stream)} items of "
        f"{', '.join(names[N_NEW:])}; threshold {report.threshold:.4f} (FAR {far:g} on {cal_what}, "
        f"{report.n_impostor:,} impostor pairs); {len(kept)} came out unknown -> {m.num_proposals} proposals "
        f"({m.num_grouped} items grouped)\n"
        f"{name}: HELD-OUT BCubed P {m.bcubed_precision:.3f} R {m.bcubed_recall:.3f} F1 {m.bcubed_f1:.3f}; "
        f"proposals {m.num_proposals} vs {N_NEW} true new classes ({'within' if within else 'NOT within'} +-1)  "
        f"[{load()}]"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data",
        nargs="+",
        default=["orl", "fl27"],
        help="shipped recipe names (recipe:NAME; model in runs/NAME/model), e.g. orl_dlib for ORL's face recipe",
    )
    ap.add_argument("--shots", type=int, default=5, help="items enrolled per known class")
    ap.add_argument("--far", type=float, default=1e-3, help="target false-accept rate of the accept threshold")
    ap.add_argument("--trials", type=int, default=12, help="draws of training classes for choosing the parameters")
    ap.add_argument("--no-heldout", action="store_true", help="choose on the training classes only; stop before step 3")
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
    from lookalike.training.calibration import whitening_unseen_pairs

    torch.set_num_threads(2)
    prepared, sims = {}, []
    for name in args.data:
        folder = ROOT / "runs" / name / "model"
        if not (folder / "lookalike.json").is_file():
            raise SystemExit(f"no {folder}; train the default recipe first: lookalike train recipe:{name}")
        model = load_model(folder)
        recipe = yaml.safe_load(config_path(f"recipe:{name}", "recipe").read_text())
        protocol = load_protocol(config_path(recipe["data"]["protocol"], "protocol"))
        head = recipe["model"]["head"]
        shrink = None if head.get("type") == "none" else float(head["whiten_shrink"])
        emb = embeddings(name, model, protocol)
        f, y = training_features(model, emb["datasets"])
        refit = "no head to refit" if shrink is None else f"carve-outs refit the whitening head with shrink {shrink}"
        print(f"{name}: model {folder} ({model.fingerprint[:12]}); {len(np.unique(y))} training classes "
              f"({len(y)} items); {refit}")  # fmt: skip
        sims.append(simulate(f, y, model, shrink, args.far, args.shots, args.trials))
        calibration: tuple[str, Any]
        if shrink is None:  # nothing was fitted on the training classes: all of them are unseen, use them all
            calibration = ("all training classes", (model.distance.embed(torch.from_numpy(f)).numpy(), y))
        else:  # the head was fitted on every training class: score each carve-out by a head fitted without it
            # (the procedure `lookalike train` uses for runs/NAME/calibration.npz; its class numbering may differ)
            pairs = whitening_unseen_pairs(f, y, model.distance, shrink=shrink, seed=0)
            calibration = ("training classes, each carve-out scored by a head fitted without it", pairs)
        prepared[name] = (model, emb, calibration)
    cands = candidates()
    score, count_ok = choice_scores(sims)
    best = choose(score, count_ok)
    print("grouping parameters on training classes (mean BCubed F1 / mean #proposals over trials, per dataset;")
    print(f"  * = mean proposals within +-1 of the {N_NEW} set-aside new classes on every dataset):")
    for j in np.argsort(-score)[:8].tolist() + ([best] if best not in np.argsort(-score)[:8] else []):
        per = "; ".join(
            f"{n} {s[:, j, 0].mean():.3f} / {s[:, j, 1].mean():.1f}" for n, s in zip(args.data, sims, strict=True)
        )
        print(f"  {'*' if count_ok[j] else ' '} {cands[j].to_dict()}: mean F1 {score[j]:.3f} ({per})")
    chosen = cands[best]
    rule = "best F1 among those within +-1" if count_ok.any() else "none within +-1: best F1"
    print(f"chosen on training classes ({rule}): {chosen.to_dict()}  [{load()}]")
    if args.no_heldout:
        return
    for name, (model, emb, calibration) in prepared.items():
        print(held_out(name, model, emb, calibration, args.far, args.shots, chosen))


if __name__ == "__main__":
    main()
