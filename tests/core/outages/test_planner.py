"""The notice planner's rules, as examples and as properties (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import Settings
from core.outages.planner import (
    CHANGE,
    FINAL,
    FIRST,
    INITIAL,
    KEY_ACCOUNT,
    RESIDENTIAL,
    SECOND,
    PlannedStage,
    PlannerRules,
    earlier_stages,
    early_by,
    end_of_quiet_hours,
    fanout_lead,
    fanout_starts,
    in_quiet_hours,
    plan_publication,
    plan_reschedule,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = PlannerRules()


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def of(plan: list[PlannedStage], audience: str) -> dict[str, datetime]:
    return {p.stage: p.due_at for p in plan if p.audience == audience}


# ------------------------------------------------------------------------------------------ examples


def test_published_sixteen_days_ahead_gets_the_three_stages_at_their_times() -> None:
    start = local(2026, 12, 10, 9)
    now = start - timedelta(days=16)
    plan = plan_publication(start, now, RULES)
    expected = {
        FIRST: start - timedelta(days=15),
        SECOND: start - timedelta(days=7),
        FINAL: start - timedelta(minutes=30),
    }
    assert of(plan, KEY_ACCOUNT) == expected
    assert of(plan, RESIDENTIAL) == expected  # 09:00 local: not in quiet hours


def test_published_three_days_ahead_collapses_into_an_immediate_initial_and_the_final() -> None:
    start = local(2026, 12, 10, 9)
    now = start - timedelta(days=3)
    for audience in (KEY_ACCOUNT, RESIDENTIAL):
        assert of(plan_publication(start, now, RULES), audience) == {INITIAL: now, FINAL: start - timedelta(minutes=30)}


def test_published_ten_days_ahead_initial_now_then_the_seven_day_notice() -> None:
    start = local(2026, 12, 10, 9)
    now = start - timedelta(days=10)
    assert of(plan_publication(start, now, RULES), KEY_ACCOUNT) == {
        INITIAL: now,
        SECOND: start - timedelta(days=7),
        FINAL: start - timedelta(minutes=30),
    }


def test_a_stage_within_the_hour_after_the_initial_notice_is_dropped() -> None:
    start = local(2026, 12, 10, 9)
    now = start - timedelta(days=7, minutes=20)  # 15d passed; 7d would follow 20 minutes after the initial
    assert of(plan_publication(start, now, RULES), KEY_ACCOUNT) == {INITIAL: now, FINAL: start - timedelta(minutes=30)}


def test_published_twenty_minutes_before_initial_and_final_confirmation_both_now() -> None:
    start = local(2026, 12, 10, 9)
    now = start - timedelta(minutes=20)
    assert of(plan_publication(start, now, RULES), KEY_ACCOUNT) == {INITIAL: now, FINAL: now}


def test_quiet_hours_move_residential_advance_notices_but_not_key_accounts_or_the_final() -> None:
    start = local(2026, 12, 10, 23, 30)  # 15d and 7d fall at 23:30 local, the final at 23:00
    plan = plan_publication(start, start - timedelta(days=20), RULES)
    key, res = of(plan, KEY_ACCOUNT), of(plan, RESIDENTIAL)
    assert key[FIRST] == start - timedelta(days=15)
    assert res[FIRST] == local(2026, 11, 26, 7)  # the morning after
    assert res[SECOND] == local(2026, 12, 4, 7)
    assert res[FINAL] == key[FINAL] == start - timedelta(minutes=30)
    moved = next(p for p in plan if p.audience == RESIDENTIAL and p.stage == FIRST)
    assert moved.moved_from == start - timedelta(days=15)


def test_a_late_initial_in_quiet_hours_waits_unless_that_would_pass_the_final() -> None:
    start = local(2026, 12, 10, 9)
    now = local(2026, 12, 8, 23)  # 2 days ahead, at 23:00
    assert of(plan_publication(start, now, RULES), RESIDENTIAL)[INITIAL] == local(2026, 12, 9, 7)
    early = local(2026, 12, 10, 7, 15)  # the outage starts at 07:15: the final is due 06:45
    now = local(2026, 12, 10, 1)
    assert of(plan_publication(early, now, RULES), RESIDENTIAL)[INITIAL] == now


def test_reschedule_sends_a_change_now_and_replans_only_pending_stages() -> None:
    new_start = local(2026, 12, 20, 9)
    now = local(2026, 12, 1, 10)  # 15d already sent; 7d pending
    plan = plan_reschedule(new_start, now, RULES, pending={SECOND}, told=True)
    assert of(plan, KEY_ACCOUNT) == {
        CHANGE: now,
        SECOND: new_start - timedelta(days=7),
        FINAL: new_start - timedelta(minutes=30),
    }


def test_reschedule_earlier_collapses_a_passed_pending_stage_into_an_initial_for_the_untold() -> None:
    new_start = local(2026, 12, 4, 9)
    now = local(2026, 12, 1, 10)
    plan = plan_reschedule(new_start, now, RULES, pending={SECOND}, told=True)
    key = [p for p in plan if p.audience == KEY_ACCOUNT]
    assert [(p.stage, p.recipients) for p in key] == [(CHANGE, "told"), (INITIAL, "untold"), (FINAL, "all")]


def test_change_during_the_outage_is_just_the_change() -> None:
    start = local(2026, 12, 4, 9)
    plan = plan_reschedule(start, start + timedelta(hours=1), RULES, pending=set(), told=True)
    assert {p.stage for p in plan} == {CHANGE}


def test_quiet_hours_helpers() -> None:
    assert in_quiet_hours(local(2026, 12, 1, 22), RULES)
    assert in_quiet_hours(local(2026, 12, 1, 6, 59), RULES)
    assert not in_quiet_hours(local(2026, 12, 1, 7), RULES)
    assert end_of_quiet_hours(local(2026, 12, 1, 23), RULES) == local(2026, 12, 2, 7)
    assert end_of_quiet_hours(local(2026, 12, 1, 3), RULES) == local(2026, 12, 1, 7)
    assert end_of_quiet_hours(local(2026, 12, 1, 12), RULES) == local(2026, 12, 1, 12)
    none = PlannerRules(quiet_start=time(22), quiet_end=time(22))
    assert not in_quiet_hours(local(2026, 12, 1, 23), none)


def test_rules_from_settings() -> None:
    rules = PlannerRules.from_settings(Settings(notice_first_days=10, notice_second_days=3, notice_final_minutes=45))
    assert (rules.first_before, rules.second_before, rules.final_before) == (
        timedelta(days=10),
        timedelta(days=3),
        timedelta(minutes=45),
    )


def test_a_hundred_thousand_at_thirty_per_second_start_about_an_hour_early() -> None:
    lead = fanout_lead(100_000, 30, timedelta(minutes=10))
    assert timedelta(minutes=60) < lead < timedelta(minutes=70)
    start = local(2026, 12, 10, 9)
    plan = [p for p in plan_publication(start, start - timedelta(days=1), RULES) if p.stage == FINAL]
    starts = fanout_starts(
        plan, {(FINAL, KEY_ACCOUNT): 12, (FINAL, RESIDENTIAL): 100_000}, 30, timedelta(minutes=10), RULES
    )
    assert starts[(FINAL, KEY_ACCOUNT)] == starts[(FINAL, RESIDENTIAL)]
    assert start - timedelta(minutes=30) - starts[(FINAL, KEY_ACCOUNT)] >= timedelta(seconds=100_012 / 30)


# ------------------------------------------------------------------------------------------ properties

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0)
)
leads = st.timedeltas(min_value=timedelta(minutes=-30), max_value=timedelta(days=40)).map(
    lambda d: timedelta(seconds=int(d.total_seconds()))
)
quiet = st.tuples(st.integers(0, 23), st.integers(0, 23)).map(lambda hs: (time(hs[0]), time(hs[1])))
rules_st = st.builds(
    lambda days, second, final, gap, q: PlannerRules(
        first_before=timedelta(days=days),
        second_before=timedelta(days=second),
        final_before=timedelta(minutes=final),
        min_gap=timedelta(minutes=gap),
        quiet_start=q[0],
        quiet_end=q[1],
    ),
    st.integers(2, 30),
    st.integers(1, 1),
    st.integers(1, 180),
    st.integers(0, 180),
    quiet,
).filter(lambda r: r.second_before < r.first_before)


def notices_for(plan: list[PlannedStage], audience: str, told: bool) -> list[PlannedStage]:
    """What one person of `audience` (already told or not) receives under `plan`."""
    wanted = {"all", "told"} if told else {"all", "untold"}
    return [p for p in plan if p.audience == audience and p.recipients in wanted]


@settings(max_examples=300)
@given(now=instants, lead=leads, rules=rules_st)
def test_property_publication(now: datetime, lead: timedelta, rules: PlannerRules) -> None:
    start = now + lead
    plan = plan_publication(start, now, rules)
    if now >= start:
        assert plan == []
        return
    final_at = max(now, start - rules.final_before)
    for audience in (KEY_ACCOUNT, RESIDENTIAL):
        mine = notices_for(plan, audience, told=False)
        stages = [p.stage for p in mine]
        # every notice between now and the start; exactly one final confirmation, never moved
        assert all(now <= p.due_at <= start for p in mine)
        assert stages.count(FINAL) == 1
        assert next(p for p in mine if p.stage == FINAL).due_at == final_at
        # never two notices within min_gap, the final confirmation aside
        advance = sorted(p.due_at for p in mine if p.stage != FINAL)
        assert all(b - a >= rules.min_gap for a, b in itertools.pairwise(advance))
        # a stage whose time has passed is never planned; it became the one immediate initial notice
        for stage in (FIRST, SECOND):
            if start - rules.before(stage) <= now:
                assert stage not in stages
        passed_any = start - rules.first_before <= now
        assert (INITIAL in stages) == passed_any
        assert stages.count(INITIAL) <= 1
        # everyone hears of it before the final confirmation when there is time for an advance notice
        assert advance or final_at == now or not passed_any or INITIAL in stages
    # key accounts are never moved
    for p in plan:
        if p.audience == KEY_ACCOUNT and p.stage in (FIRST, SECOND):
            assert p.due_at == start - rules.before(p.stage)
        if p.audience == KEY_ACCOUNT and p.stage == INITIAL:
            assert p.due_at == now
    # residential advance notices stay out of the quiet hours unless moving them would pass the final
    for p in plan:
        if p.audience == RESIDENTIAL and p.stage != FINAL and in_quiet_hours(p.due_at, rules):
            assert p.moved_from is None and end_of_quiet_hours(p.due_at, rules) >= final_at
        if p.moved_from is not None:
            assert p.due_at == end_of_quiet_hours(p.moved_from, rules) and p.due_at < final_at


@settings(max_examples=300)
@given(
    now=instants,
    lead=leads,
    rules=rules_st,
    pending=st.sets(st.sampled_from([FIRST, SECOND])),
    told=st.booleans(),
)
def test_property_reschedule(
    now: datetime, lead: timedelta, rules: PlannerRules, pending: set[str], told: bool
) -> None:
    start = now + lead
    plan = plan_reschedule(start, now, rules, pending=pending, told=told)
    for audience in (KEY_ACCOUNT, RESIDENTIAL):
        changes = [p for p in plan if p.audience == audience and p.stage == CHANGE]
        assert [p.due_at for p in changes] == ([now] if told else [])  # the change notice goes now
        for person_told in (True, False):
            mine = notices_for(plan, audience, told=person_told)
            advance = sorted(p.due_at for p in mine if p.stage != FINAL)
            assert all(b - a >= rules.min_gap for a, b in itertools.pairwise(advance))
            assert all(p.stage in pending | {CHANGE, INITIAL, FINAL} for p in mine)
            if not person_told:
                assert CHANGE not in {p.stage for p in mine}
            else:
                assert INITIAL not in {p.stage for p in mine}
        if now < start:
            assert [p.due_at for p in plan if p.audience == audience and p.stage == FINAL] == [
                max(now, start - rules.final_before)
            ]
        else:
            assert {p.stage for p in plan} <= {CHANGE}


@settings(max_examples=200)
@given(
    now=instants,
    lead=leads.filter(lambda d: d > timedelta(0)),
    rules=rules_st,
    key_n=st.integers(0, 50),
    res_n=st.integers(0, 300_000),
    rate=st.sampled_from([1.0, 30.0, 1000.0]),
    margin=st.integers(0, 30).map(lambda m: timedelta(minutes=m)),
)
def test_property_fanout_starts(
    now: datetime, lead: timedelta, rules: PlannerRules, key_n: int, res_n: int, rate: float, margin: timedelta
) -> None:
    start = now + lead
    plan = plan_publication(start, now, rules)
    counts = {(p.stage, p.audience): key_n if p.audience == KEY_ACCOUNT else res_n for p in plan}
    starts = fanout_starts(plan, counts, rate, margin, rules)
    assert set(starts) == set(counts)
    due = {(p.stage, p.audience): p for p in plan}
    for (stage, audience), begin in starts.items():
        p = due[(stage, audience)]
        assert begin <= p.due_at
        if audience == RESIDENTIAL:
            # key accounts first: never after the residential subscribers of the same stage
            assert starts.get((stage, KEY_ACCOUNT), begin) <= begin
        key, res = due.get((stage, KEY_ACCOUNT)), due.get((stage, RESIDENTIAL))
        if p.moved_from is not None:  # moved out of the quiet hours: starts when they end, not before
            assert begin == p.due_at
        elif key is None or res is None:  # the gap rule dropped it for the other group
            if audience == KEY_ACCOUNT or stage == FINAL or not in_quiet_hours(begin, rules):
                assert p.due_at - begin >= timedelta(seconds=counts[(stage, audience)] / rate) + margin
        elif key.due_at == res.due_at:
            # the whole stage, both groups, fits between the start and the due time at the rate
            assert key.due_at - starts[(stage, KEY_ACCOUNT)] >= timedelta(seconds=(key_n + res_n) / rate) + margin
        elif audience == KEY_ACCOUNT:
            assert p.due_at - begin >= timedelta(seconds=key_n / rate) + margin


# ------------------------------------------------------------------------------ superseded, early starts


def test_a_started_stage_supersedes_the_regular_ones_before_it_only() -> None:
    assert earlier_stages(FINAL) == (INITIAL, FIRST, SECOND)
    assert earlier_stages(SECOND) == (INITIAL, FIRST)
    assert earlier_stages(FIRST) == (INITIAL,)
    assert earlier_stages(INITIAL) == ()
    assert earlier_stages(CHANGE) == ()  # a change notice supersedes nothing (and nothing supersedes it)


def test_early_by_is_how_long_before_its_due_time_a_stage_starts() -> None:
    due = datetime(2026, 12, 1, 8, tzinfo=SHANGHAI)
    assert early_by(due, due - timedelta(minutes=25)) == timedelta(minutes=25)
    assert early_by(due, due) == early_by(due, due + timedelta(minutes=5)) == timedelta(0)
