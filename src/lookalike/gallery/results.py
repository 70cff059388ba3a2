"""Typed results of gallery operations: no tuples with sentinels, no ``-1`` for "not found"."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

Decision = Literal["known", "unknown", "uncalibrated"]


@dataclass(frozen=True)
class Match:
    """One candidate identity for a query, with its similarity score (higher is closer)."""

    identity: str
    score: float


@dataclass(frozen=True)
class Identification:
    """The answer for one query.

    ``matches`` are the top identities, best first (empty when the gallery is empty). ``decision`` is
    ``"known"`` when the best score reaches ``threshold``; ``identity`` is then the best identity, else ``None``.
    While the gallery has no threshold (``threshold`` is ``None``) there is no verdict: the decision is
    ``"uncalibrated"`` and ``identity`` is ``None`` — the matches are only the nearest identities, not a
    recognition (calibrate the gallery to decide). An empty gallery answers ``"unknown"`` either way.
    """

    matches: list[Match]
    decision: Decision
    threshold: float | None

    @property
    def identity(self) -> str | None:
        """The recognised identity, or ``None`` when the decision is "unknown"."""
        return self.matches[0].identity if self.decision == "known" and self.matches else None

    @property
    def score(self) -> float | None:
        """The best score, or ``None`` when there are no matches."""
        return self.matches[0].score if self.matches else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "decision": self.decision,
            "score": self.score,
            "threshold": self.threshold,
            "matches": [asdict(m) for m in self.matches],
        }


@dataclass(frozen=True)
class FaceIdentification:
    """One face found in a query image: its ``box`` (left, top, right, bottom, in pixels) and who it is.

    ``detected`` is False when the whole frame stood for the face (``detect: never``, or ``auto`` on a crop).
    ``vector`` is the face's embedding (for the unknown pool; not part of :meth:`to_dict`).
    """

    box: tuple[int, int, int, int]
    identification: Identification
    detected: bool = True
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "detected": self.detected, **self.identification.to_dict()}


@dataclass(frozen=True)
class Verification:
    """Whether two items show the same identity: ``same`` is ``score >= threshold``; both ``None`` when no
    threshold was given (the score only)."""

    score: float
    same: bool | None
    threshold: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ItemRecord:
    """One stored item (its vector is not carried here)."""

    id: int
    identity: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationReport:
    """How a threshold was chosen from held-out genuine and impostor pairs.

    ``far`` is the false-accept rate reached on the impostor pairs (≤ ``target_far``); ``frr`` the false-reject
    rate on the genuine pairs, with a two-sided ``confidence`` (Clopper-Pearson) interval ``frr_ci``.
    ``warning`` says when too few impostor pairs back the target (fewer than ``3 / target_far``).
    """

    threshold: float
    target_far: float
    far: float
    far_ci: tuple[float, float]
    frr: float
    frr_ci: tuple[float, float]
    confidence: float
    n_genuine: int
    n_impostor: int
    n_items: int
    n_classes: int
    gallery_size: int
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["far_ci"] = list(self.far_ci)
        d["frr_ci"] = list(self.frr_ci)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationReport:
        d = dict(d)
        d["far_ci"] = tuple(d["far_ci"])
        d["frr_ci"] = tuple(d["frr_ci"])
        return cls(**d)

    def summary(self) -> str:
        """One human-readable paragraph."""
        text = (
            f"threshold {self.threshold:.6g} (similarity; accept when score >= threshold): "
            f"FAR {self.far:.3g} (target {self.target_far:.3g}, {self.confidence:.0%} CI "
            f"{self.far_ci[0]:.3g}-{self.far_ci[1]:.3g}) on {self.n_impostor:,} impostor pairs; "
            f"FRR {self.frr:.3g} ({self.confidence:.0%} CI {self.frr_ci[0]:.3g}-{self.frr_ci[1]:.3g}) on "
            f"{self.n_genuine:,} genuine pairs"
        )
        if self.n_items:  # 0 when calibrated on given pair scores (`--from-fit`): no items were embedded
            text += f"; {self.n_items} items of {self.n_classes} classes"
        return text + (f"\nWARNING: {self.warning}" if self.warning else "")


@dataclass(frozen=True)
class GalleryInfo:
    """What a gallery is: the model that built it, its size, its threshold and its store."""

    model: dict[str, Any]
    size: int
    identities: int
    threshold: float | None
    calibrated_at_size: int | None
    distance: dict[str, Any]
    store: str
    location: str
    scoring: str
    embedding_size: int
    calibration: CalibrationReport | None = None
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["calibration"] = self.calibration.to_dict() if self.calibration else None
        return d


__all__ = [
    "CalibrationReport",
    "Decision",
    "FaceIdentification",
    "GalleryInfo",
    "Identification",
    "ItemRecord",
    "Match",
    "Verification",
]
