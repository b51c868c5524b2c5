"""What the engine and every skill share: the dialogue's configuration, the domain services, one turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.applications.service import ApplicationService
from core.billing.service import BillingService
from core.billing.statements import BillStatements
from core.config import Settings
from core.customers.account_binding import AccountBinding
from core.customers.binding import BindingPolicy
from core.customers.codes import VerificationCodes
from core.dialogue.notices import NoticeResponder
from core.dialogue.periods import MonthRange, normalise_period, parse_month_key, shift
from core.dialogue.state import DialogueState
from core.escalation.service import EscalationService
from core.faults.service import FaultService
from core.feedback.service import FeedbackService
from core.feedback.surveys import SurveyService
from core.models import Conversation, Identity
from core.models.enums import Language, values
from core.outages.queries import OutageQueries
from core.ports import EmailSender, NluResult, OutgoingMessage

Replies = list[OutgoingMessage]
# What a turn does once its writes are committed (an email with a code): a name for the log, and the action.
AfterCommit = tuple[str, Callable[[], Awaitable[object]]]


@dataclass(frozen=True, slots=True)
class DialogueConfig:
    timezone: ZoneInfo
    hotline: str
    payment_methods: tuple[str, ...]
    fallbacks_before_handoff: int
    usage_trend_months: int
    binding: BindingPolicy
    idle: timedelta
    public_tariff_code: str

    @classmethod
    def from_settings(cls, settings: Settings) -> DialogueConfig:
        return cls(
            timezone=settings.tz,
            hotline=settings.service_hotline,
            payment_methods=settings.payment_method_keys,
            fallbacks_before_handoff=settings.fallbacks_before_handoff,
            usage_trend_months=settings.usage_trend_months,
            binding=BindingPolicy.from_settings(settings),
            idle=timedelta(minutes=settings.conversation_idle_minutes),
            public_tariff_code=settings.public_tariff_code,
        )


@dataclass(frozen=True, slots=True)
class DialogueServices:
    """The domain services the skills call (built once, in build_conversations; a session per call)."""

    binding: AccountBinding
    billing: BillingService
    outages: OutageQueries
    faults: FaultService
    escalation: EscalationService
    feedback: FeedbackService
    surveys: SurveyService
    notices: NoticeResponder
    codes: VerificationCodes
    email: EmailSender | None  # None: no SMTP server is configured, no email can be sent
    applications: ApplicationService | None = None  # where a customer's applications stand
    statements: BillStatements | None = None  # bill statements by email, on request


@dataclass(slots=True)
class Turn:
    """One message being answered."""

    session: AsyncSession
    identity: Identity
    conversation: Conversation
    state: DialogueState
    text: str  # what the customer wrote; "" for a button
    payload: str | None
    nlu: NluResult
    now: datetime
    # run by the transport after the commit, never inside the transaction (DESIGN rule 5)
    after_commit: list[AfterCommit] = field(default_factory=list)
    # the months of the last answer, for a follow-up that names none (用了多少度 after September's bill)
    carried_period: MonthRange | None = None

    @property
    def language(self) -> str:
        return self.identity.language if self.identity.language in values(Language) else "zh"

    def period(self, tz: ZoneInfo, *, upcoming: bool = False) -> MonthRange | None:
        """The months the message is about (上个月, 2026年3月, "last three months"), else the months carried
        over from the last answer (core.dialogue.followups), if any. A month without a year is the latest one
        (bills), or with `upcoming` the next one (planned outages: 12月 in November is this December)."""
        own = normalise_period(self.nlu.entity("period"), self.text, self.now.astimezone(tz).date(), upcoming)
        return own if own is not None else self.carried_period


def period_bounds(period: MonthRange, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first month's start and the start of the month after the last, local time (aware)."""
    first_year, first_month = parse_month_key(period.first)
    end_year, end_month = shift(*parse_month_key(period.last), 1)
    since = datetime.combine(datetime(first_year, first_month, 1).date(), time(0), tzinfo=tz)
    until = datetime.combine(datetime(end_year, end_month, 1).date(), time(0), tzinfo=tz)
    return since, until
