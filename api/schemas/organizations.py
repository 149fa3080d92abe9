from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel, Text


class OrganizationPut(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=255)]


class OrganizationResource(ResponseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
