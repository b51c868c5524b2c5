"""The outbox's vocabulary: who a message is for (ContactKey), how they are reached (one routing function),
and the one shape of a message waiting to be sent (DeliveryDraft). Everything that puts a row in the outbox
— the notice planner, the email fallback after a 403, the alerts to account managers, and later surveys,
application updates, statements and reminders — makes drafts; the repository only stores them.

A draft names its subject (what it is about: kind + id), its purpose (the notice stage, or the alert kind),
its tier (staff alerts, then key accounts, then everybody else: the dispatcher sends a lower tier only when
the tier above is out) and an optional deadline after which it is skipped rather than sent late.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from core.config import Settings
from core.models.enums import DeliveryChannel, DeliveryStatus, Language, Segment, SubjectKind, Tier
from core.security import parse_id

ContactKind = Literal["identity", "contact", "staff"]
_KINDS: tuple[ContactKind, ...] = ("identity", "contact", "staff")


@dataclass(frozen=True, slots=True, order=True)
class ContactKey:
    """The person a message is for, whichever address it goes to: an identity (a customer who talks to
    us), a key-account contact, or a staff member (with what the alert is about, so that two alerts to one
    manager in one round are two messages)."""

    kind: ContactKind
    id: int
    about: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" + (f":{self.about}" if self.about else "")

    @classmethod
    def parse(cls, text: str) -> ContactKey:
        kind, _, rest = text.partition(":")
        number, _, about = rest.partition(":")
        ident = parse_id(number)
        if kind not in _KINDS or ident is None:
            raise ValueError(f"not a contact key: {text!r}")
        return cls(kind, ident, about)

    @classmethod
    def identity(cls, identity_id: int) -> ContactKey:
        return cls("identity", identity_id)

    @classmethod
    def contact(cls, contact_id: int) -> ContactKey:
        return cls("contact", contact_id)

    @classmethod
    def staff(cls, staff_id: int, about: str) -> ContactKey:
        return cls("staff", staff_id, about)


def ids_of(keys: Collection[str], kind: ContactKind) -> list[int]:
    """The ids of one kind among stored contact keys."""
    found = []
    for text in keys:
        key = ContactKey.parse(text)
        if key.kind == kind:
            found.append(key.id)
    return found


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    id: int

    @classmethod
    def outage(cls, outage_id: int) -> Subject:
        return cls(SubjectKind.OUTAGE, outage_id)


# ------------------------------------------------------------------------------------------ routing


@dataclass(frozen=True, slots=True)
class Route:
    channel: DeliveryChannel
    address: str
    telegram_chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class ContactPoint:
    """The addresses a person has; telegram_blocked: they blocked the bot (a 403)."""

    telegram_chat_id: int | None = None
    email: str | None = None
    phone: str | None = None
    telegram_blocked: bool = False


def available_channels(settings: Settings) -> frozenset[DeliveryChannel]:
    """The channels this installation can send on: Telegram with a bot token, email with an SMTP host,
    SMS with a gateway webhook."""
    channels = set()
    if settings.telegram_token is not None:
        channels.add(DeliveryChannel.TELEGRAM)
    if settings.smtp_host:
        channels.add(DeliveryChannel.EMAIL)
    if settings.sms_webhook_url:
        channels.add(DeliveryChannel.SMS)
    return frozenset(channels)


def routes(point: ContactPoint, available: Collection[str], *, email_always: bool) -> tuple[Route, ...]:
    """How a person is reached, in fallback order: Telegram when they have a chat and have not blocked the
    bot; email too (always, or only when Telegram cannot reach them); SMS (when a gateway is configured) only
    when neither can: it is the last resort, also used when both failed (core.notices.blocked).
    Routes on channels this installation lacks are dropped, unless none is left: then the first one is
    kept, and waits in the outbox (visible in the API) until the channel is configured."""
    telegram = point.telegram_chat_id is not None and not point.telegram_blocked
    wanted: list[Route] = []
    if telegram:
        wanted.append(Route(DeliveryChannel.TELEGRAM, str(point.telegram_chat_id), point.telegram_chat_id))
    if point.email and (email_always or not (telegram and DeliveryChannel.TELEGRAM in available)):
        wanted.append(Route(DeliveryChannel.EMAIL, point.email))
    usable = tuple(r for r in wanted if r.channel in available)
    if not usable and point.phone and DeliveryChannel.SMS in available:
        return (Route(DeliveryChannel.SMS, point.phone),)
    return usable or tuple(wanted[:1])


# ------------------------------------------------------------------------------------------- drafts


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person an outbox message is for, and every route to them."""

    key: ContactKey
    tier: Tier
    segment: Segment
    language: Language
    routes: tuple[Route, ...]
    account_id: int | None = None
    identity_id: int | None = None
    key_contact_id: int | None = None
    priority: int = 0  # within the tier: higher first (a key account's criticality)

    def drafts(
        self,
        subject: Subject,
        purpose: str,
        *,
        due_at: datetime,
        release_at: datetime | None,
        revision: int = 0,
        deadline: datetime | None = None,
    ) -> Iterator[DeliveryDraft]:
        for route in self.routes:
            yield DeliveryDraft(
                subject=subject,
                purpose=purpose,
                recipient=self,
                route=route,
                due_at=due_at,
                release_at=release_at,
                revision=revision,
                deadline=deadline,
            )

    def rerouted(self, routes: tuple[Route, ...]) -> Recipient:
        return replace(self, routes=routes)


@dataclass(frozen=True, slots=True)
class DeliveryDraft:
    """One message to one person on one route, before it is stored."""

    subject: Subject
    purpose: str  # a notice Stage, or an AlertKind
    recipient: Recipient
    route: Route
    due_at: datetime  # when it is promised
    release_at: datetime | None  # when the dispatcher may claim it; None: held until its stage starts
    revision: int = 0  # the round of a purpose that can be told more than once (a second change notice)
    deadline: datetime | None = None  # not sent after this: skipped

    @property
    def unique_key(self) -> tuple[str, int, str, str, str, int]:
        return (
            self.subject.kind,
            self.subject.id,
            str(self.recipient.key),
            self.purpose,
            self.route.channel,
            self.revision,
        )

    def row(self, now: datetime) -> dict[str, Any]:
        """The outbox row (notice_deliveries), spelled out here and nowhere else."""
        r = self.recipient
        return {
            "subject_kind": self.subject.kind,
            "subject_id": self.subject.id,
            "outage_id": self.subject.id if self.subject.kind == SubjectKind.OUTAGE else None,
            "contact_key": str(r.key),
            "identity_id": r.identity_id,
            "key_contact_id": r.key_contact_id,
            "account_id": r.account_id,
            "segment": r.segment,
            "tier": r.tier,
            "priority": r.priority,
            "stage": self.purpose,
            "revision": self.revision,
            "channel": self.route.channel,
            "address": self.route.address,
            "telegram_chat_id": self.route.telegram_chat_id,
            "language": r.language,
            "due_at": self.due_at,
            "deadline_at": self.deadline,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": self.release_at,
            "created_at": now,
        }

    # the fields a re-planned row may change in place (same person, same route)
    MUTABLE = ("address", "telegram_chat_id", "language", "priority", "due_at", "deadline_at")
