"""A change of an application's stage told to its people, through the notices' outbox.

Who: a key account's contacts (every notice's channels: Telegram, email as well, SMS as the last resort) and
the customers bound to the account (Telegram, or the web chat's verified email); a contact who also bound the
account is told once, as the contact. How: one outbox row per person and route, subject the application, purpose
`progress`, revision the id of the application event told (so every change is its own message, and writing one
twice changes nothing); tier of key accounts or of everybody else; no deadline. When: at once, except within the
quiet hours (GRIDTALK_NOTICE_QUIET_*), which it waits out for everybody — an application's progress is never
urgent. What: rendered when it is sent (ApplicationProgressNotices, registered in core.notices.subjects) from the
event told — its stage, the next step and its due time — and who to call: the account manager (with their
phone) for a key account, the service hotline for everybody else; the planned outage connecting it needs, when
linked. Staff notes are internal and are never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core.applications.progress import Progress
from core.applications.repository import ApplicationRepository, ApplicationRow
from core.applications.stages import StageRules
from core.clock import Clock
from core.config import Settings
from core.models import ApplicationEvent, NoticeDelivery
from core.models.enums import (
    ApplicationEventKind,
    ApplicationNotice,
    OutageStatus,
    Segment,
    SubjectKind,
)
from core.notices.audiences import AudienceRepository
from core.notices.outbox import Recipient, Subject
from core.notices.planning import NoticePlanner
from core.notices.render import RenderedNotice, plain_text
from core.notices.repository import OutboxRepository
from core.outages.facts import OutageFacts, Scope
from core.outages.planner import end_of_quiet_hours
from core.outages.queries import OutageQueries
from core.templating import Renderer

TEMPLATE = "notices/application_progress"
Render = Callable[[NoticeDelivery], RenderedNotice]


class ApplicationUpdates:
    """Built once per process (core.services); a session per call; never commits."""

    def __init__(self, clock: Clock, planner: NoticePlanner) -> None:
        self.clock = clock
        self.planner = planner

    async def __call__(self, session: AsyncSession, row: ApplicationRow, event: ApplicationEvent) -> int:
        """Queue the message of `event` for everybody the account's applications are told to; how many people."""
        people = await self.recipients(session, row)
        now = self.clock.now()
        release = end_of_quiet_hours(now, self.planner.rules)
        subject = Subject(SubjectKind.APPLICATION, row.application.id)
        drafts = [
            draft
            for person in people
            for draft in person.drafts(
                subject, ApplicationNotice.PROGRESS, due_at=now, release_at=release, revision=event.id
            )
        ]
        await OutboxRepository(session).store(drafts, now)
        return len(people)

    async def recipients(self, session: AsyncSession, row: ApplicationRow) -> list[Recipient]:
        account_id = row.application.account_id
        contacts = []
        if row.segment == Segment.KEY_ACCOUNT:
            contacts = await AudienceRepository(session).key_contacts(Scope(account_ids=(account_id,)))
        people = [self.planner.key_contact(contact) for contact in contacts]
        contact_chats = {c.telegram_chat_id for c in contacts if c.telegram_chat_id is not None}
        for identity in await ApplicationRepository(session).bound_identities(account_id, row.segment):
            if identity.telegram_chat_id not in contact_chats or identity.telegram_chat_id is None:
                people.append(self.planner.subscriber(identity))
        return [person for person in people if person.routes]


class ApplicationProgressNotices:
    """How an outbox row about an application is rendered (a SubjectRenderer of core.notices.subjects)."""

    def __init__(self, renderer: Renderer, rules: StageRules, settings: Settings) -> None:
        self.renderer = renderer
        self.rules = rules
        self.hotline = settings.service_hotline
        self.outages = OutageQueries()

    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        repo = ApplicationRepository(session)
        applications = {i: r for i in {row.subject_id for row in rows} if (r := await repo.row(i)) is not None}
        events = {i: e for i in {row.revision for row in rows} if (e := await repo.event(i)) is not None}
        managers = await repo.managers({a.application.account_id for a in applications.values()})
        outages: dict[int, OutageFacts | None] = {}
        for found in applications.values():
            outage_id = found.application.outage_id
            if outage_id is not None and outage_id not in outages:
                outages[outage_id] = await self.outages.facts(session, outage_id)

        def render(row: NoticeDelivery) -> RenderedNotice:
            found = applications[row.subject_id]
            event = events[row.revision]
            outage = outages.get(found.application.outage_id or 0)
            progress = Progress(
                id=found.application.id,
                kind=found.application.kind,
                stage=event.to_stage,
                account_number=found.account_number,
                customer_name=found.customer_name,
                key_account=found.segment == Segment.KEY_ACCOUNT,
                due_at=event.due_at,
                reopened=event.kind == ApplicationEventKind.REOPENED,
                manager=managers.get(found.application.account_id),
                outage=outage if outage is not None and outage.status == OutageStatus.PUBLISHED else None,
            )
            context = progress.context(self.rules, row.language, row.due_at)
            text = self.renderer.render(TEMPLATE, row.language, html=True, hotline=self.hotline, a=context)
            return RenderedNotice(text, plain_text(text.splitlines()[0]))

        return render
