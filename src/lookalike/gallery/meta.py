"""The typed meta record of a gallery: which model built it, how identities are scored, the threshold.

Stores keep it as a key/value table (one JSON value per top-level field: ``model``, ``model_source``,
``scoring``, ``threshold``, ``calibration``, ``calibrated_at_size``, ``grouping``, ``created``,
``lookalike_version``) — the layout every gallery has used since the first version, so existing galleries open
unchanged. Keys this version does not know are left alone in the store and ignored here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lookalike._version import __version__
from lookalike.errors import GalleryError
from lookalike.gallery.scoring import Scoring, check_scoring
from lookalike.models.distances import Distance, get_distance

if TYPE_CHECKING:
    from lookalike.models.embedder import EmbeddingModel


class DistanceRecord(BaseModel):
    """A distance as recorded: its registry name and parameters (``Distance.to_dict()``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    params: dict[str, float] = Field(default_factory=dict)

    def build(self) -> Distance:
        return get_distance({"name": self.name, "params": dict(self.params)})


class ModelRecord(BaseModel):
    """The model that built a gallery; a gallery refuses any model with another ``fingerprint``."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    encoder: str
    kind: str = "image"
    fingerprint: str
    embedding_size: int = Field(gt=0)
    distance: DistanceRecord
    #: neighbours of query expansion in identify (the model card's ``query_expansion``; 0 = none)
    query_expansion: int = Field(default=0, ge=0)
    #: neighbours each stored item is mixed with before identify ranks it (the card's; 0 = none)
    database_augmentation: int = Field(default=0, ge=0)
    #: graph neighbours of diffusion re-ranking in identify (the card's; 0 = none; models.diffusion)
    diffusion: int = Field(default=0, ge=0)

    @classmethod
    def of(cls, model: EmbeddingModel) -> ModelRecord:
        return cls(
            encoder=model.card.encoder,
            kind=model.kind,
            fingerprint=model.fingerprint,
            embedding_size=int(model.embedding_size),
            distance=DistanceRecord.model_validate(model.distance.to_dict()),
            query_expansion=model.query_expansion,
            database_augmentation=model.database_augmentation,
            diffusion=model.diffusion,
        )

    def describe(self) -> str:
        return f"encoder {self.encoder!r}, fingerprint {self.fingerprint[:16]}"


class GalleryMeta(BaseModel):
    """A gallery's meta record (see the module docstring)."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    model: ModelRecord
    model_source: str | None = None
    scoring: Scoring = "max"
    threshold: float | None = None
    calibration: dict[str, Any] | None = None
    calibrated_at_size: int | None = None
    #: discovery's grouping settings chosen for the model on its training classes (``GroupingParams.to_dict()``),
    #: stored with a calibration from a run that chose them; ``None``: the library default
    grouping: dict[str, Any] | None = None
    created: str | None = None
    lookalike_version: str | None = None

    @classmethod
    def new(
        cls, model: EmbeddingModel, *, scoring: str, threshold: float | None, model_source: str | None
    ) -> GalleryMeta:
        """The record of a gallery created now for ``model``; a bad ``scoring`` is a ConfigError."""
        return cls(
            model=ModelRecord.of(model),
            model_source=model_source,
            scoring=check_scoring(scoring),
            threshold=threshold,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            lookalike_version=__version__,
        )

    @classmethod
    def read(cls, stored: dict[str, Any], location: str) -> GalleryMeta:
        """The record from a store's key/value meta; :class:`GalleryError` naming the bad key otherwise."""
        try:
            return cls.model_validate(stored)
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "meta"
            raise GalleryError(
                f"the gallery at {location} has an unreadable meta record ({key}: {first['msg']}); was it written "
                "by another program, or by a newer lookalike?"
            ) from None

    def to_store(self) -> dict[str, Any]:
        """The key/value form the stores keep (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


__all__ = ["DistanceRecord", "GalleryMeta", "ModelRecord"]
