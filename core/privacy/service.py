"""A customer's personal data on request (export, erasure) and transcript retention (GRIDTALK_RETENTION_DAYS).

Built once per process (PrivacyService(clock, audit)); each call takes the caller's session and never commits.
Every export, erasure and purge is audited (actor None: the command line or the system); the audit rows are
never touched by an erasure, and name the subject by record ids only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import InvalidInput, NotFound
from core.models import Identity, UtilityAccount
from core.models.enums import ChatChannel
from core.privacy.repository import Holdings, PrivacyRepository
from core.staff.audit import Actor, AuditService


class PrivacyAction(StrEnum):
    CUSTOMER_EXPORT = "customer.export"
    CUSTOMER_ERASE = "customer.erase"
    TRANSCRIPTS_PURGE = "transcripts.purge"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a request is about: exactly one of an account number, a Telegram user id, a web chat session id."""

    account: str | None = None
    telegram_user: str | None = None
    web_session: str | None = None

    def kind(self) -> str:
        given = [k for k in ("account", "telegram_user", "web_session") if getattr(self, k)]
        if len(given) != 1:
            raise InvalidInput("give exactly one of --account, --telegram-user, --web-session")
        return given[0]


@dataclass(frozen=True, slots=True)
class ErasureReport:
    customers: int
    accounts: int
    identities: int
    conversations: int
    messages: int
    tickets: int
    feedback: int
    deliveries: int
    followups: int = 0
    applications: int = 0


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: datetime | None  # None: retention is off
    messages: int
    comments: int
    dry_run: bool


class PrivacyService:
    def __init__(self, clock: Clock, audit: AuditService) -> None:
        self.clock = clock
        self.audit = audit

    async def _holdings(self, session: AsyncSession, subject: Subject) -> Holdings:
        kind = subject.kind()
        repo = PrivacyRepository(session)
        account_ids: set[int] = set()
        identity_ids: set[int] = set()
        if kind == "account":
            account: UtilityAccount | None = await repo.account_by_number(subject.account or "")
            if account is None:
                raise NotFound("no such account", field="account")
            account_ids.add(account.id)
        else:
            channel, external = (
                (ChatChannel.TELEGRAM, subject.telegram_user)
                if kind == "telegram_user"
                else (ChatChannel.WEB, subject.web_session)
            )
            identity: Identity | None = await repo.identity(channel, external or "")
            if identity is None:
                raise NotFound(f"no such {kind.replace('_', ' ')}", field=kind)
            identity_ids.add(identity.id)
            account_ids |= await repo.bound_account_ids(identity_ids)
        return await repo.holdings(account_ids, identity_ids)

    async def export(
        self, session: AsyncSession, subject: Subject, *, actor: Actor = None, client: str | None = "cli"
    ) -> dict[str, Any]:
        """Everything held about the person (JSON-ready), audited."""
        h = await self._holdings(session, subject)
        data = {
            "exported_at": self.clock.now().isoformat(),
            "customers": _rows(h.customers),
            "accounts": _rows(h.accounts),
            "key_account_contacts": _rows(h.contacts),
            "identities": _rows(h.identities),
            "bindings": _rows(h.bindings),
            "binding_attempts": _rows(h.binding_attempts),
            "conversations": _rows(h.conversations),
            "messages": _rows(h.messages),
            "escalations": _rows(h.escalations),
            "feedback": _rows(h.feedback),
            "tickets": _rows(h.tickets),
            "deliveries": _rows(h.deliveries),
            "surveys": _rows(h.surveys),
            "followups": _rows(h.followups),
            "applications": _rows(h.applications),
            "application_events": _rows(h.application_events),
        }
        self.audit.record(session, actor, PrivacyAction.CUSTOMER_EXPORT, *_target(h), _detail(subject, h), client)
        return data

    async def erase(
        self, session: AsyncSession, subject: Subject, *, actor: Actor = None, client: str | None = "cli"
    ) -> ErasureReport:
        """Clear the person's personal fields; anonymised statistics stay. Audited; running it twice changes
        nothing more (by an identity, the second run finds no such identity: its id was replaced)."""
        h = await self._holdings(session, subject)
        await PrivacyRepository(session).erase(h)
        report = ErasureReport(
            customers=len(h.customers),
            accounts=len(h.accounts),
            identities=len(h.identities),
            conversations=len(h.conversations),
            messages=len(h.messages),
            tickets=len(h.tickets),
            feedback=len(h.feedback),
            deliveries=len(h.deliveries),
            followups=len(h.followups),
            applications=len(h.applications),
        )
        self.audit.record(
            session,
            actor,
            PrivacyAction.CUSTOMER_ERASE,
            *_target(h),
            {**_detail(subject, h), "erased": _jsonable_report(report)},
            client,
        )
        return report

    async def purge_transcripts(
        self, session: AsyncSession, retention_days: int, *, dry_run: bool = False, client: str | None = "system"
    ) -> PurgeReport:
        """Clear the text (and button titles) of messages, and feedback comments, older than retention_days;
        conversations, intents, scores, escalations and deliveries stay. 0: retention off, nothing purged.
        Idempotent: a second run finds nothing. Audited (actor None) when something was purged."""
        if retention_days <= 0:
            return PurgeReport(None, 0, 0, dry_run)
        cutoff = self.clock.now() - timedelta(days=retention_days)
        repo = PrivacyRepository(session)
        messages, last_id = 0, 0
        while batch := await repo.old_messages(cutoff, last_id):
            last_id = batch[-1].id
            for message in batch:
                buttons = [{**b, "title": ""} for b in message.buttons or []]
                if message.text == "" and buttons == message.buttons:
                    continue
                messages += 1
                if not dry_run:
                    message.text = ""
                    message.buttons = buttons
            if not dry_run:
                await session.flush()
        if dry_run:
            comments = await repo.count_old_comments(cutoff)
        else:
            comments = await repo.purge_old_comments(cutoff)
            if messages or comments:
                self.audit.record(
                    session,
                    None,
                    PrivacyAction.TRANSCRIPTS_PURGE,
                    "messages",
                    None,
                    {"retention_days": retention_days, "cutoff": cutoff, "messages": messages, "comments": comments},
                    client,
                )
        return PurgeReport(cutoff, messages, comments, dry_run)


def _target(h: Holdings) -> tuple[str, object]:
    if h.customers:
        return "customer", h.customers[0].id
    return "identity", h.identities[0].id if h.identities else None


def _detail(subject: Subject, h: Holdings) -> dict[str, Any]:
    """What the audit row says: how the subject was named (not the value) and record ids, no personal data."""
    return {
        "by": subject.kind(),
        "customer_ids": [c.id for c in h.customers],
        "account_ids": [a.id for a in h.accounts],
        "identity_ids": [i.id for i in h.identities],
    }


def _jsonable_report(report: ErasureReport) -> dict[str, int]:
    return {name: getattr(report, name) for name in report.__slots__}


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [{attr.key: _value(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs} for row in rows]


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value
