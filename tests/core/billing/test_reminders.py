"""Bill reminders on the demo data, on both databases: the window arithmetic (pure, property-tested), the job
(opted-in people only, once per bill and purpose, a paid bill's reminder cancelled), the quiet hours (drafted
and claimed in them: it waits), and the messages as the customer reads them, zh and en."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing.reminders import ARREARS_LATEST, ReminderRules
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import Bill, Identity, IdentityAccount, NoticeDelivery, UtilityAccount
from core.models.enums import BillNotice, ChatChannel, DeliveryStatus, Language, SubjectKind, Tier
from core.notices.dispatcher import Dispatcher
from core.notices.render import NoticeRenderer
from core.notices.subjects import subject_renderers
from core.services import CoreServices
from core.templating import Renderer
from gridtalk.worker import build_channels
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import channel_settings, load_demo_world, local

Maker = async_sessionmaker[AsyncSession]
DUE = local(2026, 12, 10, 0).date()  # the bill's due date in these tests


@dataclass(frozen=True, slots=True)
class OptedIn:
    identity_id: int
    chat_id: int
    account_id: int
    bill_id: int


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as server:
        yield server


@pytest.fixture
def settings(database_url: str, api: FakeTelegramApi) -> Settings:
    return channel_settings(database_url, api, None)


@pytest.fixture
def core(settings: Settings, clock: FrozenClock) -> CoreServices:
    return CoreServices.build(settings, clock)


@pytest.fixture
async def opted_in(sessionmaker: Maker, clock: FrozenClock) -> OptedIn:
    """The demo world; one Telegram customer opted in, their account's bills all paid but one, due on DUE."""
    await load_demo_world(sessionmaker, clock.now())
    async with session_scope(sessionmaker) as session:
        identity, account_id = (
            await session.execute(
                select(Identity, IdentityAccount.account_id)
                .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
                .where(Identity.channel == ChatChannel.TELEGRAM, Identity.blocked_at.is_(None))
                .order_by(Identity.id)
            )
        ).first()  # type: ignore[misc]
        identity.bill_reminders = True
        identity.language = Language.ZH
        await session.execute(update(Bill).values(paid_at=clock.now()))
        bill = await session.scalar(select(Bill).where(Bill.account_id == account_id).order_by(Bill.period.desc()))
        assert bill is not None and identity.telegram_chat_id is not None
        bill.paid_at = None
        bill.due_date = DUE
        return OptedIn(identity.id, identity.telegram_chat_id, account_id, bill.id)


async def reminder_rows(sessionmaker: Maker, bill_id: int) -> list[NoticeDelivery]:
    async with sessionmaker() as session:
        found = await session.scalars(
            select(NoticeDelivery)
            .where(NoticeDelivery.subject_kind == SubjectKind.BILL, NoticeDelivery.subject_id == bill_id)
            .order_by(NoticeDelivery.id)
        )
        return list(found)


async def run(core: CoreServices, sessionmaker: Maker) -> int:
    async with session_scope(sessionmaker) as session:
        return await core.bill_reminders.run(session)


@pytest.fixture
async def make_dispatcher(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> AsyncIterator[Callable[[], Dispatcher]]:
    made: list[Dispatcher] = []

    def make() -> Dispatcher:
        renderer = NoticeRenderer(Renderer(settings.timezone))
        made.append(Dispatcher(sessionmaker, clock, settings, build_channels(settings), renderer))
        return made[-1]

    yield make
    for dispatcher in made:
        await dispatcher.aclose()


# ------------------------------------------------------------------------------------------ the window


@hypothesis_settings(max_examples=300)
@given(
    due_days=st.integers(1, 28),
    arrears_days=st.integers(1, 60),
    offset=st.integers(-100, 100),
)
def test_a_bill_gets_the_due_reminder_before_its_due_date_and_arrears_after_never_both(
    due_days: int, arrears_days: int, offset: int
) -> None:
    rules = ReminderRules(due_days, arrears_days)
    today = date(2026, 12, 1)
    due_date = today + timedelta(days=offset)  # offset > 0: due in the future
    found = rules.reminder(due_date, today)
    if 0 <= offset <= due_days:
        assert found == BillNotice.DUE
    elif arrears_days <= -offset <= arrears_days + ARREARS_LATEST:
        assert found == BillNotice.ARREARS
    else:
        assert found is None


def test_the_windows_from_the_settings() -> None:
    rules = ReminderRules.from_settings(Settings(bill_due_reminder_days=5, arrears_reminder_days=2))
    today = date(2026, 12, 1)
    assert rules.window(BillNotice.DUE, today) == (today, date(2026, 12, 6))
    assert rules.window(BillNotice.ARREARS, today) == (
        date(2026, 11, 29) - timedelta(days=ARREARS_LATEST),
        date(2026, 11, 29),
    )
    assert Settings().bill_due_reminder_days == 3 and Settings().arrears_reminder_days == 3


# ----------------------------------------------------------------------------------------------- the job


async def test_the_opted_in_customer_is_reminded_once_before_and_once_after_the_due_date(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, opted_in: OptedIn
) -> None:
    clock.set(local(2026, 12, 6, 10))  # four days before: not yet
    assert await run(core, sessionmaker) == 0
    clock.set(local(2026, 12, 7, 10))  # three days before
    assert await run(core, sessionmaker) == 1
    assert await run(core, sessionmaker) == 0  # idempotent
    [due] = await reminder_rows(sessionmaker, opted_in.bill_id)
    assert (due.stage, due.identity_id, due.telegram_chat_id) == (
        BillNotice.DUE,
        opted_in.identity_id,
        opted_in.chat_id,
    )
    assert due.tier == Tier.EVERYONE and due.status == DeliveryStatus.PENDING and due.next_attempt_at == clock.now()
    clock.set(local(2026, 12, 11, 10))  # one day overdue: nothing more yet
    assert await run(core, sessionmaker) == 0
    clock.set(local(2026, 12, 13, 10))  # three days overdue
    assert await run(core, sessionmaker) == 1
    clock.set(local(2026, 12, 14, 10))
    assert await run(core, sessionmaker) == 0
    assert [r.stage for r in await reminder_rows(sessionmaker, opted_in.bill_id)] == ["due", "arrears"]
    async with sessionmaker() as session:  # every other bill is paid, and nobody else opted in
        assert (
            await session.scalar(
                select(NoticeDelivery.id)
                .where(NoticeDelivery.subject_kind == "bill")
                .where(NoticeDelivery.subject_id != opted_in.bill_id)
            )
            is None
        )


async def test_nobody_is_reminded_without_opting_in(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, opted_in: OptedIn
) -> None:
    async with session_scope(sessionmaker) as session:
        await session.execute(update(Identity).values(bill_reminders=False))
    clock.set(local(2026, 12, 8, 10))
    assert await run(core, sessionmaker) == 0
    assert await reminder_rows(sessionmaker, opted_in.bill_id) == []


async def test_a_bill_paid_before_its_reminder_left_stops_it(
    sessionmaker: Maker,
    clock: FrozenClock,
    core: CoreServices,
    opted_in: OptedIn,
    api: FakeTelegramApi,
    make_dispatcher,
) -> None:
    clock.set(local(2026, 12, 7, 23, 30))  # in the quiet hours: drafted, released when they end
    assert await run(core, sessionmaker) == 1
    [row] = await reminder_rows(sessionmaker, opted_in.bill_id)
    assert row.next_attempt_at == local(2026, 12, 8, 7)
    clock.set(local(2026, 12, 8, 6, 50))
    async with session_scope(sessionmaker) as session:
        await session.execute(update(Bill).where(Bill.id == opted_in.bill_id).values(paid_at=clock.now()))
    clock.set(local(2026, 12, 8, 7))
    assert await run(core, sessionmaker) == 0  # the worker's tick: this job, then the dispatcher
    await make_dispatcher().run_once()
    [row] = await reminder_rows(sessionmaker, opted_in.bill_id)
    assert (row.status, row.last_error) == (DeliveryStatus.CANCELLED, "bill paid")
    assert api.sent() == []


async def test_claimed_in_the_quiet_hours_a_reminder_waits_until_they_end_then_is_sent(
    sessionmaker: Maker,
    clock: FrozenClock,
    core: CoreServices,
    opted_in: OptedIn,
    api: FakeTelegramApi,
    make_dispatcher,
) -> None:
    clock.set(local(2026, 12, 7, 21, 55))
    assert await run(core, sessionmaker) == 1
    clock.set(local(2026, 12, 7, 22, 5))  # the dispatcher was busy: claimed inside the quiet hours
    dispatcher = make_dispatcher()
    await dispatcher.run_once()
    [row] = await reminder_rows(sessionmaker, opted_in.bill_id)
    assert (row.status, row.last_error, row.next_attempt_at) == ("pending", "quiet hours", local(2026, 12, 8, 7))
    assert api.sent() == []
    clock.set(local(2026, 12, 8, 7))
    await dispatcher.run_once()
    [sent] = api.sent()
    assert sent.chat_id == opted_in.chat_id and "电费到期提醒" in sent.text and "2026-12-10" in sent.text
    assert (await reminder_rows(sessionmaker, opted_in.bill_id))[0].status == DeliveryStatus.SENT


async def test_the_reminders_as_the_customer_reads_them(
    sessionmaker: Maker, clock: FrozenClock, core: CoreServices, settings: Settings, opted_in: OptedIn
) -> None:
    clock.set(local(2026, 12, 8, 10))
    await run(core, sessionmaker)
    clock.set(local(2026, 12, 14, 10))  # four days overdue
    await run(core, sessionmaker)
    rows = await reminder_rows(sessionmaker, opted_in.bill_id)
    renderers = subject_renderers(NoticeRenderer(Renderer(settings.timezone)), settings)
    async with sessionmaker() as session:
        bill = await session.get(Bill, opted_in.bill_id)
        number = await session.scalar(
            select(UtilityAccount.account_number).where(UtilityAccount.id == opted_in.account_id)
        )
        assert bill is not None and number is not None
        render = await renderers[SubjectKind.BILL].load(session, rows)
        texts = {(r.stage, lang): render(_in(r, lang)) for r in rows for lang in (Language.ZH, Language.EN)}
    amount = f"¥{bill.amount:,.2f}"
    due_zh, arrears_zh = texts[("due", "zh")], texts[("arrears", "zh")]
    assert due_zh.subject == "【电费到期提醒】" and amount in due_zh.html and bill.period in due_zh.html
    assert "2026-12-10" in due_zh.html and "网上国网" in due_zh.html and number not in due_zh.html  # masked
    assert f"{number[:2]}******{number[-2:]}" in due_zh.html and "<b>" not in due_zh.plain
    assert "逾期 4 天" in arrears_zh.html and "停电" not in arrears_zh.html  # mild: no cut-off threatened
    due_en, arrears_en = texts[("due", "en")], texts[("arrears", "en")]
    assert due_en.subject == "Bill due reminder" and "is due on 2026-12-10" in due_en.html and amount in due_en.html
    assert "4 days overdue" in arrears_en.html and "95598" in arrears_en.html


def _in(row: NoticeDelivery, language: Language) -> NoticeDelivery:
    row.language = language
    return row
