"""Evaluation: pure metric functions, exact chunked kNN, typed results, and reports (see docs/evaluation.md).

Public entry points (imported lazily so ``import lookalike.evaluation`` stays cheap):

- :func:`exact_knn` → :class:`KNNResult`
- :func:`retrieval_metrics`, :func:`metrics_from_neighbours` → :class:`RetrievalMetrics` (P@1, R-Precision,
  MAP@R, Recall@K, MAP@K); :func:`clustering_metrics` → :class:`ClusteringMetrics` (NMI, AMI)
- :func:`pair_scores`, :func:`verification_metrics` → :class:`VerificationMetrics` (ROC AUC, EER, TAR@FAR)
- :func:`open_set_metrics` → :class:`OpenSetMetrics` (rank-1, DIR/FNIR@FPIR)
- :func:`few_shot_accuracy` → :class:`FewShotMetrics`
- :func:`evaluate_embeddings`, :func:`evaluate_model` → :class:`EvaluationResult`; :func:`write_report`
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "KNNResult": "lookalike.evaluation.knn",
    "exact_knn": "lookalike.evaluation.knn",
    "RetrievalMetrics": "lookalike.evaluation.retrieval",
    "retrieval_metrics": "lookalike.evaluation.retrieval",
    "metrics_from_neighbours": "lookalike.evaluation.retrieval",
    "ClusteringMetrics": "lookalike.evaluation.clustering",
    "clustering_metrics": "lookalike.evaluation.clustering",
    "PairScores": "lookalike.evaluation.verification",
    "VerificationMetrics": "lookalike.evaluation.verification",
    "pair_scores": "lookalike.evaluation.verification",
    "verification_metrics": "lookalike.evaluation.verification",
    "OpenSetMetrics": "lookalike.evaluation.openset",
    "open_set_metrics": "lookalike.evaluation.openset",
    "Episode": "lookalike.evaluation.fewshot",
    "FewShotMetrics": "lookalike.evaluation.fewshot",
    "few_shot_accuracy": "lookalike.evaluation.fewshot",
    "EvaluationResult": "lookalike.evaluation.result",
    "evaluate_embeddings": "lookalike.evaluation.evaluate",
    "evaluate_model": "lookalike.evaluation.evaluate",
    "load_evaluation_data": "lookalike.evaluation.inputs",
    "write_report": "lookalike.evaluation.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lookalike.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
