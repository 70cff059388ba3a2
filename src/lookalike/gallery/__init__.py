"""Galleries: enroll identities without retraining, identify with "unknown", verify, calibrate thresholds.

Public API: :class:`Gallery`, the typed results (:class:`Identification`, :class:`Match`,
:class:`Verification`, :class:`GalleryInfo`, :class:`CalibrationReport`, :class:`ItemRecord`), the store
registry ``STORES`` ("sqlite", "pgvector"), :func:`calibrate_embeddings` and the sklearn estimator
:class:`SimilarityClassifier`.
"""

from lookalike.gallery.calibration import CalibrationWarning, calibrate_embeddings
from lookalike.gallery.estimator import SimilarityClassifier
from lookalike.gallery.gallery import Gallery, verify_items, verify_vectors
from lookalike.gallery.results import (
    CalibrationReport,
    FaceIdentification,
    GalleryInfo,
    Identification,
    ItemRecord,
    Match,
    Verification,
)
from lookalike.gallery.stores import STORES
from lookalike.names import MAX_NAME_CHARS, identity_name

__all__ = [
    "MAX_NAME_CHARS",
    "STORES",
    "CalibrationReport",
    "CalibrationWarning",
    "FaceIdentification",
    "Gallery",
    "GalleryInfo",
    "Identification",
    "ItemRecord",
    "Match",
    "SimilarityClassifier",
    "Verification",
    "calibrate_embeddings",
    "identity_name",
    "verify_items",
    "verify_vectors",
]
