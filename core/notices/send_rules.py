"""What the dispatcher decides about a row at claim and send time, apart from sending it: a stage
superseded by a later one, a residential advance notice waiting out the quiet hours, a final confirmation
marked late, and a channel paused because it cannot send to anybody (a wrong bot token, the network down).
Pure functions, and the pauses' small state (one per dispatcher)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from core.models import NoticeDelivery
from core.models.enums import Audience, BillNotice, Stage, SubjectKind, Tier
from core.observability.metrics import Metrics
from core.outages.planner import SUPERSEDED, PlannerRules, earlier_stages, end_of_quiet_hours, in_quiet_hours
from core.security import mask_digits

log = logging.getLogger("gridtalk.notices.dispatcher")

LATE_GRACE = timedelta(minutes=1)  # a final confirmation sent later than this after its due time is "late"
QUIET_STAGES = (Stage.INITIAL, Stage.FIRST, Stage.SECOND)  # residential advance notices wait out quiet hours
BILL_REMINDERS = (BillNotice.DUE, BillNotice.ARREARS)  # so do bill reminders, for everybody
# what a channel's TemporaryFailure is caused by when it cannot send to anybody (the server unreachable, not this
# recipient): aiohttp's and httpx's failure to connect. Telegram raises ChannelDown itself (a 401, the Bot API
# unreachable); a Telegram timeout is one send's trouble and never pauses the channel.
DOWN_CAUSES = {"ClientConnectorError", "ConnectError"}
SETTING_OF_CHANNEL = {
    "telegram": "GRIDTALK_TELEGRAM_TOKEN",
    "email": "GRIDTALK_SMTP_HOST",
    "sms": "GRIDTALK_SMS_WEBHOOK_URL",
}
StartedStage = tuple[int, str, str, datetime]  # outage id, stage, audience, due at


def _advance(rows: Sequence[NoticeDelivery]) -> list[NoticeDelivery]:
    return [
        r for r in rows if r.outage_id is not None and r.tier != Tier.STAFF and r.stage in earlier_stages(Stage.FINAL)
    ]


def advance_outages(rows: Sequence[NoticeDelivery]) -> set[int]:
    """The outages of the advance notices among `rows` (whose later stages may have started)."""
    return {r.outage_id for r in _advance(rows) if r.outage_id is not None}


def superseded_rows(rows: Sequence[NoticeDelivery], started: Sequence[StartedStage]) -> dict[int, str]:
    """Advance notices whose later stage (same outage and audience, due later) has started: by id, why."""
    found: dict[int, str] = {}
    for r in _advance(rows):
        audience = Audience.KEY_ACCOUNT if r.tier == Tier.KEY_ACCOUNT else Audience.RESIDENTIAL
        for outage_id, stage, group, due_at in started:
            later = due_at > r.due_at and r.stage in earlier_stages(stage)
            if later and outage_id == r.outage_id and group == audience:
                found[r.id] = SUPERSEDED.format(stage=stage)
                break
    return found


def waits_for_quiet_hours(
    row: NoticeDelivery, now: datetime, rules: PlannerRules, urgent: Collection[int] = ()
) -> bool:
    """A residential advance notice inside the quiet hours waits until they end, unless they end after the
    final confirmation is due (then it goes now, as the planner has it: never past the final one). The
    notices of the `urgent` outages (faults: power is off now) never wait. A bill reminder always waits."""
    if row.subject_kind == SubjectKind.BILL and row.stage in BILL_REMINDERS:
        return in_quiet_hours(now, rules)
    if not (
        row.outage_id not in urgent
        and row.subject_kind == SubjectKind.OUTAGE
        and row.tier == Tier.EVERYONE
        and row.stage in QUIET_STAGES
        and in_quiet_hours(now, rules)
    ):
        return False
    ends = end_of_quiet_hours(now, rules)
    return row.deadline_at is None or ends < row.deadline_at - rules.final_before


def late_note(row: NoticeDelivery, now: datetime) -> str | None:
    """A final confirmation sent after its due time (the start has not passed: it still goes) says so."""
    late = now - row.due_at
    if row.stage != Stage.FINAL or row.tier == Tier.STAFF or late <= LATE_GRACE:
        return None
    return f"late: sent {int(late.total_seconds() // 60)} min after its due time"


def channel_down(exc: BaseException) -> bool:
    """A TemporaryFailure of the channel itself (every send would fail the same way), not of one recipient:
    the server unreachable. (A channel that knows it is down raises ChannelDown instead.)"""
    cause = exc.__cause__
    return cause is not None and type(cause).__name__ in DOWN_CAUSES


class ChannelPauses:
    """Channels that cannot send to anybody just now, and until when (logged once, counted in /metrics)."""

    def __init__(self, seconds: float, metrics: Metrics | None = None) -> None:
        self.seconds = seconds
        self.metrics = metrics
        self._until: dict[str, datetime] = {}

    def paused(self, channel: str, now: datetime) -> bool:
        until = self._until.get(channel)
        if until is None:
            return False
        if until <= now:
            del self._until[channel]
            log.warning("%s: pause over, sending again", channel)
            return False
        return True

    def until(self, channel: str) -> datetime | None:
        return self._until.get(channel)

    def pause(self, channel: str, error: str, now: datetime) -> datetime:
        until = self._until.get(channel)
        if until is None or until <= now:
            until = now + timedelta(seconds=self.seconds)
            self._until[channel] = until
            log.error(
                "%s cannot send (%s): paused for %.0f s; check %s",
                channel,
                mask_digits(error),
                self.seconds,
                SETTING_OF_CHANNEL.get(channel, "its settings"),
            )
            if self.metrics is not None:
                self.metrics.delivery("-", channel, "channel_paused")
        return until
