"""An outage as staff read it back: with its notice plan, its deliveries, and its notices previewed as the
recipients will read them. Read-only; built once per process, a session per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.models.enums import Audience, Language, Stage
from core.notices.audiences import AudienceRepository
from core.notices.render import NoticeRenderer
from core.notices.repository import OutboxRepository, StageRepository
from core.outages.planner import early_by
from core.outages.repository import OutageRepository
from core.outages.service import get_outage

if TYPE_CHECKING:
    from core.notices.planning import NoticePlanner

REGULAR_ORDER = (Stage.INITIAL, Stage.FIRST, Stage.SECOND, Stage.FINAL)
CLOSING = (Stage.CHANGE, Stage.CANCEL, Stage.RESTORED)


@dataclass(frozen=True, slots=True)
class StageView:
    stage: str
    audience: str
    revision: int
    due_at: datetime
    send_from: datetime
    status: str
    recipients: int
    # minutes before its due time the stage starts sending, because at the rate its whole audience could
    # not be reached by then otherwise (0: it starts on time)
    early_by_minutes: int = 0


@dataclass(frozen=True, slots=True)
class OutageView:
    id: int
    kind: str
    status: str
    areas: list[str]
    feeders: list[str]
    accounts: list[str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    contact: str
    published_at: datetime | None
    cancelled_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime | None
    estimated_restoration_at: datetime | None = None  # a fault's (its ends_at follows it until restored)
    stages: list[StageView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PreviewItem:
    stage: str
    language: str
    audience: str
    subject: str
    text: str  # as sent on Telegram (HTML parse mode)
    buttons: list[dict[str, str]]
    # minutes before its due time this stage starts sending (its audience could not all be reached by then
    # at the configured rate otherwise); for a draft, as it would be if published now
    early_by_minutes: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    recipient: str
    account_number: str | None
    segment: str
    stage: str
    channel: str
    due_at: datetime
    status: str
    attempts: int
    sent_at: datetime | None
    acked_at: datetime | None
    unconfirmed: bool
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[DeliveryView]
    total: int
    counts: dict[str, int]


def minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


class OutageViews:
    def __init__(self, clock: Clock, planner: NoticePlanner, renderer: NoticeRenderer) -> None:
        self.clock = clock
        self.planner = planner
        self.renderer = renderer

    async def outage(self, session: AsyncSession, outage_id: int) -> OutageView:
        outage = await get_outage(session, outage_id)
        repo = OutageRepository(session)
        scope = await repo.scope(outage.id)
        numbers = await repo.account_numbers(scope.account_ids)
        return OutageView(
            id=outage.id,
            kind=outage.kind,
            status=outage.status,
            areas=list(scope.area_codes),
            feeders=list(scope.feeder_codes),
            accounts=sorted(numbers.values()),
            starts_at=outage.starts_at,
            ends_at=outage.ends_at,
            reason=outage.reason,
            contact=outage.contact,
            published_at=outage.published_at,
            cancelled_at=outage.cancelled_at,
            completed_at=outage.completed_at,
            updated_at=outage.updated_at,
            estimated_restoration_at=outage.estimated_restoration_at,
            stages=[
                StageView(
                    s.stage,
                    s.audience,
                    s.revision,
                    s.due_at,
                    s.send_from,
                    s.status,
                    s.recipients,
                    early_by_minutes=minutes(early_by(s.due_at, s.send_from)),
                )
                for s in await StageRepository(session).of_outage(outage.id)
            ],
        )

    async def preview(
        self, session: AsyncSession, outage_id: int, *, languages: tuple[str, ...] = tuple(Language)
    ) -> list[PreviewItem]:
        """The notices of an outage as its recipients would read them: each stage of its plan (the plan it
        would get if published now, for a draft) and the change, cancellation and restoration notices, in
        each language, for residential subscribers and, when it affects any, for its first key account."""
        outage = await get_outage(session, outage_id)
        repo = OutageRepository(session)
        facts = (await repo.facts([outage]))[0]
        timing: dict[tuple[str, str], tuple[datetime, datetime]] = {
            (s.stage, s.audience): (s.due_at, s.send_from)
            for s in await StageRepository(session).of_outage(outage.id)
            if s.stage not in CLOSING
        }
        if not timing:  # a draft: the plan it would get if published now
            timing = await self.planner.projection(session, outage)
        stages = {stage for stage, _ in timing}
        ordered = sorted(stages, key=lambda s: REGULAR_ORDER.index(s) if s in REGULAR_ORDER else 9)
        audiences = AudienceRepository(session)
        contacts = await audiences.key_contacts(await repo.scope(outage.id))
        key = None
        if contacts:
            key = (await audiences.key_accounts([contacts[0].account_id])).get(contacts[0].account_id)
        items: list[PreviewItem] = []
        for stage in [*ordered, *CLOSING]:
            for language in languages:
                for audience, key_info in ((Audience.RESIDENTIAL, None), (Audience.KEY_ACCOUNT, key)):
                    if audience == Audience.KEY_ACCOUNT and key_info is None:
                        continue
                    notice = self.renderer.notice(stage, language, facts, key=key_info, delivery_id=0)
                    due, send_from = timing.get((stage, audience), (None, None))
                    items.append(
                        PreviewItem(
                            stage=stage,
                            language=language,
                            audience=audience,
                            subject=notice.subject,
                            text=notice.html,
                            buttons=[{"title": b.title, "payload": b.payload} for b in notice.buttons],
                            early_by_minutes=minutes(early_by(due, send_from)) if due and send_from else 0,
                        )
                    )
        return items

    async def deliveries(
        self,
        session: AsyncSession,
        outage_id: int,
        *,
        stage: str | None = None,
        status: str | None = None,
        segment: str | None = None,
        manager_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> DeliveryPage:
        """Every planned and sent delivery of an outage, key accounts first, with counts per status. A final
        confirmation is `unconfirmed` once its key account's manager was alerted and it is still unanswered.
        manager_id: only the deliveries of the key accounts this account manager manages."""
        await get_outage(session, outage_id)
        rows, total, counts = await OutboxRepository(session).list_deliveries(
            outage_id, stage=stage, status=status, segment=segment, manager_id=manager_id, limit=limit, offset=offset
        )
        return DeliveryPage(
            items=[
                DeliveryView(
                    id=d.id,
                    recipient=r.recipient,
                    account_number=r.account_number,
                    segment=d.segment,
                    stage=d.stage,
                    channel=d.channel,
                    due_at=d.due_at,
                    status=d.status,
                    attempts=d.attempts,
                    sent_at=d.sent_at,
                    acked_at=d.acked_at,
                    unconfirmed=d.stage == Stage.FINAL and d.status == "sent" and d.unconfirmed_alerted_at is not None,
                    last_error=d.last_error,
                )
                for r in rows
                for d in (r.delivery,)
            ],
            total=total,
            counts=counts,
        )
