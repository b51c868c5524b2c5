"""ApplicationService on the demo data, on both databases: creating, advancing and reopening (each a history line,
an audit row and a message to the account's people through the outbox), linking the planned outage, the staff's
list and an account manager's scope, the customer's view for the chat, the demo's own applications, and how a
change is rendered when it is sent."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.applications.stages import StageRules
from core.applications.views import ApplicationChanges, ApplicationDetail, NewApplication
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.errors import Conflict, InvalidInput, NotFound
from core.models import (
    Application,
    ApplicationEvent,
    Identity,
    IdentityAccount,
    Outage,
    StaffUser,
    UtilityAccount,
)
from core.models.enums import (
    ApplicationEventKind,
    ApplicationKind,
    ApplicationNotice,
    ApplicationStage,
    DeliveryChannel,
    OutageKind,
    Tier,
)
from core.notices.render import NoticeRenderer
from core.notices.subjects import subject_renderers
from core.services import CoreServices
from core.templating import Renderer
from tests.support.applications import (
    DATA_CENTRE,
    FACTORY,
    WATERWORKS,
    DemoKeyAccount,
    application_rows,
    demo_key_account,
)
from tests.support.dialogue import load_demo_data
from tests.support.staff import audit_rows, make_staff

Maker = async_sessionmaker[AsyncSession]
S = ApplicationStage


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


@pytest.fixture
def core(settings: Settings, clock: FrozenClock) -> CoreServices:
    return CoreServices.build(settings, clock)


async def staff(sessionmaker: Maker, username: str) -> StaffUser:
    async with sessionmaker() as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        return user


async def create(
    core: CoreServices,
    sessionmaker: Maker,
    data: NewApplication,
    actor: str = "admin",
    manager_id: int | None = None,
    client: str | None = None,
) -> ApplicationDetail:
    user = await staff(sessionmaker, actor)
    async with session_scope(sessionmaker) as session:
        return await core.applications.create(session, data, actor=user, manager_id=manager_id, client=client)


async def advance(
    core: CoreServices,
    sessionmaker: Maker,
    app_id: int,
    stage: S,
    note: str = "",
    actor: str = "admin",
    manager_id: int | None = None,
) -> ApplicationDetail:
    user = await staff(sessionmaker, actor)
    async with session_scope(sessionmaker) as session:
        return await core.applications.advance(session, app_id, stage, note, actor=user, manager_id=manager_id)


# ------------------------------------------------------------------------------------ the life of one


async def test_a_key_accounts_capacity_increase_created_advanced_and_reopened(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None
) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    rules = core.applications.rules
    created = await create(
        core,
        sessionmaker,
        NewApplication(key.number, ApplicationKind.CAPACITY_INCREASE, "  新增水泵  "),
        client="1.2.3.4",
    )
    assert (created.stage, created.step, created.steps, created.next_stage) == (S.ACCEPTED, 1, 7, S.SITE_SURVEY)
    assert created.due_at == rules.due(S.ACCEPTED, clock.now()) and not created.overdue
    assert created.owner == key.manager and created.description == "新增水泵"  # the key account's manager owns it
    assert created.route == rules.route(ApplicationKind.CAPACITY_INCREASE)
    [made] = created.events
    assert (made.kind, made.from_stage, made.to_stage, made.staff) == (
        ApplicationEventKind.CREATED,
        None,
        S.ACCEPTED,
        "admin",
    )

    clock.advance(timedelta(hours=1))  # 18:30 local: outside the quiet hours
    moved = await advance(core, sessionmaker, created.id, S.SITE_SURVEY, "约好周三上门")
    assert moved.stage == S.SITE_SURVEY and moved.due_at == rules.due(S.SITE_SURVEY, clock.now())
    assert moved.stage_started_at == clock.now()
    clock.advance(timedelta(days=1))
    await advance(core, sessionmaker, created.id, S.SUPPLY_PLAN)
    with pytest.raises(InvalidInput):  # back without a note
        await advance(core, sessionmaker, created.id, S.SITE_SURVEY)
    with pytest.raises(Conflict):
        await advance(core, sessionmaker, created.id, S.SUPPLY_PLAN)
    back = await advance(core, sessionmaker, created.id, S.SITE_SURVEY, "现场条件有变，需重新勘查")
    assert back.stage == S.SITE_SURVEY
    kinds = [(e.kind, e.from_stage, e.to_stage, e.note) for e in back.events]
    assert kinds == [
        (ApplicationEventKind.CREATED, None, S.ACCEPTED, ""),
        (ApplicationEventKind.ADVANCED, S.ACCEPTED, S.SITE_SURVEY, "约好周三上门"),
        (ApplicationEventKind.ADVANCED, S.SITE_SURVEY, S.SUPPLY_PLAN, ""),
        (ApplicationEventKind.REOPENED, S.SUPPLY_PLAN, S.SITE_SURVEY, "现场条件有变，需重新勘查"),
    ]

    # every change in the audit log (the refused ones left nothing)
    actions = [(r.action, r.detail.get("to")) for r in await audit_rows(sessionmaker, target_type="application")]
    assert actions == [
        ("application.create", None),
        ("application.advance", "site_survey"),
        ("application.advance", "supply_plan"),
        ("application.reopen", "site_survey"),
    ]
    [first] = await audit_rows(sessionmaker, action="application.create")
    assert first.client == "1.2.3.4" and first.detail["kind"] == "capacity_increase"

    # every change told to each contact of the key account: one row per contact, channel and change
    rows = await application_rows(sessionmaker, created.id)
    async with sessionmaker() as session:
        events = list(
            await session.scalars(select(ApplicationEvent.id).where(ApplicationEvent.application_id == created.id))
        )
    assert sorted({r.revision for r in rows}) == sorted(events)
    for event_id in events:
        told = [r for r in rows if r.revision == event_id]
        assert {r.telegram_chat_id for r in told if r.channel == DeliveryChannel.TELEGRAM} == set(key.contact_chats)
    assert {(r.stage, r.tier, r.status, r.deadline_at, r.outage_id) for r in rows} == {
        (ApplicationNotice.PROGRESS, Tier.KEY_ACCOUNT, "pending", None, None)
    }
    assert all(r.next_attempt_at is not None and r.next_attempt_at <= clock.now() for r in rows)


async def test_a_resident_is_told_on_their_bound_chat_and_quiet_hours_are_waited_out(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None
) -> None:
    async with sessionmaker() as session:
        identity, number = (
            await session.execute(
                select(Identity, UtilityAccount.account_number)
                .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
                .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
                .where(UtilityAccount.account_number.not_like("3390%"))
                .order_by(UtilityAccount.account_number.desc())
            )
        ).first()  # type: ignore[misc]
    clock.set(datetime(2026, 11, 23, 23, 15, tzinfo=core.settings.tz))  # inside the quiet hours (22:00-07:00)
    created = await create(core, sessionmaker, NewApplication(number, ApplicationKind.EV_CHARGER))
    assert created.owner == "admin"  # no manager: whoever created it
    [row] = await application_rows(sessionmaker, created.id)
    assert row.identity_id == identity.id and row.telegram_chat_id == identity.telegram_chat_id
    assert row.tier == Tier.EVERYONE and row.segment == "residential"
    assert row.next_attempt_at == datetime(2026, 11, 24, 7, 0, tzinfo=core.settings.tz)  # when the quiet hours end


async def test_an_account_manager_acts_on_their_own_key_accounts_only(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None
) -> None:
    mine = await demo_key_account(sessionmaker, WATERWORKS)  # manager.wang
    theirs = await demo_key_account(sessionmaker, FACTORY)  # manager.chen
    wang = await staff(sessionmaker, mine.manager)
    created = await create(
        core,
        sessionmaker,
        NewApplication(mine.number, ApplicationKind.NEW_CONNECTION),
        mine.manager,
        manager_id=wang.id,
    )
    assert created.owner == "manager.wang"
    with pytest.raises(NotFound):
        await create(
            core,
            sessionmaker,
            NewApplication(theirs.number, ApplicationKind.NEW_CONNECTION),
            mine.manager,
            manager_id=wang.id,
        )
    async with sessionmaker() as session:
        resident = await session.scalar(
            select(UtilityAccount.account_number).where(UtilityAccount.account_number.not_like("3390%"))
        )
    assert resident is not None
    with pytest.raises(NotFound):
        await create(
            core, sessionmaker, NewApplication(resident, ApplicationKind.EV_CHARGER), mine.manager, manager_id=wang.id
        )
    async with sessionmaker() as session:
        factory_app = await session.scalar(select(Application.id).where(Application.account_id == theirs.account_id))
        assert factory_app is not None
        with pytest.raises(NotFound):
            await core.applications.detail(session, factory_app, manager_id=wang.id)
        items, total = await core.applications.page(session, manager_id=wang.id)
    assert total == len(items) >= 2 and {i.account_number for i in items} <= {
        mine.number,
        (await demo_key_account(sessionmaker, "市第一人民医院")).number,
    }
    with pytest.raises(NotFound):
        await advance(core, sessionmaker, factory_app, S.CONNECTED, actor=mine.manager, manager_id=wang.id)


async def test_the_list_filters_and_puts_the_most_urgent_first(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None
) -> None:
    async with sessionmaker() as session:
        items, total = await core.applications.page(session)
        assert total == len(items) == 8  # the demo's
        due = [i.due_at for i in items if i.due_at is not None]
        assert due == sorted(due) and items[-1].stage == S.CONNECTED and items[-1].due_at is None
        [overdue] = (await core.applications.page(session, overdue=True))[0]
        centre = await demo_key_account(sessionmaker, DATA_CENTRE)
        assert overdue.account_number == centre.number and overdue.overdue and overdue.stage == S.DESIGN_REVIEW
        assert items[0].id == overdue.id
        of_factory, n = await core.applications.page(
            session, account_number=(await demo_key_account(sessionmaker, FACTORY)).number
        )
        assert n == 1 and of_factory[0].outage_id is not None and of_factory[0].owner == "manager.chen"
        assert (await core.applications.page(session, open_only=True))[1] == 7
        assert (await core.applications.page(session, kind=ApplicationKind.EV_CHARGER))[1] == 2
        assert (await core.applications.page(session, stage=S.CONNECTED))[1] == 1
        assert (await core.applications.page(session, limit=3, offset=6))[0] == items[6:]


async def test_linking_the_planned_outage_and_changing_the_owner(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None
) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    created = await create(core, sessionmaker, NewApplication(key.number, ApplicationKind.CAPACITY_INCREASE))
    async with sessionmaker() as session:
        planned = await session.scalar(select(Outage.id).where(Outage.kind == OutageKind.PLANNED))
        fault = await session.scalar(select(Outage.id).where(Outage.kind == OutageKind.UNPLANNED))
    await make_staff(sessionmaker, clock, "agent.x", "agent")
    admin = await staff(sessionmaker, "admin")
    async with session_scope(sessionmaker) as session:
        linked = await core.applications.update(
            session, created.id, ApplicationChanges(outage_id=planned, owner="supervisor.zhou"), actor=admin
        )
    assert linked.outage_id == planned and linked.owner == "supervisor.zhou"
    for bad in (
        ApplicationChanges(outage_id=fault),
        ApplicationChanges(outage_id=999_999),
        ApplicationChanges(owner="agent.x"),
    ):
        async with session_scope(sessionmaker) as session:
            with pytest.raises(InvalidInput):
                await core.applications.update(session, created.id, bad, actor=admin)
    async with session_scope(sessionmaker) as session:
        unlinked = await core.applications.update(session, created.id, ApplicationChanges(outage_id=None), actor=admin)
    assert unlinked.outage_id is None
    updates = await audit_rows(sessionmaker, action="application.update")
    assert [r.detail for r in updates] == [
        {"outage_id": planned, "owner_id": (await staff(sessionmaker, "supervisor.zhou")).id},
        {"outage_id": None},
    ]


async def test_bad_input_is_refused(sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    with pytest.raises(NotFound) as unknown:
        await create(core, sessionmaker, NewApplication("1234567890", ApplicationKind.EV_CHARGER))
    assert "1234567890" not in unknown.value.message  # masked
    with pytest.raises(InvalidInput):
        await create(core, sessionmaker, NewApplication(key.number, ApplicationKind.EV_CHARGER, "x" * 2001))
    with pytest.raises(InvalidInput):
        await create(core, sessionmaker, NewApplication(key.number, ApplicationKind.EV_CHARGER, owner="nobody"))
    created = await create(core, sessionmaker, NewApplication(key.number, ApplicationKind.EV_CHARGER))
    with pytest.raises(InvalidInput):  # an EV charger skips the design review
        await advance(core, sessionmaker, created.id, S.DESIGN_REVIEW)
    with pytest.raises(NotFound):
        await advance(core, sessionmaker, 999_999, S.SITE_SURVEY)
    async with sessionmaker() as session:
        assert (await core.applications.detail(session, created.id)).stage == S.ACCEPTED


# ----------------------------------------------------------------------------------- customers and demo


async def test_what_a_customer_is_shown(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    async with sessionmaker() as session:
        account = await session.get(UtilityAccount, factory.account_id)
        web = Identity(channel="web", external_id="w1", language="zh", created_at=clock.now())
        contact = Identity(
            channel="telegram", external_id="c1", telegram_chat_id=factory.contact_chats[0], created_at=clock.now()
        )
        stranger = Identity(channel="telegram", external_id="s1", telegram_chat_id=1, created_at=clock.now())
        session.add_all([web, contact, stranger])
        await session.flush()
        bound = await core.applications.for_customer(session, web, account)
        by_chat = await core.applications.for_customer(session, contact, None)
        assert await core.applications.for_customer(session, stranger, None) is None
        assert await core.applications.for_customer(session, web, None) is None
    assert bound is not None and by_chat is not None and bound == by_chat
    [shown] = bound.open
    assert shown.key_account and shown.stage == S.COMPLETION_INSPECTION
    assert shown.manager is not None and shown.manager.name == factory.manager_name
    assert shown.manager.phone == factory.manager_phone
    assert shown.outage is not None and shown.outage.kind == OutageKind.PLANNED  # connecting it needs it
    context = shown.context(core.applications.rules, "zh", clock.now())
    assert context["next_stage"] == S.CONNECTED and context["step"] == 6 and context["steps"] == 7


async def test_the_demo_has_applications_at_several_stages_one_overdue(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, demo: None
) -> None:
    rules = StageRules.default(core.settings.tz)
    async with sessionmaker() as session:
        applications = list(await session.scalars(select(Application)))
        events = list(
            await session.scalars(select(ApplicationEvent).order_by(ApplicationEvent.at, ApplicationEvent.id))
        )
    assert len({a.stage for a in applications}) >= 6
    assert sum(a.due_at is not None and a.due_at < clock.now() for a in applications) == 1
    for application in applications:
        history = [e for e in events if e.application_id == application.id]
        assert history[0].kind == ApplicationEventKind.CREATED and history[0].at == application.created_at
        assert history[-1].to_stage == application.stage and history[-1].at == application.stage_started_at
        assert [e.to_stage for e in history] == list(rules.route(application.kind)[: len(history)])
        assert application.due_at == rules.due(application.stage, application.stage_started_at)


async def test_a_change_is_rendered_as_the_customer_reads_it(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, settings: Settings, demo: None
) -> None:
    key: DemoKeyAccount = await demo_key_account(sessionmaker, FACTORY)
    async with sessionmaker() as session:
        app_id = await session.scalar(select(Application.id).where(Application.account_id == key.account_id))
    assert app_id is not None
    await advance(core, sessionmaker, app_id, S.CONNECTED, actor="manager.chen")
    rows = [r for r in await application_rows(sessionmaker, app_id) if r.channel == DeliveryChannel.TELEGRAM]
    renderers = subject_renderers(NoticeRenderer(Renderer(settings.timezone)), settings)
    async with sessionmaker() as session:
        render = await renderers["application"].load(session, rows)
        texts = {r.language: render(r) for r in rows}
    zh = texts["zh"]
    assert "已完成装表接电" in zh.html and key.manager_name in zh.html and key.manager_phone in zh.html
    assert zh.subject == "【用电申请进度】" and "<b>" not in zh.plain
    assert "the meter is installed" in texts["en"].html and key.manager_phone in texts["en"].html


async def test_renders_the_stage_next_step_and_due_time_of_the_change_told(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, settings: Settings, demo: None
) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    created = await create(core, sessionmaker, NewApplication(key.number, ApplicationKind.CAPACITY_INCREASE))
    moved = await advance(core, sessionmaker, created.id, S.SITE_SURVEY)
    await advance(core, sessionmaker, created.id, S.SUPPLY_PLAN)  # moved on since: the row still tells its own
    event_id = moved.events[-1].id
    rows = [r for r in await application_rows(sessionmaker, created.id) if r.revision == event_id]
    renderers = subject_renderers(NoticeRenderer(Renderer(settings.timezone)), settings)
    async with sessionmaker() as session:
        render = await renderers["application"].load(session, rows)
        text = render(rows[0]).html
    assert moved.due_at is not None
    due = moved.due_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    assert "现场勘查" in text and "答复供电方案" in text and due in text and "第 2/7 步" in text
    assert "95598" not in text and key.manager_name in text  # a key account calls its manager
