"""Photos and locations a customer sends with a fault report (Telegram; the web chat takes text only).

A transport hands one in with the message (core.dialogue.service.Incoming.attachment): a Photo (its bytes,
fetched when it arrived, and the channel's file id) or a Location (latitude, longitude). During the fault
form it waits in the form's state and goes onto the ticket when the ticket opens; within ATTACH_WINDOW after
the customer's latest ticket was opened it goes straight onto that ticket (TicketAttachment). Staff see them
in the console's ticket list (a photo through a guarded route, a location as plain coordinates).

A photo's type is read from its first bytes (JPEG, PNG, WebP, GIF): what the console serves is always an image
of the type it says, whatever the sender claimed.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from core.db.repository import RepositoryBase
from core.errors import InvalidInput
from core.models import TicketAttachment
from core.models.enums import AttachmentKind

MAX_PHOTO_BYTES = 5 * 1024 * 1024  # larger ones are not fetched (Telegram's largest photo size is far smaller)
MAX_PER_TICKET = 5  # photos and locations one ticket takes
ATTACH_WINDOW = timedelta(minutes=30)  # after a ticket opened, what the customer sends still goes onto it
MAX_FILE_ID = 200  # ticket_attachments.file_id


def image_type(content: bytes) -> str | None:
    """The image type of the bytes, from their signature (None: not an image we show)."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo: its bytes (None when the channel could not fetch it: only its file id is kept), the type read
    from them, and the channel's own reference (Telegram's file_id)."""

    content: bytes | None
    content_type: str | None = None
    file_id: str | None = None

    def __post_init__(self) -> None:
        if self.file_id is not None and len(self.file_id) > MAX_FILE_ID:
            raise InvalidInput(f"a file id has at most {MAX_FILE_ID} characters", field="attachment")
        if self.content is None:
            object.__setattr__(self, "content_type", None)
            return
        if len(self.content) > MAX_PHOTO_BYTES:
            raise InvalidInput(f"a photo has at most {MAX_PHOTO_BYTES} bytes", field="attachment")
        found = image_type(self.content)
        if found is None:
            raise InvalidInput("the photo is not a JPEG, PNG, WebP or GIF image", field="attachment")
        object.__setattr__(self, "content_type", found)

    kind = AttachmentKind.PHOTO


@dataclass(frozen=True, slots=True)
class Location:
    """A point on the map the customer shared."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latitude) and math.isfinite(self.longitude)):
            raise InvalidInput("a location needs finite coordinates", field="attachment")
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise InvalidInput("a location is a latitude in -90..90 and a longitude in -180..180", field="attachment")

    kind = AttachmentKind.LOCATION

    @property
    def place(self) -> str:
        """ "lat, lon" (what the ticket's place says when the customer sent a location for it)."""
        return coordinates(self.latitude, self.longitude)


Attachment = Photo | Location


def coordinates(latitude: float, longitude: float) -> str:
    return f"{latitude:.6f}, {longitude:.6f}"


def row_of(ticket_id: int, attachment: Attachment, at: datetime) -> TicketAttachment:
    if isinstance(attachment, Photo):
        return TicketAttachment(
            ticket_id=ticket_id,
            kind=AttachmentKind.PHOTO,
            file_id=attachment.file_id,
            content=attachment.content,
            content_type=attachment.content_type,
            created_at=at,
        )
    return TicketAttachment(
        ticket_id=ticket_id,
        kind=AttachmentKind.LOCATION,
        latitude=attachment.latitude,
        longitude=attachment.longitude,
        created_at=at,
    )


# ------------------------------------------------------------ waiting in the fault form's state (JSON)


def dump_pending(attachments: list[Attachment]) -> str:
    """The attachments a fault form holds until its ticket opens, as one string (a form slot)."""
    items: list[dict[str, Any]] = []
    for a in attachments:
        if isinstance(a, Photo):
            content = base64.b64encode(a.content).decode("ascii") if a.content is not None else None
            items.append({"kind": "photo", "file_id": a.file_id, "content": content})
        else:
            items.append({"kind": "location", "latitude": a.latitude, "longitude": a.longitude})
    return json.dumps(items)


def load_pending(raw: str | None) -> list[Attachment]:
    """What dump_pending wrote (an unreadable slot holds nothing)."""
    if not raw:
        return []
    try:
        items = json.loads(raw)
        found: list[Attachment] = []
        for item in items:
            if item.get("kind") == "photo":
                content = base64.b64decode(item["content"]) if item.get("content") is not None else None
                found.append(Photo(content, file_id=item.get("file_id")))
            elif item.get("kind") == "location":
                found.append(Location(float(item["latitude"]), float(item["longitude"])))
        return found
    except (ValueError, TypeError, KeyError, AttributeError, InvalidInput):
        return []


# ---------------------------------------------------------------------------------- what staff see


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """An attachment as the console lists it (a photo's bytes are served by their own route)."""

    id: int
    ticket_id: int
    kind: str
    content_type: str | None
    has_content: bool
    latitude: float | None
    longitude: float | None
    created_at: datetime

    @property
    def place(self) -> str:
        if self.latitude is None or self.longitude is None:
            return ""
        return coordinates(self.latitude, self.longitude)


@dataclass(frozen=True, slots=True)
class PhotoContent:
    content: bytes
    content_type: str


class TicketAttachmentRepository(RepositoryBase[TicketAttachment]):
    model = TicketAttachment

    async def count_of(self, ticket_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id)
            )
            or 0
        )

    async def views_of(self, ticket_ids: list[int]) -> dict[int, list[AttachmentView]]:
        """The tickets' attachments, oldest first, without the photos' bytes."""
        if not ticket_ids:
            return {}
        rows = await self.session.execute(
            select(
                TicketAttachment.id,
                TicketAttachment.ticket_id,
                TicketAttachment.kind,
                TicketAttachment.content_type,
                TicketAttachment.content.is_not(None),
                TicketAttachment.latitude,
                TicketAttachment.longitude,
                TicketAttachment.created_at,
            )
            .where(TicketAttachment.ticket_id.in_(ticket_ids))
            .order_by(TicketAttachment.ticket_id, TicketAttachment.created_at, TicketAttachment.id)
        )
        found: dict[int, list[AttachmentView]] = {}
        for row in rows:
            view = AttachmentView(
                id=row[0],
                ticket_id=row[1],
                kind=str(row[2]),
                content_type=row[3],
                has_content=bool(row[4]),
                latitude=row[5],
                longitude=row[6],
                created_at=row[7],
            )
            found.setdefault(view.ticket_id, []).append(view)
        return found

    async def of_ticket(self, ticket_id: int, attachment_id: int) -> TicketAttachment | None:
        return await self.session.scalar(
            select(TicketAttachment).where(
                TicketAttachment.id == attachment_id, TicketAttachment.ticket_id == ticket_id
            )
        )
