"""Response bodies whose decimals go out as JSON numbers written with the Decimal's own digits.

pydantic (and so FastAPI) turns a ``Decimal`` into a JSON string, and ``float`` would round it
(``0.1 + 0.2``; a rate with 12 decimals; 10¹⁵ minor units). ``ExactJSONResponse`` dumps the model
in Python mode (Decimals kept), lets simplejson write each Decimal as it stands (``144.00``,
``1000``, ``1.234``) and hands everything else JSON has no type for (datetimes, dates, UUIDs, enums)
to pydantic, so those look as in every other response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import simplejson
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from starlette.background import BackgroundTask


def dumps(content: Any) -> bytes:
    """JSON for ``content`` (a model, or plain data holding Decimals): Decimals as exact numbers."""
    if isinstance(content, BaseModel):
        content = content.model_dump(mode="python")
    return simplejson.dumps(
        content,
        use_decimal=True,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
        default=to_jsonable_python,
    ).encode("utf-8")


class ExactJSONResponse(JSONResponse):
    """A JSONResponse for a pydantic model (or plain data) whose Decimals are exact JSON numbers."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type, background)

    def render(self, content: Any) -> bytes:
        return dumps(content)
