"""Input types shared by the API's routes: what a request may carry, stated in the OpenAPI.

- Ids (`RecordId` in paths, `Cursor` in queries) fit the id columns (INTEGER: 32 bits on PostgreSQL), and
  `Offset` a BIGINT: a larger number is a 422, never a database error.
- Text (`text_field(...)`, `TEXT_PATTERN`) has a maximum length and no NUL character (PostgreSQL cannot store one);
  anything else — right-to-left marks, zero-width characters, emoji, markup — is stored and shown literally.
- Times (`Instant`) carry their UTC offset and lie between 2000 and 2100, so arithmetic on them (notice
  stages, time zones) cannot leave the calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, Field

from core.security import MAX_ID

TEXT_PATTERN = r"^[^\x00]*$"  # no NUL
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

MAX_OFFSET = 2**63 - 1  # SQL OFFSET takes a BIGINT

RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="a record's id")]
Cursor = Annotated[int, Query(ge=0, le=MAX_ID, description="only records with an id above this one")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="how many records to skip")]


def text_field(max_length: int, default: Any = ..., *, min_length: int | None = None, **more: Any) -> Any:
    """A text field of a request body: at most `max_length` characters, no NUL."""
    return Field(default, min_length=min_length, max_length=max_length, pattern=TEXT_PATTERN, **more)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"a time between {EARLIEST.year} and {LATEST.year}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
