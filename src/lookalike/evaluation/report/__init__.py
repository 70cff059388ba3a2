"""Evaluation reports: ``metrics.json`` plus ``report.html`` with PNG figures beside it."""

from lookalike.evaluation.report.page import write_metrics, write_report

__all__ = ["write_metrics", "write_report"]
