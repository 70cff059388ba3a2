"""Pair scores of classes the model has never seen, from fit's carve-outs: an honest basis for the accept threshold.

A threshold calibrated on training classes is too lenient for new identities: the head was fitted on those very
classes, so their impostor pairs score lower than strangers' do. On the 35 triples of digits 0-6
(``benchmarks/digits_openset.py``: a triple held out in turn, the whitening fitted on the other 4, 2 of the triple
enrolled with 5 items and the third never; 2026-12-03, docs/fit.md), a FAR-1e-3 threshold calibrated on the 4
fitted digits identified 99.3 % of the enrolled digits' other items and rejected only 25.6 % of the strangers;
calibrated on pairs of digits unseen by their own fold model (the disjoint triples), it identified 84.6 % and
rejected 98.9 %.

``fit`` has such pairs for free: each fold's model never saw that fold's validation classes. After choosing, the
chosen candidate embeds every fold's validation items with its fold model (the whitening or head fitted without
them, or the fold network the search trained), and the genuine / impostor pair scores of all folds are pooled and
written to ``DIR/calibration.npz``; :meth:`lookalike.gallery.Gallery.calibrate_scores` (``lookalike calibrate
--from-fit DIR``) chooses a gallery's threshold from them. The exported model is fitted on every training class,
so these scores are a cross-fitted estimate for it (the figures above are such a transfer).
"""

from __future__ import annotations

import logging

import numpy as np

from lookalike.data.splits import class_folds
from lookalike.fitting.features import FeatureBank
from lookalike.fitting.score import embed_fold
from lookalike.fitting.search import SearchOutcome
from lookalike.fitting.space import SearchSpace
from lookalike.models.pair_scoring import pair_scores
from lookalike.training.calibration import FILE, UnseenPairs, read_unseen_pairs

log = logging.getLogger(__name__)


def unseen_pairs(
    outcome: SearchOutcome, space: SearchSpace, bank: FeatureBank, *, seed: int, max_pairs: int = 2_000_000
) -> UnseenPairs | None:
    """The chosen trial's fold models scoring their own validation classes (``None`` where its fold networks were
    not kept: a network trained from scratch that is not exported as an ensemble)."""
    best = outcome.best
    cand = best.candidate
    fam, option = space.family(cand.feature)
    labels = bank.dataset.labels
    folds = class_folds(labels, folds=space.folds, fraction=space.val_fraction, seed=seed)  # the search's folds
    if fam.is_scratch and len(best.nets) != len(folds):
        log.info("fit: no unseen-class pair scores (the chosen network's fold networks were not kept)")
        return None
    feats = bank.get(fam, option)
    genuine, impostor = [], []
    for f, (tr, va) in enumerate(folds):
        if fam.is_scratch:
            from lookalike.fitting.scratch import embed_inputs
            from lookalike.models.distances import get_distance

            emb, dist = embed_inputs(best.nets[f], feats[va]), get_distance(cand.distance)
        else:
            emb, dist = embed_fold(cand, feats[tr], labels[tr], feats[va], space.training,
                                   batch_size=outcome.batch_size, seed=seed + f)  # fmt: skip
        pairs = pair_scores(emb.detach().float().numpy(), labels[va], dist, max_pairs=max_pairs // len(folds))
        genuine.append(pairs.genuine)
        impostor.append(pairs.impostor)
    return UnseenPairs(
        np.concatenate(genuine).astype(np.float32), np.concatenate(impostor).astype(np.float32), len(folds)
    )


__all__ = ["FILE", "UnseenPairs", "read_unseen_pairs", "unseen_pairs"]
