"""The pure rules of an application's stages: the routes per kind (settings), forward only or back with a note,
the stages a kind skips, and the due time of the current stage in working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.applications.stages import (
    ORDER,
    StageRules,
    add_working_days,
    is_overdue,
    parse_days,
    parse_holidays,
    parse_route,
)
from core.config import Settings, SettingsError, load_settings
from core.errors import Conflict, InvalidInput
from core.models.enums import ApplicationEventKind, ApplicationKind, ApplicationStage

TZ = ZoneInfo("Asia/Shanghai")
RULES = StageRules.default(TZ)
S = ApplicationStage
MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)  # a Monday


def local(value: datetime) -> datetime:
    return value.astimezone(TZ)


# -- settings ------------------------------------------------------------------------------------------


def test_the_default_routes_and_limits() -> None:
    assert RULES.route(ApplicationKind.CAPACITY_INCREASE) == ORDER
    assert RULES.route(ApplicationKind.NEW_CONNECTION) == ORDER
    ev = RULES.route(ApplicationKind.EV_CHARGER)  # a home charger: no design review, no interim inspection
    assert S.DESIGN_REVIEW not in ev and S.INTERIM_INSPECTION not in ev
    assert ev == (S.ACCEPTED, S.SITE_SURVEY, S.SUPPLY_PLAN, S.COMPLETION_INSPECTION, S.CONNECTED)
    assert RULES.route(ApplicationKind.CAPACITY_DECREASE) == (
        S.ACCEPTED,
        S.SITE_SURVEY,
        S.COMPLETION_INSPECTION,
        S.CONNECTED,
    )
    assert RULES.days[S.SUPPLY_PLAN] == 15 and S.CONNECTED not in RULES.days
    assert StageRules.from_settings(Settings(env="test")) == RULES  # the settings' defaults are these


def test_settings_change_the_routes_limits_and_holidays() -> None:
    settings = Settings(
        env="test",
        application_stages_rooftop_solar="accepted,supply_plan,connected",
        application_stage_days="supply_plan=20, site_survey=0",
        application_holidays="2026-12-01, 2026-12-02",
    )
    rules = StageRules.from_settings(settings)
    assert rules.route(ApplicationKind.ROOFTOP_SOLAR) == (S.ACCEPTED, S.SUPPLY_PLAN, S.CONNECTED)
    assert rules.days[S.SUPPLY_PLAN] == 20 and rules.days[S.ACCEPTED] == 1  # the others keep their default
    assert rules.due(S.SITE_SURVEY, MONDAY_10) is None  # 0: no time limit
    assert rules.holidays == {date(2026, 12, 1), date(2026, 12, 2)}
    # Monday + 1 working day, Tuesday and Wednesday off: Thursday
    assert local(rules.due(S.ACCEPTED, MONDAY_10) or MONDAY_10) == datetime(2026, 12, 3, 10, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("application_stage_days", "survey=3", "unknown stage 'survey'"),
        ("application_stage_days", "site_survey=three", "is not stage=days"),
        ("application_stage_days", "connected=2", "the last stage"),
        ("application_stages_ev_charger", "site_survey,connected", "must start with accepted"),
        ("application_stages_ev_charger", "accepted,site_survey", "end with connected"),
        ("application_stages_ev_charger", "accepted,supply_plan,site_survey,connected", "in this order"),
        ("application_stages_ev_charger", "accepted,site_survey,site_survey,connected", "each once"),
        ("application_holidays", "2026-02-30", "is not a date"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_it(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(env="test", **{name: value})
    assert f"GRIDTALK_{name.upper()}" in str(refused.value) and says in str(refused.value)


def test_parsers_directly() -> None:
    assert parse_route(" accepted , connected ") == (S.ACCEPTED, S.CONNECTED)
    assert parse_days("accepted=4")[S.ACCEPTED] == 4
    assert parse_holidays("") == frozenset()


# -- moves ---------------------------------------------------------------------------------------------


def test_forward_is_an_advance_back_a_reopening_with_a_note() -> None:
    kind = ApplicationKind.CAPACITY_INCREASE
    move = RULES.move(kind, S.ACCEPTED, S.SITE_SURVEY, "", MONDAY_10)
    assert move.kind is ApplicationEventKind.ADVANCED and move.to is S.SITE_SURVEY
    assert move.due_at is not None and local(move.due_at) == datetime(2026, 12, 2, 10, 0, tzinfo=TZ)  # 2 days
    jump = RULES.move(kind, S.ACCEPTED, S.SUPPLY_PLAN, "", MONDAY_10)  # a survey and a plan on one visit
    assert jump.kind is ApplicationEventKind.ADVANCED
    with pytest.raises(InvalidInput) as no_note:
        RULES.move(kind, S.DESIGN_REVIEW, S.SUPPLY_PLAN, "  ", MONDAY_10)
    assert no_note.value.field == "note"
    back = RULES.move(kind, S.DESIGN_REVIEW, S.SUPPLY_PLAN, "方案要改", MONDAY_10)
    assert back.kind is ApplicationEventKind.REOPENED and back.to is S.SUPPLY_PLAN
    with pytest.raises(Conflict):
        RULES.move(kind, S.SITE_SURVEY, S.SITE_SURVEY, "", MONDAY_10)
    done = RULES.move(kind, S.COMPLETION_INSPECTION, S.CONNECTED, "", MONDAY_10)
    assert done.due_at is None  # connected: no time limit


def test_a_stage_the_kind_skips_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        RULES.move(ApplicationKind.EV_CHARGER, S.SUPPLY_PLAN, S.DESIGN_REVIEW, "", MONDAY_10)
    assert refused.value.field == "stage" and "ev_charger" in refused.value.message


def test_steps_and_the_next_stage() -> None:
    assert RULES.step(ApplicationKind.EV_CHARGER, S.SUPPLY_PLAN) == (3, 5)
    assert RULES.next_stage(ApplicationKind.EV_CHARGER, S.SUPPLY_PLAN) is S.COMPLETION_INSPECTION
    assert RULES.next_stage(ApplicationKind.EV_CHARGER, S.CONNECTED) is None
    # a stage the route no longer has (the setting changed since): the step before the next one it has
    assert RULES.step(ApplicationKind.EV_CHARGER, S.DESIGN_REVIEW) == (4, 5)
    assert RULES.next_stage(ApplicationKind.EV_CHARGER, S.DESIGN_REVIEW) is S.COMPLETION_INSPECTION


kinds = st.sampled_from(list(ApplicationKind))
stages = st.sampled_from(ORDER)


@given(kind=kinds, targets=st.lists(stages, max_size=20), notes=st.lists(st.sampled_from(["", "why"]), max_size=20))
def test_moves_stay_on_the_route_forward_unless_a_noted_reopening(
    kind: ApplicationKind, targets: list[ApplicationStage], notes: list[str]
) -> None:
    route = RULES.route(kind)
    current = route[0]
    for target, note in zip(targets, notes, strict=False):
        try:
            move = RULES.move(kind, current, target, note, MONDAY_10)
        except InvalidInput:
            assert target not in route or (ORDER.index(target) < ORDER.index(current) and not note.strip())
            continue
        except Conflict:
            assert target == current
            continue
        assert move.to in route  # a skipped stage is never reached
        forward = ORDER.index(move.to) > ORDER.index(current)
        assert (move.kind is ApplicationEventKind.ADVANCED) == forward
        assert forward or note.strip()  # going back always carries a note
        assert (move.due_at is None) == (move.to == S.CONNECTED)  # the due time belongs to the new stage
        current = move.to
    assert current in route


# -- working days ----------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
holiday_sets = st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2029, 3, 1)), max_size=15)


def _working(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


@given(start=instants, days=st.integers(1, 40), holidays=holiday_sets)
def test_due_is_that_many_working_days_later_on_a_working_day(
    start: datetime, days: int, holidays: frozenset[date]
) -> None:
    due = add_working_days(start, days, TZ, holidays)
    begun, ends = local(start).date(), local(due).date()
    assert due > start and due - start >= timedelta(days=days)
    assert _working(ends, holidays)
    counted = sum(_working(begun + timedelta(d), holidays) for d in range(1, (ends - begun).days + 1))
    # the same time of day; begun on a day off: as if when the next working day starts (the count includes it)
    assert local(due).time() == (local(start).time() if _working(begun, holidays) else time(0))
    assert counted == (days if _working(begun, holidays) else days + 1)


gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))


@given(first=instants, later=gaps, days=st.integers(1, 20))
def test_a_later_start_is_never_due_earlier(first: datetime, later: timedelta, days: int) -> None:
    assert add_working_days(first + later, days, TZ) >= add_working_days(first, days, TZ)


def test_a_friday_stage_is_due_after_the_weekend_and_a_weekend_one_from_monday() -> None:
    friday = datetime(2026, 12, 4, 15, 30, tzinfo=TZ)
    assert local(add_working_days(friday, 1, TZ)) == datetime(2026, 12, 7, 15, 30, tzinfo=TZ)
    saturday = datetime(2026, 12, 5, 9, 0, tzinfo=TZ)
    assert local(add_working_days(saturday, 1, TZ)) == datetime(2026, 12, 8, 0, 0, tzinfo=TZ)  # as if begun Monday 0:00
    late_saturday, early_sunday = datetime(2026, 1, 3, 21, 58, tzinfo=TZ), datetime(2026, 1, 4, 0, 0, tzinfo=TZ)
    assert add_working_days(late_saturday, 1, TZ) == add_working_days(early_sunday, 1, TZ)  # found by hypothesis


def test_overdue() -> None:
    assert is_overdue(MONDAY_10, MONDAY_10 + timedelta(seconds=1))
    assert not is_overdue(MONDAY_10, MONDAY_10) and not is_overdue(None, MONDAY_10)
