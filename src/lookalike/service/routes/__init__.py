"""HTTP routes, one module per area; each exposes ``router``. Routes parse, call the gallery, format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path, Request
from pydantic import BaseModel

from lookalike.service.state import ServiceState

#: an item id in a URL: a positive 64-bit integer (larger ones are a clear 422, not an overflow deep inside)
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="an item id, as enroll returned it")]
#: a kept unknown's id in a URL (the same bounds)
UnknownId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a kept unknown's id, as a proposal lists it")]


def get_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState` (a FastAPI dependency)."""
    return request.app.state.service


def thumbnail_url(identity: str) -> str:
    """Where the page fetches an identity's thumbnail."""
    from urllib.parse import quote

    return f"/v1/identities/{quote(identity, safe='')}/thumbnail"


#: OpenAPI description of the multipart image fields, shared by the routes that take uploads
FILES_DOC = {"type": "array", "items": {"type": "string", "format": "binary"}}
SKIP_NO_FACE_DOC = {
    "type": "boolean",
    "default": False,
    "description": "face models: leave out (and list) images without a face instead of failing",
}


def body_doc(
    *, json_schema: type[BaseModel], multipart: Mapping[str, Mapping[str, Any]], summary: str
) -> dict[str, object]:
    """``openapi_extra`` documenting a body that is either multipart (files) or JSON."""
    return {
        "requestBody": {
            "required": True,
            "description": summary,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": multipart}},
                "application/json": {"schema": json_schema.model_json_schema()},
            },
        }
    }


__all__ = ["FILES_DOC", "SKIP_NO_FACE_DOC", "ItemId", "UnknownId", "body_doc", "get_state", "thumbnail_url"]
