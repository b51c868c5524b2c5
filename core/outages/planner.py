"""Who gets which notice when: the planned-outage notice plan, as pure functions (no database, no clock).

The rule (DOMAIN.md): key accounts are told 15 days before a planned outage, again 7 days before, and
30 minutes before the outage they are asked for a final confirmation; residential subscribers get the same
three notices. The figures are settings (`PlannerRules.from_settings`).

- Published late: the regular stages whose time has passed collapse into one immediate "initial" notice.
- Two notices to one person are at least `min_gap` apart; only the final confirmation may come sooner.
- Quiet hours move residential 15-day, 7-day and initial notices to the end of the quiet hours (never the
  final confirmation, never key accounts, and never past the final confirmation).
- Rescheduled: a "change" notice now to those already told; the stages not started yet are planned again.

A fault outage (unplanned) has no advance notices: "we know about it" goes out at once when it is published
(an "initial" notice, to those not told yet), a "change" when its estimate moves, and "restored" when power
is back. They are urgent: no quiet hours, no gap (`plan_fault`).

Each planned stage names its audience group ("key_account" or "residential") and which of that group it
is for: everyone in it, only those already told ("change", "cancel"), or only those not told yet
("initial"). The people themselves are resolved when the stage is sent, not here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from math import ceil
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from core.clock import daily_window_end, in_daily_window
from core.models.enums import Audience, Stage

if TYPE_CHECKING:
    from core.config import Settings

KEY_ACCOUNT, RESIDENTIAL = Audience.KEY_ACCOUNT, Audience.RESIDENTIAL
AUDIENCES = (KEY_ACCOUNT, RESIDENTIAL)

FIRST, SECOND, FINAL = Stage.FIRST, Stage.SECOND, Stage.FINAL
INITIAL, CHANGE, CANCEL, RESTORED = Stage.INITIAL, Stage.CHANGE, Stage.CANCEL, Stage.RESTORED
REGULAR = (FIRST, SECOND)  # the advance notices (quiet hours apply to residential ones)
IMMEDIATE = (INITIAL, CHANGE, CANCEL, RESTORED)

Recipients = Literal["all", "told", "untold"]

# The regular stages in the order they reach a person: one that has started supersedes the earlier ones.
SEQUENCE = (INITIAL, FIRST, SECOND, FINAL)
SUPERSEDED = "superseded by the {stage} notice"

# Which stage uses which template (templates/notices/<name>.<lang>.j2): a planned outage's, a fault's.
TEMPLATE_OF_STAGE: dict[str, str] = {
    FIRST: "initial",
    SECOND: "reminder",
    FINAL: "final_confirmation",
    INITIAL: "initial",
    CHANGE: "change",
    CANCEL: "cancel",
    RESTORED: "restored",
}
TEMPLATE_OF_FAULT_STAGE: dict[str, str] = {
    INITIAL: "fault_initial",
    CHANGE: "fault_change",
    CANCEL: "fault_cancel",
    RESTORED: "fault_restored",
}


def earlier_stages(stage: str) -> tuple[str, ...]:
    """The regular stages a started `stage` supersedes: their notices still waiting are not sent any more
    (a worker down for a day, back 10 minutes before the outage, sends the final confirmation only)."""
    if stage not in SEQUENCE:
        return ()
    return tuple(s for s in SEQUENCE[: SEQUENCE.index(stage)] if s != FINAL)


def early_by(due_at: datetime, send_from: datetime) -> timedelta:
    """How much earlier than its due time a stage starts sending (its audience cannot all be reached by
    then at the rate otherwise); zero when it starts on time."""
    return max(due_at - send_from, timedelta(0))


def recipients_of(stage: str) -> Recipients:
    """Who of an audience group a stage is for: change and cancel go to those already told, the late
    initial notice to those not told yet, every other stage to everyone."""
    if stage in (CHANGE, CANCEL):
        return "told"
    if stage == INITIAL:
        return "untold"
    return "all"


@dataclass(frozen=True, slots=True)
class PlannerRules:
    first_before: timedelta = timedelta(days=15)
    second_before: timedelta = timedelta(days=7)
    final_before: timedelta = timedelta(minutes=30)
    min_gap: timedelta = timedelta(hours=1)
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    @classmethod
    def from_settings(cls, settings: Settings) -> PlannerRules:
        return cls(
            first_before=timedelta(days=settings.notice_first_days),
            second_before=timedelta(days=settings.notice_second_days),
            final_before=timedelta(minutes=settings.notice_final_minutes),
            min_gap=timedelta(minutes=settings.notice_min_gap_minutes),
            quiet_start=settings.notice_quiet_start,
            quiet_end=settings.notice_quiet_end,
            tz=settings.tz,
        )

    def before(self, stage: str) -> timedelta:
        table: dict[str, timedelta] = {FIRST: self.first_before, SECOND: self.second_before, FINAL: self.final_before}
        return table[stage]


@dataclass(frozen=True, slots=True)
class PlannedStage:
    stage: str
    audience: str  # key_account | residential
    due_at: datetime
    moved_from: datetime | None = None  # quiet hours moved it from here

    @property
    def recipients(self) -> Recipients:
        return recipients_of(self.stage)


# ------------------------------------------------------------------------------------------ quiet hours


def in_quiet_hours(at: datetime, rules: PlannerRules) -> bool:
    return in_daily_window(at, rules.quiet_start, rules.quiet_end, rules.tz)


def end_of_quiet_hours(at: datetime, rules: PlannerRules) -> datetime:
    """`at` itself outside quiet hours; inside them, the moment they end (in UTC)."""
    return daily_window_end(at, rules.quiet_start, rules.quiet_end, rules.tz)


# ------------------------------------------------------------------------------------------ the plan


def plan_publication(starts_at: datetime, now: datetime, rules: PlannerRules) -> list[PlannedStage]:
    """The notice plan of an outage published at `now`, for both audience groups, in time order."""
    return _plan(starts_at, now, rules, candidates=REGULAR, told=False)


def plan_fault(stage: str, now: datetime) -> list[PlannedStage]:
    """A fault outage's notice (initial, change or restored): now, to both audience groups (key accounts
    first, as the outbox orders them)."""
    _aware(now)
    return [PlannedStage(stage, audience, now) for audience in AUDIENCES]


def plan_reschedule(
    starts_at: datetime, now: datetime, rules: PlannerRules, *, pending: Collection[str], told: bool
) -> list[PlannedStage]:
    """The plan after a change at `now`: a change notice now to those already told (when anybody is), the
    regular stages still `pending` planned again for the new start (a passed one collapses into an
    initial notice for those not told yet), and the final confirmation for the new start."""
    return _plan(starts_at, now, rules, candidates=[s for s in REGULAR if s in pending], told=told)


def _plan(
    starts_at: datetime, now: datetime, rules: PlannerRules, *, candidates: Iterable[str], told: bool
) -> list[PlannedStage]:
    _aware(starts_at, now)
    plan: list[PlannedStage] = []
    for audience in AUDIENCES:
        if told:
            plan.append(PlannedStage(CHANGE, audience, now))
        if now >= starts_at:  # under way already: nothing left to announce but the change itself
            continue
        final_at = max(now, starts_at - rules.final_before)
        passed = [s for s in candidates if starts_at - rules.before(s) <= now]
        advance = [PlannedStage(INITIAL, audience, now)] if passed else []
        advance += [PlannedStage(s, audience, starts_at - rules.before(s)) for s in candidates if s not in passed]
        if audience == RESIDENTIAL:
            advance = [_out_of_quiet_hours(p, final_at, rules) for p in advance]
        # Two notices to one person at least min_gap apart: a change (for those told) and an initial
        # (for those not told) reach different people, so both count as the one notice of `now`.
        last = now if told else None
        for item in sorted(advance, key=lambda p: p.due_at):
            if item.stage == INITIAL or last is None or item.due_at >= last + rules.min_gap:
                plan.append(item)
                last = item.due_at if last is None else max(last, item.due_at)
        plan.append(PlannedStage(FINAL, audience, final_at))
    return sorted(plan, key=lambda p: (p.due_at, AUDIENCES.index(p.audience), _order(p.stage)))


def _out_of_quiet_hours(item: PlannedStage, final_at: datetime, rules: PlannerRules) -> PlannedStage:
    moved = end_of_quiet_hours(item.due_at, rules)
    if moved == item.due_at or moved >= final_at:  # not quiet, or it would come after the final one
        return item
    return PlannedStage(item.stage, item.audience, moved, moved_from=item.due_at)


def _order(stage: str) -> int:
    return (CHANGE, INITIAL, FIRST, SECOND, FINAL, CANCEL, RESTORED).index(stage)


def _aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None:
            raise ValueError("the planner needs timezone-aware datetimes")


# ------------------------------------------------------------------------------------ fan-out start


def fanout_lead(recipients: int, rate: float, margin: timedelta) -> timedelta:
    """How long before its due time a stage must start so that `recipients` messages, sent at `rate`
    per second (what the limiter keeps up: core.notices.ratelimit.sustained_rate), are all out by then: recipients
    ÷ rate, plus a margin for retries and slow sends."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    return timedelta(seconds=ceil(max(recipients, 0) / rate)) + margin


def fanout_starts(
    plan: Iterable[PlannedStage],
    recipients: Mapping[tuple[str, str], int],
    rate: float,
    margin: timedelta,
    rules: PlannerRules,
) -> dict[tuple[str, str], datetime]:
    """When each (stage, audience) of a plan starts sending: early enough that at `rate` the whole stage
    is told by its due time, key accounts first.

    The two groups of a stage due at the same time share one start, sized for both together (the
    dispatcher then sends key accounts first); a residential advance notice moved by the quiet hours
    starts when they end, never before the key accounts of its stage.
    """
    stages = list(plan)
    due = {(p.stage, p.audience): p for p in stages}
    starts: dict[tuple[str, str], datetime] = {}
    for p in stages:
        if p.audience != KEY_ACCOUNT:
            continue
        key_n = recipients.get((p.stage, KEY_ACCOUNT), 0)
        other = due.get((p.stage, RESIDENTIAL))
        together = key_n + (recipients.get((p.stage, RESIDENTIAL), 0) if other and other.due_at == p.due_at else 0)
        starts[(p.stage, KEY_ACCOUNT)] = p.due_at - fanout_lead(together, rate, margin)
    for p in stages:
        if p.audience != RESIDENTIAL:
            continue
        key_start = starts.get((p.stage, KEY_ACCOUNT))
        key_p = due.get((p.stage, KEY_ACCOUNT))
        if key_start is not None and key_p is not None and key_p.due_at == p.due_at:
            starts[(p.stage, RESIDENTIAL)] = key_start
            continue
        start = p.due_at - fanout_lead(recipients.get((p.stage, RESIDENTIAL), 0), rate, margin)
        if p.moved_from is not None:  # moved out of the quiet hours: not a minute before they end
            start = p.due_at
        elif p.stage != FINAL and in_quiet_hours(start, rules):
            start = min(end_of_quiet_hours(start, rules), p.due_at)
        if key_start is not None:
            start = max(start, key_start)
        starts[(p.stage, RESIDENTIAL)] = start
    return starts
