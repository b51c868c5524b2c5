"""Applications as staff handle them and customers see them.

Staff create an application for an account (it starts `accepted`, due by its time limit, owned by the key
account's manager, else by whoever created it, or by the staff member named), move it forward (advance) or back
(reopen, with a note), link it to the planned outage connecting it needs, and list them (an account manager:
only their own key accounts'). Every change is a line of its history (application_events) and of the audit log,
in the caller's unit of work, and is told to the account's contacts or bound customers (core.applications.notices).

The chat asks `for_customer`: the applications of the bound account, or of the key accounts whose contact talks
to us from this Telegram chat. Built once per process (core.services); a session per call; never commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core.applications.progress import Progress
from core.applications.repository import ApplicationFilter, ApplicationRepository, ApplicationRow, ManagerRow
from core.applications.stages import FIRST, StageRules, is_overdue
from core.applications.views import (
    ApplicationChanges,
    ApplicationDetail,
    ApplicationView,
    CustomerApplications,
    EventView,
    Keep,
    NewApplication,
)
from core.clock import Clock
from core.errors import InvalidInput, NotFound
from core.models import Application, ApplicationEvent, Identity, StaffUser, UtilityAccount
from core.models.enums import (
    ApplicationEventKind,
    ApplicationKind,
    ApplicationStage,
    ChatChannel,
    OutageKind,
    OutageStatus,
    Segment,
)
from core.outages.facts import OutageFacts
from core.outages.queries import OutageQueries
from core.security import mask_digits
from core.staff.audit import AuditService
from core.staff.permissions import Permission, access
from core.staff.repository import StaffRepository

MAX_DESCRIPTION = 2000
MAX_NOTE = 2000


class ApplicationAudit(StrEnum):
    """The audit log's actions of applications."""

    CREATE = "application.create"
    ADVANCE = "application.advance"
    REOPEN = "application.reopen"
    UPDATE = "application.update"  # the outage linked, the owner changed


AUDIT_OF_EVENT = {
    ApplicationEventKind.ADVANCED: ApplicationAudit.ADVANCE,
    ApplicationEventKind.REOPENED: ApplicationAudit.REOPEN,
}


# Tells the account's people of a change (core.applications.notices.ApplicationUpdates; core.services wires it).
Notify = Callable[[AsyncSession, ApplicationRow, ApplicationEvent], Awaitable[int]]


class ApplicationService:
    def __init__(self, clock: Clock, rules: StageRules, audit: AuditService, notify: Notify | None = None) -> None:
        self.clock = clock
        self.rules = rules
        self.audit = audit
        self.notify = notify
        self.outages = OutageQueries()

    # ----------------------------------------------------------------------------------------- staff

    async def create(
        self,
        session: AsyncSession,
        data: NewApplication,
        *,
        actor: StaffUser | None,
        manager_id: int | None = None,
        client: str | None = None,
    ) -> ApplicationDetail:
        """A new application at its first stage; `manager_id`: the caller may act only on the key accounts
        that account manager owns (another account is not found)."""
        repo = ApplicationRepository(session)
        found = await repo.account(data.account_number)
        if found is None or (manager_id is not None and found[2] != manager_id):
            raise NotFound(f"no account {mask_digits(data.account_number)}", field="account_number")
        account, _segment, account_manager = found
        _check_length(data.description, MAX_DESCRIPTION, "description")
        if data.owner is not None:
            owner_id: int | None = await self._owner(session, data.owner)
        else:
            owner_id = account_manager if account_manager is not None else (actor.id if actor else None)
        await self._check_outage(session, data.outage_id)
        now = self.clock.now()
        due = self.rules.due(FIRST, now)
        application = Application(
            account_id=account.id,
            kind=ApplicationKind(data.kind),
            stage=FIRST,
            description=data.description.strip(),
            owner_id=owner_id,
            outage_id=data.outage_id,
            stage_started_at=now,
            due_at=due,
            created_by_id=actor.id if actor else None,
            updated_at=now,
            created_at=now,
        )
        repo.add(application)
        await session.flush()
        event = await self._event(repo, application, ApplicationEventKind.CREATED, None, actor, "")
        detail = {"account_id": account.id, "kind": application.kind, "stage": FIRST, "due_at": due}
        detail.update(owner_id=owner_id, outage_id=data.outage_id)
        self.audit.record(session, actor, ApplicationAudit.CREATE, "application", application.id, detail, client)
        return await self._told(session, repo, application.id, event)

    async def advance(
        self,
        session: AsyncSession,
        application_id: int,
        stage: ApplicationStage,
        note: str = "",
        *,
        actor: StaffUser | None,
        manager_id: int | None = None,
        client: str | None = None,
    ) -> ApplicationDetail:
        """Move it to `stage`: a later stage of its kind is an advance, an earlier one a reopening (a note
        required); the stage gets its due time from now."""
        repo = ApplicationRepository(session)
        application = (await self._visible(repo, application_id, manager_id)).application
        _check_length(note, MAX_NOTE, "note")
        now = self.clock.now()
        move = self.rules.move(application.kind, application.stage, stage, note, now)
        previous = application.stage
        application.stage = move.to
        application.stage_started_at = now
        application.due_at = move.due_at
        application.updated_at = now
        event = await self._event(repo, application, move.kind, previous, actor, note)
        detail = {"from": previous, "to": move.to, "note": note.strip(), "due_at": move.due_at}
        self.audit.record(session, actor, AUDIT_OF_EVENT[move.kind], "application", application.id, detail, client)
        return await self._told(session, repo, application.id, event)

    async def update(
        self,
        session: AsyncSession,
        application_id: int,
        changes: ApplicationChanges,
        *,
        actor: StaffUser | None,
        manager_id: int | None = None,
        client: str | None = None,
    ) -> ApplicationDetail:
        """Link (or unlink) the planned outage it needs, or hand it to another owner; audited."""
        repo = ApplicationRepository(session)
        application = (await self._visible(repo, application_id, manager_id)).application
        detail: dict[str, object] = {}
        if not isinstance(changes.outage_id, Keep):
            await self._check_outage(session, changes.outage_id)
            detail["outage_id"] = application.outage_id = changes.outage_id
        if not isinstance(changes.owner, Keep):
            detail["owner_id"] = application.owner_id = await self._owner(session, changes.owner)
        if detail:
            application.updated_at = self.clock.now()
            self.audit.record(session, actor, ApplicationAudit.UPDATE, "application", application.id, detail, client)
            await session.flush()
        return await self.detail(session, application_id, manager_id=manager_id)

    async def page(
        self,
        session: AsyncSession,
        *,
        account_number: str | None = None,
        kind: ApplicationKind | None = None,
        stage: ApplicationStage | None = None,
        overdue: bool = False,
        open_only: bool = False,
        manager_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[ApplicationView], int]:
        """The most urgent first (the earliest due; connected ones last)."""
        now = self.clock.now()
        query = ApplicationFilter(
            account_number=account_number or None,
            kind=kind,
            stage=stage,
            overdue_at=now if overdue else None,
            open_only=open_only,
            manager_id=manager_id,
        )
        rows, total = await ApplicationRepository(session).page(query, limit=limit, offset=offset)
        return [self._view(row, now) for row in rows], total

    async def detail(
        self, session: AsyncSession, application_id: int, *, manager_id: int | None = None
    ) -> ApplicationDetail:
        repo = ApplicationRepository(session)
        row = await self._visible(repo, application_id, manager_id)
        view = self._view(row, self.clock.now())
        events = tuple(
            EventView(e.id, e.kind, e.from_stage, e.to_stage, username, e.note, e.due_at, e.at)
            for e, username in await repo.events(application_id)
        )
        fields = {name: getattr(view, name) for name in ApplicationView.__dataclass_fields__}
        return ApplicationDetail(**fields, route=self.rules.route(row.application.kind), events=events)

    # ------------------------------------------------------------------------------------- customers

    async def for_customer(
        self, session: AsyncSession, identity: Identity, account: UtilityAccount | None, *, connected: int = 1
    ) -> CustomerApplications | None:
        """The applications of the bound account, or else of the key accounts whose contact writes from this
        Telegram chat: the open ones and the `connected` latest done ones. None: neither (bind first)."""
        repo = ApplicationRepository(session)
        account_ids: list[int] = [account.id] if account is not None else []
        if not account_ids and identity.channel == ChatChannel.TELEGRAM and identity.telegram_chat_id is not None:
            account_ids = await repo.contact_accounts(identity.telegram_chat_id)
        if not account_ids:
            return None
        rows = await repo.of_accounts(account_ids)
        managers = await repo.managers({row.application.account_id for row in rows})
        now = self.clock.now()
        found = CustomerApplications()
        for row in rows:
            done = row.application.stage == ApplicationStage.CONNECTED
            if done and len(found.connected) >= connected:
                continue
            shown = await self._for_customer(session, row, managers.get(row.application.account_id), now)
            (found.connected if done else found.open).append(shown)
        return found

    async def _for_customer(
        self, session: AsyncSession, row: ApplicationRow, manager: ManagerRow | None, now: datetime
    ) -> Progress:
        a = row.application
        return Progress(
            id=a.id,
            kind=a.kind,
            stage=a.stage,
            account_number=row.account_number,
            customer_name=row.customer_name,
            key_account=row.segment == Segment.KEY_ACCOUNT,
            due_at=a.due_at,
            manager=manager,
            outage=await self.outage_to_tell(session, a.outage_id, now),
        )

    async def outage_to_tell(self, session: AsyncSession, outage_id: int | None, now: datetime) -> OutageFacts | None:
        """The linked outage as customers may hear of it: published and not over yet."""
        if outage_id is None:
            return None
        facts = await self.outages.facts(session, outage_id)
        return facts if facts.status == OutageStatus.PUBLISHED and facts.ends_at > now else None

    # --------------------------------------------------------------------------------------- helpers

    def _view(self, row: ApplicationRow, now: datetime) -> ApplicationView:
        a = row.application
        step, steps = self.rules.step(a.kind, a.stage)
        return ApplicationView(
            id=a.id,
            account_number=row.account_number,
            customer_name=row.customer_name,
            segment=row.segment,
            kind=a.kind,
            stage=a.stage,
            step=step,
            steps=steps,
            next_stage=self.rules.next_stage(a.kind, a.stage),
            due_at=a.due_at,
            overdue=is_overdue(a.due_at, now),
            owner=row.owner,
            owner_name=row.owner_name,
            description=a.description,
            outage_id=a.outage_id,
            stage_started_at=a.stage_started_at,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )

    async def _visible(
        self, repo: ApplicationRepository, application_id: int, manager_id: int | None
    ) -> ApplicationRow:
        row = await repo.row(application_id)
        if row is None or (manager_id is not None and row.manager_id != manager_id):
            raise NotFound(f"no application {application_id}")
        return row

    async def _event(
        self,
        repo: ApplicationRepository,
        application: Application,
        kind: ApplicationEventKind,
        previous: ApplicationStage | None,
        actor: StaffUser | None,
        note: str,
    ) -> ApplicationEvent:
        event = repo.add_event(
            ApplicationEvent(
                application_id=application.id,
                kind=kind,
                from_stage=previous,
                to_stage=application.stage,
                staff_id=actor.id if actor else None,
                note=note.strip(),
                due_at=application.due_at,
                at=application.updated_at,
            )
        )
        await repo.session.flush()
        return event

    async def _told(
        self, session: AsyncSession, repo: ApplicationRepository, application_id: int, event: ApplicationEvent
    ) -> ApplicationDetail:
        row = await repo.row(application_id)
        assert row is not None
        if self.notify is not None:
            await self.notify(session, row, event)
        return await self.detail(session, application_id)

    async def _owner(self, session: AsyncSession, username: str) -> int:
        """A staff member who may own applications: active, with a role that manages them."""
        user = await StaffRepository(session).by_username(username.strip())
        if user is None or not user.is_active or access(user.role, Permission.APPLICATIONS_MANAGE) is None:
            raise InvalidInput(f"{username!r} is not a staff member who handles applications", field="owner")
        return user.id

    async def _check_outage(self, session: AsyncSession, outage_id: int | None) -> None:
        """Only a planned outage that is not cancelled or over can be the one connecting an application needs."""
        if outage_id is None:
            return
        try:
            facts = await self.outages.facts(session, outage_id)
        except NotFound:
            raise InvalidInput(f"no outage {outage_id}", field="outage_id") from None
        if facts.kind != OutageKind.PLANNED or facts.status in (OutageStatus.CANCELLED, OutageStatus.COMPLETED):
            raise InvalidInput(f"outage {outage_id} is not a planned outage still to come", field="outage_id")


def _check_length(text: str, limit: int, name: str) -> None:
    if len(text) > limit:
        raise InvalidInput(f"a {name} has at most {limit} characters", field=name)
