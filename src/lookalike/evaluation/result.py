"""The typed outcome of one evaluation: every metric family plus, for reports, what they were computed from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.evaluation.clustering import ClusteringMetrics
from lookalike.evaluation.discovery import DiscoveryMetrics
from lookalike.evaluation.fewshot import FewShotMetrics
from lookalike.evaluation.knn import KNNResult
from lookalike.evaluation.openset import OpenSetMetrics
from lookalike.evaluation.pairs import PairVerification
from lookalike.evaluation.retrieval import RetrievalMetrics
from lookalike.evaluation.verification import PairScores, VerificationMetrics

if TYPE_CHECKING:
    from lookalike.data.types import LabeledDataset


@dataclass
class EvaluationDetails:
    """Arrays behind the metrics (not serialised): embeddings, labels, neighbours, pair scores, items.

    ``embeddings``/``labels`` are the evaluated items (unknown ones labelled -1 last); ``knn`` is the
    leave-one-out search among the known items, whose rows are ``known_index`` into ``embeddings``.
    """

    embeddings: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    known_index: np.ndarray
    knn: KNNResult
    pairs: PairScores | None = None
    dataset: LabeledDataset | None = None


@dataclass
class EvaluationResult:
    """All metrics of one evaluation run; :meth:`to_dict` is what ``metrics.json`` holds."""

    retrieval: RetrievalMetrics
    clustering: ClusteringMetrics | None = None
    verification: VerificationMetrics | None = None
    open_set: dict[str, OpenSetMetrics] = field(default_factory=dict)
    few_shot: FewShotMetrics | None = None
    info: dict[str, Any] = field(default_factory=dict)
    details: EvaluationDetails | None = field(default=None, repr=False)
    pair_verification: PairVerification | None = None
    #: grouping the never-enrolled classes' probes into proposed new classes (BCubed), when there are any
    discovery: DiscoveryMetrics | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": dict(self.info),
            "retrieval": self.retrieval.to_dict(),
            "clustering": self.clustering.to_dict() if self.clustering else None,
            "verification": self.verification.to_dict() if self.verification else None,
            "open_set": {name: m.to_dict() for name, m in self.open_set.items()},
            "few_shot": self.few_shot.to_dict() if self.few_shot else None,
            "pair_verification": self.pair_verification.to_dict() if self.pair_verification else None,
            "unknown_detection": self.unknown_detection(),
            "discovery": self.discovery.to_dict() if self.discovery else None,
        }

    def unknown_detection(self) -> dict[str, dict[str, Any]] | None:
        """Per gallery size, out-of-scope detection by max similarity; ``None`` unless the data has unknown
        items (labelled -1, e.g. a protocol's ``unknown`` split)."""
        if not self.info.get("num_unknown_items"):
            return None
        return {
            name: m.unknown_detection.to_dict() for name, m in self.open_set.items() if m.unknown_detection is not None
        }

    def headline(self) -> dict[str, float | None]:
        """The few numbers worth printing on one screen."""
        out: dict[str, float | None] = {
            "MAP@R": self.retrieval.map_at_r,
            "R-Precision": self.retrieval.r_precision,
            "Precision@1": self.retrieval.precision_at_1,
        }
        for k, v in self.retrieval.recall_at_k.items():
            if k != 1:
                out[f"Recall@{k}"] = v
        plain = self.info.get("without_query_expansion")
        if plain:  # the model searches with query expansion: the figures of the plain search beside them
            n, db = self.info.get("query_expansion"), self.info.get("database_augmentation")
            n = f"{n}, database {db}" if db else n
            n = f"diffusion {self.info['diffusion']}" if self.info.get("diffusion") else n
            out[f"MAP@R, no expansion (model: {n})"] = plain["map_at_r"]
            out[f"Precision@1, no expansion (model: {n})"] = plain["precision_at_1"]
        if self.clustering:
            out["NMI"], out["AMI"] = self.clustering.nmi, self.clustering.ami
        if self.verification:
            out["ROC AUC"], out["EER"] = self.verification.roc_auc, self.verification.eer
            for far, tar in self.verification.tar_at_far.items():
                out[f"TAR@FAR={far:g}"] = tar
        for name, m in self.open_set.items():
            out[f"{name} rank-1"] = m.rank1_accuracy
            for f, d in m.dir_at_fpir.items():
                out[f"{name} DIR@FPIR={f:g}"] = d
        for name, det in (self.unknown_detection() or {}).items():
            out[f"{name} unknown AUROC"] = det["auroc"]
            out[f"{name} unknown FPR@95%TPR"] = det["fpr_at_95_tpr"]
        if self.discovery:
            out["discovery BCubed F1"] = self.discovery.bcubed_f1
            out["discovery proposals"] = float(self.discovery.num_proposals)
            out["discovery true new classes"] = float(self.discovery.num_true_classes)
        if self.few_shot:
            out[f"{self.few_shot.ways}-way {self.few_shot.shots}-shot accuracy"] = self.few_shot.accuracy
        if self.pair_verification:
            pv = self.pair_verification
            out[f"pairs {len(pv.fold_accuracies)}-fold accuracy"] = pv.accuracy
            out["pairs accuracy std"] = pv.accuracy_std
            out["pairs ROC AUC"] = pv.roc.roc_auc
            for far, tar in pv.roc.tar_at_far.items():
                out[f"pairs TAR@FAR={far:g}"] = tar
        return out


__all__ = ["EvaluationDetails", "EvaluationResult"]
