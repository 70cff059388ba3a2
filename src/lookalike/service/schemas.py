"""Request and response bodies of the HTTP API (pydantic; they also make the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Body(BaseModel):
    """Request bodies reject unknown keys, so a typo ('vector' for 'vectors') is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


def _finite(rows: list[list[float]] | None) -> list[list[float]] | None:
    if rows is None:
        return rows
    for i, row in enumerate(rows):
        if not row:
            raise ValueError(f"vector {i} is empty")
        if not all(math.isfinite(x) for x in row):
            raise ValueError(f"vector {i} holds NaN or infinite values")
    return rows


class EnrollJSON(_Body):
    """Enroll texts or vectors (images go as multipart/form-data: fields 'identity' and 'images')."""

    identity: str = Field(min_length=1, max_length=200, examples=["alice"])
    texts: list[str] | None = Field(None, min_length=1, description="for galleries built with a text model")
    vectors: list[list[float]] | None = Field(None, min_length=1, description="for vector galleries")
    metadata: dict[str, Any] | None = None

    @field_validator("vectors")
    @classmethod
    def _vectors_finite(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        return _finite(v)


class QueryJSON(_Body):
    """Identify texts or vectors (images go as multipart/form-data: field 'images', optional 'k')."""

    texts: list[str] | None = Field(None, min_length=1)
    vectors: list[list[float]] | None = Field(None, min_length=1)
    k: int = Field(5, ge=1, description="matches to return per query")

    @field_validator("vectors")
    @classmethod
    def _vectors_finite(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        return _finite(v)


class VerifyJSON(_Body):
    """Two texts or two vectors to compare (images go as multipart/form-data: fields 'a' and 'b')."""

    a: str | list[float]
    b: str | list[float]


class MatchOut(BaseModel):
    identity: str
    score: float
    thumbnail: str | None = Field(None, description="URL of a thumbnail of this identity, when one was enrolled")


class IdentificationOut(BaseModel):
    decision: Literal["known", "unknown", "uncalibrated"] = Field(
        description="'uncalibrated' while the gallery has no threshold: the matches are the nearest identities, "
        "not a recognition (calibrate the gallery)"
    )
    identity: str | None = Field(description="the recognised identity; null unless the decision is 'known'")
    score: float | None
    threshold: float | None
    matches: list[MatchOut]
    image: int = Field(default=0, description="index of the query (uploaded image) this result belongs to")
    box: list[int] | None = Field(
        default=None, description="face models: the face's box [left, top, right, bottom] in the image's pixels"
    )
    detected: bool | None = Field(
        default=None, description="face models: false when the whole image stood for the face"
    )


class SkippedOut(BaseModel):
    image: int = Field(description="index of the uploaded image that was left out")
    reason: str = Field(description="why (no face found)")


class IdentifyResponse(BaseModel):
    results: list[IdentificationOut]
    skipped: list[SkippedOut] = Field(
        default_factory=list, description="face models with skip_no_face: images left out because no face was found"
    )


class VerifyResponse(BaseModel):
    same: bool
    score: float
    threshold: float


class EnrolledFaceOut(BaseModel):
    image: int = Field(description="index of the uploaded image")
    box: list[int] = Field(description="the enrolled face's box [left, top, right, bottom]")
    detected: bool = Field(description="false when the whole image stood for the face")
    faces_in_image: int = Field(description="faces found in the image; the largest one is enrolled")


class EnrollResponse(BaseModel):
    identity: str
    item_ids: list[int]
    gallery_size: int
    faces: list[EnrolledFaceOut] | None = Field(
        default=None, description="face models: which face of each image was enrolled"
    )
    skipped: list[SkippedOut] = Field(
        default_factory=list, description="face models with skip_no_face: images left out because no face was found"
    )


class RemoveResponse(BaseModel):
    removed_item_ids: list[int]
    gallery_size: int


class IdentityOut(BaseModel):
    identity: str
    items: int
    thumbnail: str | None = None


class IdentitiesResponse(BaseModel):
    identities: list[IdentityOut]
    total: int


class HealthResponse(BaseModel):
    status: Literal["ok"]
    version: str
    model_kind: str
    gallery_items: int


class ErrorDetail(BaseModel):
    type: str
    message: str
    status: int
    request_id: str


class ErrorResponse(BaseModel):
    """The one error shape of every non-2xx answer."""

    error: ErrorDetail


__all__ = [
    "EnrollJSON",
    "EnrollResponse",
    "ErrorResponse",
    "HealthResponse",
    "IdentificationOut",
    "IdentifyResponse",
    "IdentitiesResponse",
    "IdentityOut",
    "MatchOut",
    "QueryJSON",
    "RemoveResponse",
    "VerifyJSON",
    "VerifyResponse",
]
