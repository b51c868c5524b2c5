"""The dialogue engine: one turn of a conversation → the replies (text + buttons) and their side effects.

The same for every channel. Input: who is talking (an Identity), what they sent (text, or a button's
payload), what the NLU understood of it, and the conversation state (a half-filled form, the fallback
streak). Output: replies rendered from templates/ in the customer's language. Side effects go through the
domain services (binding, fault tickets, escalations) inside the caller's session; nothing here commits.

Button payloads (≤ 64 bytes, Telegram's limit for callback data):

    intent:<name>        as if the customer had asked that (the menu buttons)
    menu | help | start  the menu, the help text, the welcome
    bind | bind:<number> start binding (with the account number given)
    accounts             the accounts bound here, to switch or unbind
    account:<id>         answer about this bound account from now on
    unbind:<id>          unbind this account
    lang | lang:<zh|en>  choose the language
    fault:home           the fault is at the bound account's address
    fault:hazard:<yes|no>
    cancel               leave the current form
    unsupported          the customer sent something that is not text (a photo, a sticker)
    notice:…             an outage notice's button: handed to the NoticeResponder
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.answers import amount_due, explain, facts, tariff_facts, usage_trend
from core.billing.calc import TariffTerms
from core.billing.repository import BillRepository
from core.clock import Clock
from core.config import Settings
from core.customers.binding import BindingPolicy
from core.customers.repository import AccountRepository
from core.customers.service import AccountBinding, BindOutcome, set_language
from core.dialogue import keywords
from core.dialogue.intents import (
    ACCOUNT_INTENTS,
    FALLBACK,
    FAQ_INTENTS,
    NOT_AN_INTERRUPTION,
    OUT_OF_SCOPE,
)
from core.dialogue.notices import NOTICE_PAYLOAD_PREFIX, NoticeResponder
from core.dialogue.periods import MonthRange, normalise_period, parse_month_key, shift
from core.dialogue.repository import FeedbackRepository, OutageLookup
from core.dialogue.state import DialogueState
from core.errors import DomainError
from core.escalation.policy import EscalationDecision, decide
from core.escalation.service import record_escalation
from core.faults.hazards import hazards_in, is_generic_request, mentions_home
from core.faults.service import FaultReport, open_ticket
from core.models import Conversation, Feedback, Identity, Outage, UtilityAccount
from core.models.customers import LANGUAGES
from core.ports import Button, NluResult, OutgoingMessage
from core.security import mask_digits
from core.templating import Renderer

log = logging.getLogger("gridtalk.dialogue")

MENU_INTENTS = (
    "bill_amount",
    "bill_explain",
    "usage_query",
    "outage_status",
    "planned_outage_query",
    "report_fault",
    "tariff_query",
    "payment_methods",
    "human_handoff",
)
# A message describing a hazard with one of these intents starts a fault report (safety instruction first).
HAZARD_FIRST = frozenset({"report_fault", "outage_status", FALLBACK, OUT_OF_SCOPE})
# An NLU confidence at which a message in the middle of a form is taken as a new question, not an answer.
CONFIDENT = 0.8
# While a fault form asks where or what happened, only these read as a new question rather than an answer.
LEAVES_FAULT_FORM = (
    ACCOUNT_INTENTS
    | FAQ_INTENTS
    | {"payment_methods", "bind_account", "human_handoff", "complaint", "subscribe_notices", "unsubscribe_notices"}
)


@dataclass(frozen=True, slots=True)
class DialogueConfig:
    timezone: ZoneInfo
    hotline: str
    payment_methods: tuple[str, ...]
    fallbacks_before_handoff: int
    usage_trend_months: int
    binding: BindingPolicy
    idle: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> DialogueConfig:
        return cls(
            timezone=settings.tz,
            hotline=settings.service_hotline,
            payment_methods=settings.payment_method_keys,
            fallbacks_before_handoff=settings.fallbacks_before_handoff,
            usage_trend_months=settings.usage_trend_months,
            binding=BindingPolicy(
                max_failures=settings.binding_max_failures,
                window=timedelta(minutes=settings.binding_window_minutes),
                lock=timedelta(minutes=settings.binding_lock_minutes),
            ),
            idle=timedelta(minutes=settings.conversation_idle_minutes),
        )


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

    @property
    def language(self) -> str:
        return self.identity.language if self.identity.language in LANGUAGES else "zh"


Replies = list[OutgoingMessage]


class DialogueEngine:
    def __init__(self, config: DialogueConfig, renderer: Renderer, clock: Clock, notices: NoticeResponder) -> None:
        self.config = config
        self.renderer = renderer
        self.clock = clock
        self.notices = notices
        self.binding = AccountBinding(clock, config.binding)

    # ------------------------------------------------------------------------------------ rendering

    def say(self, turn: Turn, template: str, buttons: tuple[Button, ...] = (), **context: object) -> OutgoingMessage:
        """A reply from templates/dialogue/<template> (or templates/<folder>/<name> for "folder/name")."""
        context.setdefault("hotline", self.config.hotline)
        name = template if "/" in template else f"dialogue/{template}"
        text = self.renderer.render(name, turn.language, html=False, **context)
        return OutgoingMessage(text, buttons)

    def button(self, turn: Turn, key: str, payload: str, arg: str = "") -> Button:
        return Button(self.renderer.render("dialogue/buttons", turn.language, key=key, arg=arg), payload)

    def menu_buttons(self, turn: Turn, *, bound: bool) -> tuple[Button, ...]:
        buttons = [self.button(turn, name, f"intent:{name}") for name in MENU_INTENTS]
        buttons.append(self.button(turn, "accounts", "accounts") if bound else self.button(turn, "bind", "bind"))
        buttons.append(self.button(turn, "language", "lang"))
        return tuple(buttons)

    async def menu(self, turn: Turn, template: str = "menu", **context: object) -> OutgoingMessage:
        bound = await self.binding.current(turn.session, turn.identity) is not None
        return self.say(turn, template, self.menu_buttons(turn, bound=bound), **context)

    def cancel_button(self, turn: Turn) -> Button:
        return self.button(turn, "cancel", "cancel")

    # ---------------------------------------------------------------------------------- entry point

    async def respond(self, turn: Turn) -> Replies:
        try:
            if turn.payload is not None:
                return await self._payload(turn, turn.payload)
            return await self._text(turn)
        except DomainError as exc:
            log.info("domain error in dialogue: %s", mask_digits(exc.message))
            return [self.say(turn, "error", code=exc.code)]

    async def _text(self, turn: Turn) -> Replies:
        text = turn.text
        if keywords.is_cancel(text):
            return await self._cancel(turn)
        language = keywords.language_asked(text)
        if language is not None:
            return await self._set_language(turn, language)
        if turn.state.form is not None:
            replies = await self._form_input(turn)
            if replies is not None:
                return replies
        intent = turn.nlu.intent
        if intent in (FALLBACK, OUT_OF_SCOPE) and keywords.account_number_in(text):
            intent = "bind_account"  # a bare 10-digit number is an account number
        return await self._intent(turn, intent)

    async def _payload(self, turn: Turn, payload: str) -> Replies:
        kind, _, arg = payload.partition(":")
        if payload.startswith(NOTICE_PAYLOAD_PREFIX):
            answer = await self.notices.on_payload(turn.session, turn.identity, payload, turn.language)
            return answer or [self.say(turn, "notice_nothing_pending")]
        if kind == "intent":
            if turn.state.form is not None and arg != {"bind": "bind_account", "fault": "report_fault"}.get(
                turn.state.form
            ):
                turn.state.clear_form()
            return await self._intent(turn, arg)
        if kind == "fault" and turn.state.form == "fault":
            return await self._fault_button(turn, arg)
        turn.state.fallbacks = 0
        if kind in ("menu", "start"):
            template = "welcome" if kind == "start" else "menu"
            return [await self.menu(turn, template)]
        if kind == "help":
            return [await self.menu(turn, "help")]
        if kind == "unsupported":  # a photo, a sticker, a voice message ...
            return [self.say(turn, "unsupported")]
        if kind == "cancel":
            return await self._cancel(turn)
        if kind == "bind":
            turn.state.clear_form()
            return await self._bind_start(turn, account_number=keywords.account_number_in(arg))
        if kind == "accounts":
            return await self._accounts(turn)
        if kind == "account" and arg.isdigit():
            account = await self.binding.choose(turn.session, turn.identity, int(arg))
            return [self.say(turn, "account_chosen", account=account), await self.menu(turn)]
        if kind == "unbind" and arg.isdigit():
            account = await self.binding.unbind(turn.session, turn.identity, int(arg))
            return [self.say(turn, "unbound", account=account), await self.menu(turn)]
        if kind == "lang":
            if arg in LANGUAGES:
                return await self._set_language(turn, arg)
            buttons = (self.button(turn, "lang_zh", "lang:zh"), self.button(turn, "lang_en", "lang:en"))
            return [self.say(turn, "language_choose", buttons)]
        return [await self.menu(turn, "fallback")]  # a stale or unknown button

    # --------------------------------------------------------------------------------------- intents

    async def _intent(self, turn: Turn, intent: str) -> Replies:
        state = turn.state
        hazards = hazards_in(turn.text)
        if hazards and intent in HAZARD_FIRST:
            state.fallbacks = 0
            return await self._fault_start(turn)  # safety first, whatever else the message seemed to be
        if intent in (FALLBACK, OUT_OF_SCOPE):
            state.fallbacks += 1
        else:
            state.fallbacks = 0
        decision = decide(intent, state.fallbacks, fallbacks_before_handoff=self.config.fallbacks_before_handoff)
        if decision is not None:
            state.fallbacks = 0
            if await self._is_key_account(turn):
                decision = dataclasses.replace(decision, priority="high")
            replies = await self._escalate(turn, decision)
            if hazards:
                replies.insert(0, self.say(turn, "fault_safety", hazards=hazards))
            return replies
        if intent in (FALLBACK, OUT_OF_SCOPE):
            template = "out_of_scope" if intent == OUT_OF_SCOPE else "fallback"
            return [await self.menu(turn, template)]
        if intent in ACCOUNT_INTENTS:
            account = await self.binding.current(turn.session, turn.identity)
            if account is None:
                return await self._bind_first(turn, intent)
            return await self._account_answer(turn, intent, account)
        if intent in FAQ_INTENTS:
            return [self.say(turn, f"faq/{intent.removeprefix('faq_')}")]
        match intent:
            case "greet":
                return [await self.menu(turn, "greet")]
            case "thanks":
                return [self.say(turn, "thanks")]
            case "goodbye":
                return [self.say(turn, "goodbye")]
            case "bind_account":
                return await self._bind_intent(turn)
            case "payment_methods":
                return [self.say(turn, "payment_methods", methods=self.config.payment_methods)]
            case "outage_status":
                return await self._outage_status(turn)
            case "planned_outage_query":
                return await self._planned_outages(turn)
            case "report_fault":
                return await self._fault_start(turn)
            case "subscribe_notices" | "unsubscribe_notices":
                return await self._subscription(turn, intent == "subscribe_notices")
            case "outage_ack":
                answer = await self.notices.on_ack_text(turn.session, turn.identity, turn.text, turn.language)
                return answer or [self.say(turn, "notice_nothing_pending")]
            case "feedback":
                FeedbackRepository(turn.session).add(
                    Feedback(
                        conversation_id=turn.conversation.id,
                        identity_id=turn.identity.id,
                        score=None,
                        comment=turn.text,
                        created_at=turn.now,
                    )
                )
                return [self.say(turn, "feedback_thanks")]
        log.warning("no answer for intent %s", intent)
        return [await self.menu(turn, "fallback")]

    async def _is_key_account(self, turn: Turn) -> bool:
        account = await self.binding.current(turn.session, turn.identity)
        return account is not None and await AccountRepository(turn.session).is_key_account(account.id)

    async def _escalate(self, turn: Turn, decision: EscalationDecision) -> Replies:
        _, created = await record_escalation(turn.session, self.clock, turn.conversation, decision)
        template = "escalated" if created else "escalation_pending"
        return [self.say(turn, template, reason=decision.reason)]

    async def _cancel(self, turn: Turn) -> Replies:
        had_form = turn.state.form is not None
        turn.state.clear_form()
        turn.state.pending_intent = turn.state.pending_text = None
        return [await self.menu(turn, "cancelled" if had_form else "menu")]

    async def _set_language(self, turn: Turn, language: str) -> Replies:
        set_language(turn.identity, language)
        return [await self.menu(turn, "language_set")]

    async def _subscription(self, turn: Turn, on: bool) -> Replies:
        turn.identity.subscribed_notices = on
        if not on:
            return [self.say(turn, "unsubscribed")]
        account = await self.binding.current(turn.session, turn.identity)
        if account is None:
            return [self.say(turn, "subscribed_unbound", (self.button(turn, "bind", "bind"),))]
        return [self.say(turn, "subscribed", account=account)]

    # --------------------------------------------------------------------------------------- binding

    async def _bind_first(self, turn: Turn, intent: str) -> Replies:
        """An account question before any account is bound: bind first, then the question is answered."""
        turn.state.pending_intent = intent
        turn.state.pending_text = turn.text
        until = await self.binding.locked_until(turn.session, turn.identity)
        if until is not None:
            return [self.say(turn, "bind_locked", until=until)]
        turn.state.start_form("bind", "account")
        return [self.say(turn, "bind_required", (self.cancel_button(turn),))]

    async def _bind_intent(self, turn: Turn) -> Replies:
        if keywords.wants_unbind(turn.text):
            return await self._accounts(turn, unbinding=True)
        number = turn.nlu.entity("account_number") or keywords.account_number_in(turn.text)
        last4 = turn.nlu.entity("phone_last4")
        if number and last4:
            return await self._verify(turn, number, last4)
        return await self._bind_start(turn, account_number=number)

    async def _bind_start(self, turn: Turn, account_number: str | None) -> Replies:
        until = await self.binding.locked_until(turn.session, turn.identity)
        if until is not None:
            turn.state.clear_form()
            return [self.say(turn, "bind_locked", until=until)]
        if account_number is None:
            turn.state.start_form("bind", "account")
            return [self.say(turn, "bind_ask_account", (self.cancel_button(turn),))]
        already = await self.binding.already_bound(turn.session, turn.identity, account_number)
        if already is not None:
            return await self._bound(turn, already)
        turn.state.start_form("bind", "phone", account_number=account_number)
        return [self.say(turn, "bind_ask_phone", (self.cancel_button(turn),), account_number=account_number)]

    async def _verify(self, turn: Turn, account_number: str, last4: str) -> Replies:
        already = await self.binding.already_bound(turn.session, turn.identity, account_number)
        if already is not None:
            return await self._bound(turn, already)
        outcome = await self.binding.verify(turn.session, turn.identity, account_number, last4)
        if outcome.status == "locked":
            turn.state.clear_form()
            return [self.say(turn, "bind_locked", until=outcome.locked_until)]
        if outcome.status == "failed":
            turn.state.start_form("bind", "phone", account_number=account_number)
            buttons = (self.button(turn, "other_account", "bind"), self.cancel_button(turn))
            return [self.say(turn, "bind_failed", buttons, left=outcome.failures_left)]
        return await self._bound(turn, outcome)

    async def _bound(self, turn: Turn, outcome: BindOutcome) -> Replies:
        turn.state.clear_form()
        assert outcome.account is not None
        accounts = await self.binding.accounts(turn.session, turn.identity)
        template = "bind_success" if outcome.status == "bound" else "bind_already"
        replies = [self.say(turn, template, account=outcome.account, count=len(accounts))]
        pending, pending_text = turn.state.pending_intent, turn.state.pending_text
        turn.state.pending_intent = turn.state.pending_text = None
        if pending in ACCOUNT_INTENTS:
            earlier = dataclasses.replace(
                turn, text=pending_text or "", nlu=NluResult(text=pending_text or "", intent=pending, confidence=1.0)
            )
            replies.extend(await self._account_answer(earlier, pending, outcome.account))
        else:
            replies.append(await self.menu(turn))
        return replies

    async def _accounts(self, turn: Turn, unbinding: bool = False) -> Replies:
        accounts = await self.binding.accounts(turn.session, turn.identity)
        if not accounts:
            return await self._bind_start(turn, None)
        buttons: list[Button] = []
        for bound in accounts:
            number = bound.account.account_number
            if not bound.current and not unbinding:
                buttons.append(self.button(turn, "use_account", f"account:{bound.account.id}", number))
            buttons.append(self.button(turn, "unbind_account", f"unbind:{bound.account.id}", number))
        if not unbinding:
            buttons.append(self.button(turn, "bind_another", "bind"))
        return [self.say(turn, "accounts", tuple(buttons), accounts=accounts, unbinding=unbinding)]

    # ------------------------------------------------------------------------------------------ forms

    async def _form_input(self, turn: Turn) -> Replies | None:
        """The customer's answer to the form's question; None when the message is a new question instead."""
        state, text, intent = turn.state, turn.text, turn.nlu.intent
        if state.form == "bind":
            number = turn.nlu.entity("account_number") or keywords.account_number_in(text)
            if state.step == "account":
                if number:
                    return await self._bind_start(turn, number)
                if intent not in NOT_AN_INTERRUPTION and intent != "bind_account":
                    state.clear_form()
                    return None
                template = "bind_bad_account" if keywords.has_digits(text) else "bind_ask_account"
                return [self.say(turn, template, (self.cancel_button(turn),))]
            if state.step == "phone":
                if number and number != state.slots.get("account_number"):
                    return await self._bind_start(turn, number)
                last4 = turn.nlu.entity("phone_last4")
                other_question = intent not in NOT_AN_INTERRUPTION and intent != "bind_account"
                if last4 is None and not (other_question and turn.nlu.confidence >= CONFIDENT):
                    last4 = keywords.last4_in(text)
                if last4:
                    return await self._verify(turn, state.slots["account_number"], last4)
                if other_question:
                    state.clear_form()
                    return None
                return [
                    self.say(
                        turn,
                        "bind_ask_phone",
                        (self.cancel_button(turn),),
                        account_number=state.slots.get("account_number", ""),
                        again=True,
                    )
                ]
        if state.form == "fault":
            binding = intent == "bind_account"
            if (
                intent in LEAVES_FAULT_FORM
                and turn.nlu.confidence >= CONFIDENT
                and (not binding or keywords.account_number_in(text))  # a place has digits too
            ):
                state.clear_form()
                return None
            if state.step == "description":
                return await self._fault_next(turn, description=text)
            if state.step == "place":
                return await self._fault_next(turn, place=text)
            if state.step == "hazard":
                answer = keywords.yes_or_no(text)
                if answer is None and hazards_in(text):
                    answer = True
                if answer is None:
                    return [self._hazard_question(turn, again=True)]
                return await self._fault_next(turn, hazard=answer)
        state.clear_form()
        return None

    # ------------------------------------------------------------------------------------------ faults

    def _hazard_question(self, turn: Turn, again: bool = False) -> OutgoingMessage:
        buttons = (
            self.button(turn, "hazard_yes", "fault:hazard:yes"),
            self.button(turn, "hazard_no", "fault:hazard:no"),
            self.cancel_button(turn),
        )
        return self.say(turn, "fault_ask_hazard", buttons, again=again)

    async def _fault_start(self, turn: Turn) -> Replies:
        turn.state.start_form("fault", "description")
        text = turn.text.strip()
        if not text or is_generic_request(text):
            return await self._fault_next(turn)
        return await self._fault_next(turn, description=text)

    async def _fault_button(self, turn: Turn, arg: str) -> Replies:
        if arg == "home":
            account = await self.binding.current(turn.session, turn.identity)
            if account is not None:
                return await self._fault_next(turn, place=account.address, home=True)
        if arg.startswith("hazard:"):
            return await self._fault_next(turn, hazard=arg == "hazard:yes")
        return await self._fault_next(turn)

    async def _fault_next(
        self,
        turn: Turn,
        *,
        description: str | None = None,
        place: str | None = None,
        hazard: bool | None = None,
        home: bool = False,
    ) -> Replies:
        """Fill what the message gave, say the safety instruction the moment a hazard is known, ask what is
        still missing (what happened, where, any hazard), and open the ticket once nothing is."""
        slots = turn.state.slots
        replies: Replies = []
        account = await self.binding.current(turn.session, turn.identity)
        for said in (description, place):
            if said and "hazard" not in slots:
                found = hazards_in(said)
                if found:
                    slots["hazard"] = "yes"
                    replies.append(self.say(turn, "fault_safety", hazards=found))
        if hazard is not None and "hazard" not in slots:
            slots["hazard"] = "yes" if hazard else "no"
            if hazard:
                replies.append(self.say(turn, "fault_safety", hazards=()))
        if description:
            slots["description"] = description.strip()
            if "place" not in slots and account is not None and mentions_home(description):
                slots["place"] = account.address
                slots["home"] = "yes"
        if place:
            slots["place"] = place.strip()
            if home:
                slots["home"] = "yes"
        if "description" not in slots:
            turn.state.step = "description"
            replies.append(self.say(turn, "fault_ask_description", (self.cancel_button(turn),)))
            return replies
        if "place" not in slots:
            turn.state.step = "place"
            buttons: tuple[Button, ...] = (self.cancel_button(turn),)
            if account is not None:
                buttons = (self.button(turn, "fault_home", "fault:home"), *buttons)
            replies.append(self.say(turn, "fault_ask_place", buttons, account=account))
            return replies
        if "hazard" not in slots:
            turn.state.step = "hazard"
            replies.append(self._hazard_question(turn))
            return replies
        is_hazard = slots["hazard"] == "yes"
        ticket = await open_ticket(
            turn.session,
            self.clock,
            self.config.timezone,
            turn.identity,
            FaultReport(
                location=slots["place"],
                description=slots["description"],
                hazard=is_hazard,
                account_id=account.id if account is not None else None,
            ),
        )
        turn.state.clear_form()
        replies.append(self.say(turn, "fault_ticket", ticket=ticket))
        return replies

    # --------------------------------------------------------------------------------------- outages

    async def _outage_view(self, turn: Turn, outages: list[Outage]) -> list[dict[str, object]]:
        areas, feeders = await OutageLookup(turn.session).places(outages)
        english = turn.language == "en"
        views: list[dict[str, object]] = []
        for outage in outages:
            area_names = [
                (areas[a.area_code].name_en or areas[a.area_code].name) if english else areas[a.area_code].name
                for a in outage.areas
                if a.area_code in areas
            ]
            feeder_views = [
                {"name": feeders[f.feeder_code].name, "lines": feeders[f.feeder_code].lines, "code": f.feeder_code}
                for f in outage.feeders
                if f.feeder_code in feeders
            ]
            for f in outage.feeders:
                feeder = feeders.get(f.feeder_code)
                if feeder is not None and feeder.area_code in areas:
                    area = areas[feeder.area_code]
                    name = (area.name_en or area.name) if english else area.name
                    if name not in area_names:
                        area_names.append(name)
            views.append(
                {
                    "outage": outage,
                    "areas": area_names,
                    "feeders": feeder_views,
                    "restoration": outage.estimated_restoration_at or outage.ends_at,
                }
            )
        return views

    async def _outage_status(self, turn: Turn) -> Replies:
        lookup = OutageLookup(turn.session)
        account = await self.binding.current(turn.session, turn.identity)
        report = self.button(turn, "report_fault", "intent:report_fault")
        if account is None:
            outages = await lookup.current(turn.now)
            views = await self._outage_view(turn, outages)
            return [self.say(turn, "outage_public", (self.button(turn, "bind", "bind"), report), outages=views)]
        outages = await lookup.current(turn.now, account)
        if not outages:
            return [self.say(turn, "outage_none", (report,), account=account)]
        views = await self._outage_view(turn, outages)
        return [self.say(turn, "outage_current", (report,), account=account, outages=views)]

    async def _planned_outages(self, turn: Turn) -> Replies:
        lookup = OutageLookup(turn.session)
        account = await self.binding.current(turn.session, turn.identity)
        period = self._period(turn)
        since = until = None
        if period is not None:
            since, until = self._period_bounds(period)
        outages = await lookup.upcoming(turn.now, account, since=since, until=until)
        views = await self._outage_view(turn, outages)
        buttons: tuple[Button, ...] = ()
        if not turn.identity.subscribed_notices:
            buttons = (self.button(turn, "subscribe", "intent:subscribe_notices"),)
        if account is None:
            buttons = (self.button(turn, "bind", "bind"), *buttons)
        return [self.say(turn, "planned_outages", buttons, account=account, outages=views, period=period)]

    def _period(self, turn: Turn) -> MonthRange | None:
        today = turn.now.astimezone(self.config.timezone).date()
        return normalise_period(turn.nlu.entity("period"), turn.text, today)

    def _period_bounds(self, period: MonthRange) -> tuple[datetime, datetime]:
        """UTC instants of the first month's start and the start of the month after the last, local time."""
        tz = self.config.timezone
        first_year, first_month = parse_month_key(period.first)
        end_year, end_month = shift(*parse_month_key(period.last), 1)
        since = datetime.combine(datetime(first_year, first_month, 1).date(), time(0), tzinfo=tz)
        until = datetime.combine(datetime(end_year, end_month, 1).date(), time(0), tzinfo=tz)
        return since, until

    # --------------------------------------------------------------------------------------- billing

    async def _account_answer(self, turn: Turn, intent: str, account: UtilityAccount) -> Replies:
        accounts = await self.binding.accounts(turn.session, turn.identity)
        switch: tuple[Button, ...] = (self.button(turn, "switch_account", "accounts"),) if len(accounts) > 1 else ()
        bills = BillRepository(turn.session)
        today = turn.now.astimezone(self.config.timezone).date()
        period = self._period(turn)
        if intent == "tariff_query":
            tariff = await AccountRepository(turn.session).tariff(account)
            return [self.say(turn, "tariff", switch, account=account, t=tariff_facts(tariff))]
        latest = await bills.latest(account.id, max(self.config.usage_trend_months, 1))
        if not latest:
            return [self.say(turn, "bill_none", switch, account=account)]
        if intent == "usage_query":
            if period is None:
                trend = usage_trend(latest[: self.config.usage_trend_months])
                return [self.say(turn, "usage_trend", switch, account=account, trend=trend)]
            found = await bills.in_periods(account.id, period.first, period.last)
            if not found:
                return [
                    self.say(turn, "usage_not_billed", switch, account=account, period=period, latest=facts(latest[0]))
                ]
            if period.single:
                return [self.say(turn, "usage_month", switch, account=account, bill=facts(found[0]))]
            return [self.say(turn, "usage_trend", switch, account=account, trend=usage_trend(found), period=period)]
        chosen = latest[0]
        unbilled: MonthRange | None = None
        if period is not None and period.single and period.first >= f"{today.year:04d}-{today.month:02d}":
            unbilled = period  # "this month's bill" before it is issued: what is due now, from the latest bill
        elif period is not None and period.single:
            found = await bills.in_periods(account.id, period.first, period.last)
            if not found:
                return [self.say(turn, "bill_not_issued", switch, account=account, period=period, latest=facts(chosen))]
            chosen = found[0]
        if intent == "bill_explain":
            previous = await bills.before(account.id, chosen.period)
            tariff = await AccountRepository(turn.session).tariff(account)
            explanation = explain(chosen, previous, TariffTerms.from_tariff(tariff))
            return [self.say(turn, "bill_explain", switch, account=account, x=explanation)]
        unpaid = await bills.unpaid(account.id)
        due = amount_due(chosen, unpaid, today)
        buttons = (
            self.button(turn, "bill_explain", "intent:bill_explain"),
            self.button(turn, "payment_methods", "intent:payment_methods"),
            *switch,
        )
        return [self.say(turn, "bill_amount", buttons, account=account, due=due, unbilled=unbilled)]
