"""The KPI dashboard on a small hand-made data set (tests/core/kpis/kpi_world.py): every KPI over the period and
per ISO week in Shanghai time (a conversation at Monday 00:00, one on Monday 00:30 that is still Sunday in UTC),
the median first response and the target's boundary, hand-offs overdue or not yet, what the NLU parsed, the
notice delivery and confirmation rates per stage and audience, what each account manager sees, an agent
refused, the default period and a 53-week one. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.errors import InvalidInput, PermissionDenied
from core.feedback.reports import FeedbackReports
from core.feedback.repository import EVERYTHING, Scope
from core.kpis.dashboard import Kpi, KpiDashboard, KpiKey, KpiService, KpiUnit, NoticeRate, ratio
from core.staff.audit import AuditService
from tests.core.kpis.kpi_world import NOW, SHANGHAI, KpiWorld, load_kpi_world, local

W46_ON = local(11, 9, 0)  # Monday 9 Nov 00:00 in Shanghai: the period W46-W48 up to now
WEEKS = ["2026-W46", "2026-W47", "2026-W48"]


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> KpiWorld:
    return await load_kpi_world(sessionmaker)


@pytest.fixture
def kpis(clock: FrozenClock, settings: Settings) -> KpiService:
    assert settings.escalation_first_response_minutes == 5 and settings.timezone == "Asia/Shanghai"
    return KpiService(clock, settings, FeedbackReports(clock, settings, AuditService(clock)))


async def dashboard(
    sessionmaker: async_sessionmaker[AsyncSession],
    kpis: KpiService,
    scope: Scope = EVERYTHING,
    start: datetime | None = W46_ON,
    end: datetime | None = NOW,
) -> KpiDashboard:
    async with sessionmaker() as session:
        return await kpis.dashboard(session, scope, start, end)


def by_key(board: KpiDashboard) -> dict[KpiKey, Kpi]:
    return {k.key: k for k in board.kpis}


def figures(kpi: Kpi) -> tuple[float | None, int, list[tuple[float | None, int]]]:
    return kpi.value, kpi.base, [(p.value, p.base) for p in kpi.weeks]


def notice(rate: NoticeRate) -> tuple[object, ...]:
    return (
        rate.stage,
        rate.segment,
        rate.due,
        rate.delivered,
        rate.delivery_rate,
        rate.confirmable,
        rate.confirmed,
        rate.confirmation_rate,
        [(p.value, p.base) for p in rate.weeks],
    )


def test_ratio_rounds_to_four_places_and_is_none_without_a_base() -> None:
    assert (ratio(2, 7), ratio(0, 3), ratio(0, 0)) == (0.2857, 0.0, None)


async def test_every_kpi_in_order_with_its_unit_target_and_weeks(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    board = await dashboard(sessionmaker, kpis)
    assert (board.start, board.end, board.timezone) == (W46_ON, NOW, "Asia/Shanghai")
    assert [k.key for k in board.kpis] == list(KpiKey)
    assert [(k.unit, k.target, k.higher_is_better) for k in board.kpis] == [
        (KpiUnit.RATIO, None, True),
        (KpiUnit.COUNT, None, False),
        (KpiUnit.SECONDS, 300.0, False),  # the first-response target: 5 minutes
        (KpiUnit.RATIO, None, True),
        (KpiUnit.RATIO, None, True),
        (KpiUnit.RATIO, None, False),
    ]
    for kpi in board.kpis:
        assert [p.week for p in kpi.weeks] == WEEKS
        assert [p.starts_on.isoformat() for p in kpi.weeks] == ["2026-11-09", "2026-11-16", "2026-11-23"]


async def test_containment_and_escalations_of_the_conversations_started(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    kpi = by_key(await dashboard(sessionmaker, kpis))
    # W46 c1 (bot only), c2 (escalated); W47 c3 (Monday 00:00 sharp), c4, not c8 (nobody wrote); W48 c5, c6
    # escalated, c7 (Monday 00:30 in Shanghai, Sunday in UTC) bot only
    assert figures(kpi[KpiKey.CONTAINMENT]) == (0.2857, 7, [(0.5, 2), (0.0, 2), (0.3333, 3)])
    assert figures(kpi[KpiKey.ESCALATIONS]) == (5.0, 7, [(1.0, 2), (2.0, 2), (2.0, 3)])


async def test_first_response_median_and_the_share_within_the_target(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    kpi = by_key(await dashboard(sessionmaker, kpis))
    # answered: e2 120 s (W46); e10 60 s, e4 300 s, e3 600 s (W47): median (120 + 300) / 2
    assert figures(kpi[KpiKey.FIRST_RESPONSE]) == (210.0, 4, [(120.0, 1), (300.0, 3), (None, 0)])
    # within 5 minutes: e2, e10, e4 (exactly 300 s); not e3; e5 unanswered for hours counts as missed, e6 (2
    # minutes old) not yet
    assert figures(kpi[KpiKey.FIRST_RESPONSE_MET]) == (0.6, 5, [(1.0, 1), (0.6667, 3), (0.0, 1)])


async def test_csat_is_the_satisfaction_reports(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    kpi = by_key(await dashboard(sessionmaker, kpis))
    # s1 5 (W46); s2 2, s4 unanswered (W47); s5 3, s3 4 (W48)
    assert figures(kpi[KpiKey.CSAT]) == (0.5, 4, [(1.0, 1), (0.0, 1), (0.5, 2)])


async def test_nlu_fallback_of_the_messages_the_nlu_parsed(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    kpi = by_key(await dashboard(sessionmaker, kpis))
    # W46: c1 two (one fallback), c2 one fallback (its button press is not parsed); W47: c3, c4; W48: c5 (not
    # the message read by keywords), c6, c7. The bot's reply labelled nlu_fallback is not a customer message.
    assert figures(kpi[KpiKey.NLU_FALLBACK]) == (0.25, 8, [(0.6667, 3), (0.0, 2), (0.0, 3)])


async def test_notice_delivery_and_confirmation_per_stage_and_audience(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    board = await dashboard(sessionmaker, kpis)
    none = (None, 0)
    assert [notice(r) for r in board.notices] == [
        # key accounts first: d1 sent, d2 failed
        ("15d", "key_account", 2, 1, 0.5, 0, 0, None, [(0.5, 2), none, none]),
        # d3 confirmed, d4 sent, d5 failed (not confirmable); d6 cancelled: not due
        ("30m", "key_account", 3, 2, 0.6667, 2, 1, 0.5, [none, (1.0, 2), (0.0, 1)]),
        # d7 residential and d8 commercial: the residential audience; d12 before the period
        ("15d", "residential", 2, 2, 1.0, 0, 0, None, [(1.0, 2), none, none]),
        ("30m", "residential", 2, 1, 0.5, 1, 1, 1.0, [none, (0.5, 2), none]),  # d9 confirmed, d10 still pending
        ("restored", "residential", 1, 0, 0.0, 0, 0, None, [none, none, (0.0, 1)]),  # d11 skipped
    ]  # neither the alert to staff (d13) nor the staff reply (d14) is a notice


async def test_an_account_manager_sees_their_key_accounts_only(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    wang = await dashboard(sessionmaker, kpis, Scope.of("account_manager", world.staff["wang"]))
    kpi = by_key(wang)  # K1: c2 and its hand-off e2, the notice problem e10, s2, d1, d3 (d6 cancelled)
    assert figures(kpi[KpiKey.CONTAINMENT]) == (0.0, 1, [(0.0, 1), (None, 0), (None, 0)])
    assert figures(kpi[KpiKey.ESCALATIONS]) == (1.0, 1, [(1.0, 1), (0.0, 0), (0.0, 0)])
    assert figures(kpi[KpiKey.FIRST_RESPONSE]) == (90.0, 2, [(120.0, 1), (60.0, 1), (None, 0)])
    assert figures(kpi[KpiKey.FIRST_RESPONSE_MET]) == (1.0, 2, [(1.0, 1), (1.0, 1), (None, 0)])
    assert figures(kpi[KpiKey.CSAT]) == (0.0, 1, [(None, 0), (0.0, 1), (None, 0)])
    assert figures(kpi[KpiKey.NLU_FALLBACK]) == (1.0, 1, [(1.0, 1), (None, 0), (None, 0)])
    assert [notice(r)[:8] for r in wang.notices] == [
        ("15d", "key_account", 1, 1, 1.0, 0, 0, None),
        ("30m", "key_account", 1, 1, 1.0, 1, 1, 1.0),
    ]
    zhao = await dashboard(sessionmaker, kpis, Scope.of("account_manager", world.staff["zhao"]))
    kpi = by_key(zhao)  # K2: c4 and e4 (300 s), s3, d2, d4, d5
    assert [(k.value, k.base) for k in zhao.kpis] == [(0.0, 1), (1.0, 1), (300.0, 1), (1.0, 1), (1.0, 1), (0.0, 1)]
    assert [notice(r)[:8] for r in zhao.notices] == [
        ("15d", "key_account", 1, 0, 0.0, 0, 0, None),
        ("30m", "key_account", 2, 1, 0.5, 1, 0, 0.0),
    ]


async def test_an_agent_may_not_read_the_kpis(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        await dashboard(sessionmaker, kpis, Scope.of("agent", world.staff["alice"]))


async def test_the_default_period_is_this_week_and_the_seven_before(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    board = await dashboard(sessionmaker, kpis, start=None, end=None)
    assert board.start == local(10, 5, 0) and board.end == NOW  # Monday of W41 in Shanghai; c9 (1 Oct) is out
    kpi = by_key(board)
    assert [p.week for p in kpi[KpiKey.CSAT].weeks] == [f"2026-W{n}" for n in range(41, 49)]
    assert figures(kpi[KpiKey.CONTAINMENT])[:2] == (0.2857, 7)
    assert figures(kpi[KpiKey.ESCALATIONS])[2][:5] == [(0.0, 0)] * 5  # a count is 0 in a week without any
    assert figures(kpi[KpiKey.FIRST_RESPONSE])[2][:5] == [(None, 0)] * 5


async def test_a_53_week_period_puts_each_row_in_its_week(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2025, 11, 24, tzinfo=SHANGHAI).astimezone(UTC)  # 2025-W48, Monday 00:00
    kpi = by_key(await dashboard(sessionmaker, kpis, start=start))
    weeks = kpi[KpiKey.CONTAINMENT].weeks
    assert (len(weeks), weeks[0].week, weeks[5].week, weeks[44].week, weeks[-1].week) == (
        53,
        "2025-W48",
        "2026-W01",
        "2026-W40",
        "2026-W48",
    )

    def measured(key: KpiKey) -> dict[int, tuple[float | None, int]]:
        return {i: (p.value, p.base) for i, p in enumerate(kpi[key].weeks) if p.base}

    # c0 at the period's very start (week 0), c9 on 1 Oct (W40), then W46-W48
    assert measured(KpiKey.CONTAINMENT) == {0: (1.0, 1), 44: (0.0, 1), 50: (0.5, 2), 51: (0.0, 2), 52: (0.3333, 3)}
    assert measured(KpiKey.FIRST_RESPONSE) == {44: (60.0, 1), 50: (120.0, 1), 51: (300.0, 3)}
    assert measured(KpiKey.NLU_FALLBACK) == {0: (0.0, 1), 44: (1.0, 1), 50: (0.6667, 3), 51: (0.0, 2), 52: (0.0, 3)}
    assert figures(kpi[KpiKey.FIRST_RESPONSE])[:2] == (120.0, 5)  # 60, 60, 120, 300, 600


async def test_a_period_must_be_ordered_and_at_most_53_weeks(world, sessionmaker, kpis) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        await dashboard(sessionmaker, kpis, start=NOW, end=W46_ON)
    with pytest.raises(InvalidInput):
        await dashboard(sessionmaker, kpis, start=datetime(2025, 11, 1, tzinfo=UTC), end=NOW)  # 387 days
