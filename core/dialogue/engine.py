"""The dialogue engine: one turn of a conversation → the replies (text + buttons) and their side effects.

The same for every channel. Input: who is talking (an Identity), what they sent (text, or a button's
payload), what the NLU understood of it, and the conversation state (a half-filled form, the fallback
streak). The engine is a router: it sends the turn to one skill (core/dialogue/skills/), which answers
from templates/ in the customer's language through the domain services, inside the caller's session;
nothing here commits. What the router itself decides: cancel and language (they work everywhere), an open
form first, a hazard first (the fault skill's safety instruction), escalation (the handoff skill), and no
account answer before an account is bound (the binding skill asks first, then answers the question).

Conversations, not single questions: a short follow-up continues the last answer's topic and months
(core.dialogue.followups: 那8月呢, 用了多少度); a question asked inside a form is answered (declined when
out of scope) and the form offered again in one line, and a second one in a row leaves the form; a form never
asks the same thing three times in a row (ReplyBuilder.again); a message with two questions (the NLU's `parts`)
gets both answers, in order. A customer whose account is inside an outage going on now hears of it first.

Button payloads (≤ 64 bytes, Telegram's limit for callback data), and the skill that answers them:

    intent:<name>        as if the customer had asked that (the menu buttons)      the intent's skill
    menu | help | start  the menu, the help text, the welcome                      faq (small talk)
    bind | bind:<number> start binding (with the account number given)            binding
    accounts             the accounts bound here, to switch or unbind              binding
    account:<id>         answer about this bound account from now on               binding
    unbind:<id>          unbind this account                                       binding
    lang | lang:<zh|en>  choose the language                                       the engine
    fault:home           the fault is at the bound account's address               faults
    fault:hazard:<yes|no>                                                          faults
    ticket:<solved|reopen>:<id>   a closed ticket's question: solved, or reopen it  faults
    cancel               leave the current form                                    the engine
    unsupported          what the bot cannot read (a sticker, a contact)           faq
    notice:…             an outage notice's button: handed to the NoticeResponder  subscriptions
    survey:<id>:<score> | survey:<id>:aspect:<a>   the satisfaction survey         survey
"""

from __future__ import annotations

import dataclasses
import logging

from core.customers.service import set_language
from core.dialogue import followups, keywords
from core.dialogue.context import DialogueConfig, DialogueServices, Replies, Turn
from core.dialogue.intents import ACCOUNT_INTENTS, FALLBACK, INFORM, OUT_OF_SCOPE
from core.dialogue.notices import NOTICE_PAYLOAD_PREFIX
from core.dialogue.periods import MonthRange
from core.dialogue.replies import ReplyBuilder
from core.dialogue.skills import (
    ApplicationSkill,
    BillEmailSkill,
    BillingSkill,
    BillReminderSkill,
    BindingSkill,
    FaqSkill,
    FaultSkill,
    HandoffSkill,
    OutageSkill,
    Skill,
    SkillKit,
    SmallTalkSkill,
    SubscriptionSkill,
    SurveySkill,
)
from core.errors import DomainError
from core.faults.hazards import hazards_in
from core.models import UtilityAccount
from core.models.enums import Language, values
from core.security import mask_digits
from core.templating import Renderer

__all__ = ["DialogueConfig", "DialogueEngine", "DialogueServices", "Replies", "Turn"]

log = logging.getLogger("gridtalk.dialogue")


# A message describing a hazard with one of these intents starts a fault report (safety instruction first).
HAZARD_FIRST = frozenset({"report_fault", "outage_status", FALLBACK, OUT_OF_SCOPE})


class DialogueEngine:
    """Built once per process (in core.dialogue.service.build_conversations), with the services and skills."""

    def __init__(self, config: DialogueConfig, renderer: Renderer, services: DialogueServices) -> None:
        self.config = config
        self.services = services
        self.replies = ReplyBuilder(config, renderer, services.binding)
        kit = SkillKit(config, self.replies, services)
        self.handoff = HandoffSkill(kit, report_fault=lambda turn: self.faults.start(turn))
        self.binding = BindingSkill(kit, resume=self._answer)
        self.faults = FaultSkill(kit, on_hazard=self.handoff.escalate_hazard)
        self.survey = SurveySkill(kit)
        # The skills in the order they are tried: each turn every skill's intercept() is asked first, in this
        # order; then the first skill claiming the open form, the payload kind or the intent answers. New
        # skills slot in here. The survey skill comes first: it intercepts only the comment it asked for
        # after a low score (a survey is never sent while a person is on the line), and a comment written
        # soon after staff resolved the conversation must not reopen it. Then the handoff skill (while a
        # person is on the line it intercepts every turn; survey buttons pass through it).
        self.skills: tuple[Skill, ...] = (
            self.survey,
            self.handoff,
            self.binding,
            self.faults,
            BillingSkill(kit),
            ApplicationSkill(kit, bind_first=self.binding.bind_first),
            BillEmailSkill(kit, bind_first=self.binding.bind_first),
            OutageSkill(kit),
            SubscriptionSkill(kit),
            BillReminderSkill(kit, bind_first=self.binding.bind_first),
            FaqSkill(kit),
            SmallTalkSkill(kit),
        )
        self._by_intent: dict[str, Skill] = {}
        self._by_payload: dict[str, Skill] = {}
        self._by_form: dict[str, Skill] = {}
        for skill in self.skills:
            for intent in skill.intents:
                self._by_intent.setdefault(intent, skill)
            for kind in skill.payloads:
                self._by_payload.setdefault(kind, skill)
            if skill.form is not None:
                self._by_form.setdefault(skill.form, skill)

    # ---------------------------------------------------------------------------------- entry point

    async def respond(self, turn: Turn) -> Replies:
        try:
            for skill in self.skills:
                intercepted = await skill.intercept(turn)
                if intercepted is not None:
                    return intercepted
            if turn.payload is not None:
                return await self._payload(turn, turn.payload)
            account = await self.services.binding.current(turn.session, turn.identity)
            replies = await self.survey.after_thanks(turn, await self._text(turn))  # the "thanked" trigger
            return await self._outage_first(turn, account, replies) if account is not None else replies
        except DomainError as exc:
            log.info("domain error in dialogue: %s", mask_digits(exc.message))
            return [self.replies.say(turn, "error", code=exc.code)]

    async def _text(self, turn: Turn) -> Replies:
        text = turn.text
        if keywords.is_cancel(text):
            return await self._cancel(turn)
        language = keywords.language_asked(text)
        if language is not None:
            return await self._set_language(turn, language)
        state = turn.state
        if state.form is not None:
            form = self._by_form.get(state.form)
            if form is None:
                state.clear_form()  # a form no skill runs any more (state saved by an older version)
            else:
                replies = await form.on_form(turn)
                if replies is not None:
                    state.detours = 0
                    return replies
                if state.form is not None:  # the skill kept its form: a question asked inside it
                    return await self._detour(turn)
        if len(turn.nlu.parts) > 1:
            return await self._parts(turn)
        return await self._understood(turn)

    async def _outage_first(self, turn: Turn, account: UtilityAccount, replies: Replies) -> Replies:
        """A customer whose account (bound before this message) is inside an outage going on now hears of it,
        with the estimate, before the answer to whatever they asked (after it when the message describes a
        hazard: the safety instruction first): once per outage while the conversation lasts."""
        here = await self.services.outages.current(turn.session, turn.now, account)
        told = turn.state.told([outage.id for outage in here])
        new = [outage for outage in here if outage.id in told]
        if not new:
            return replies
        await self.services.notices.on_told(turn.session, turn.identity, told)
        if turn.nlu.intent == "outage_status":
            return replies  # the answer itself is about the outage
        contexts = [outage.context(turn.language) for outage in new]
        first = self.replies.say(turn, "outage_first", account=account, outages=contexts)
        if turn.text and hazards_in(turn.text):
            return [*replies, first]  # a hazard's safety instruction comes before anything else
        return [first, *replies]

    async def _understood(self, turn: Turn) -> Replies:
        """A message outside any form: what it asks, in the context of the last answer."""
        intent = turn.nlu.intent
        if intent in (FALLBACK, OUT_OF_SCOPE) and keywords.account_number_in(turn.text):
            intent = "bind_account"  # a bare 10-digit number is an account number
        elif intent in (FALLBACK, OUT_OF_SCOPE) and keywords.asks_progress(turn.text):
            intent = "report_fault"  # where a fault report stands: the fault skill answers it
        state = turn.state
        follow = followups.resolve(
            intent, turn.text, turn.period(self.config.timezone), state.topic, MonthRange.from_key(state.period)
        )
        turn.carried_period = follow.carried
        if (
            follow.intent in (INFORM, FALLBACK, OUT_OF_SCOPE)
            and state.topic in followups.OUTAGE_TOPICS
            and followups.is_elliptical(turn.text)
            and await self.services.outages.place(turn.session, turn.text) is not None
        ):  # another place after an outage answer (那西湖区呢 / what about Xihu?): the same question there
            return await self._intent(turn, state.topic)
        if follow.intent == INFORM:  # a period and no topic to continue: which question is it about?
            buttons = tuple(
                self.replies.button(turn, name, f"intent:{name}")
                for name in ("bill_amount", "usage_query", "planned_outage_query")
            )
            return [self.replies.say(turn, "followup_unclear", buttons, period=turn.period(self.config.timezone))]
        return await self._intent(turn, follow.intent)

    async def _detour(self, turn: Turn) -> Replies:
        """A question inside a form: answered, and the form offered again in one line; the second such
        question in a row leaves the form (the customer has moved on)."""
        state = turn.state
        if state.detours >= 1:
            state.clear_form()
            return await self._understood(turn)
        state.detours += 1
        form, step = state.form, state.step
        replies = await self._understood(turn)
        # the answer may have started a form of its own (start_form sets detours back to 0): no reminder then
        if state.detours == 1 and (state.form, state.step) == (form, step):
            cancel = (self.replies.cancel_button(turn),)
            replies.append(self.replies.say(turn, "form_reminder", cancel, form=form, step=step))
        return replies

    async def _parts(self, turn: Turn) -> Replies:
        """Two questions in one message: each answered in order; an answer that opens a form (binding first)
        comes last, and a reply already given is not repeated."""
        answers: Replies = []
        form_replies: Replies = []
        for part in turn.nlu.parts:
            had_form = turn.state.form is not None
            replies = await self._understood(dataclasses.replace(turn, text=part.text, nlu=part))
            (form_replies if turn.state.form is not None and not had_form else answers).extend(replies)
        unique: Replies = []
        for reply in answers + form_replies:
            if all(reply.text != seen.text for seen in unique):
                unique.append(reply)
        return unique

    async def _payload(self, turn: Turn, payload: str) -> Replies:
        kind, _, arg = payload.partition(":")
        state = turn.state
        if kind == "intent":
            form = self._by_form.get(state.form) if state.form is not None else None
            if state.form is not None and (form is None or form is not self._by_intent.get(arg)):
                state.clear_form()  # another question: the form is left
            return await self._intent(turn, arg)
        if not payload.startswith(NOTICE_PAYLOAD_PREFIX):
            state.fallbacks = 0
        if kind == "cancel":
            return await self._cancel(turn)
        if kind == "lang":
            if arg in values(Language):
                return await self._set_language(turn, arg)
            buttons = (self.replies.button(turn, "lang_zh", "lang:zh"), self.replies.button(turn, "lang_en", "lang:en"))
            return [self.replies.say(turn, "language_choose", buttons)]
        skill = self._by_payload.get(kind)
        replies = await skill.on_payload(turn, kind, arg) if skill is not None else None
        return replies if replies is not None else [await self.replies.menu(turn, "fallback")]  # stale or unknown

    # --------------------------------------------------------------------------------------- intents

    async def _intent(self, turn: Turn, intent: str) -> Replies:
        state = turn.state
        hazards = hazards_in(turn.text)
        if hazards and intent in HAZARD_FIRST:
            state.fallbacks = 0
            return await self.faults.start(turn)  # safety first, whatever else the message seemed to be
        # the streak of messages not understood; one out of scope was understood (and declined): not counted
        state.fallbacks = state.fallbacks + 1 if intent == FALLBACK else 0
        escalated = await self.handoff.escalate_if_needed(turn, intent, hazards)
        if escalated is not None:
            return escalated
        if intent in (FALLBACK, OUT_OF_SCOPE):
            return [await self.replies.menu(turn, "out_of_scope" if intent == OUT_OF_SCOPE else "fallback")]
        if intent in ACCOUNT_INTENTS and await self.services.binding.current(turn.session, turn.identity) is None:
            return await self.binding.bind_first(turn, intent)  # nothing about an account before binding
        return await self._answer(turn, intent)

    async def _answer(self, turn: Turn, intent: str) -> Replies:
        """The intent's skill answers (also a question kept from before binding, once bound)."""
        skill = self._by_intent.get(intent)
        if skill is None:
            log.warning("no answer for intent %s", intent)
            return [await self.replies.menu(turn, "fallback")]
        replies = await skill.on_intent(turn, intent)
        if intent in followups.CONTEXT_TOPICS:  # what a follow-up (那8月呢) continues
            period = turn.period(self.config.timezone, upcoming=intent == "planned_outage_query")
            turn.state.topic, turn.state.period = intent, period.key if period is not None else None
        return replies

    async def _cancel(self, turn: Turn) -> Replies:
        had_form = turn.state.form is not None
        turn.state.clear_form()
        turn.state.pending_intent = turn.state.pending_text = None
        return [await self.replies.menu(turn, "cancelled" if had_form else "menu")]

    async def _set_language(self, turn: Turn, language: str) -> Replies:
        set_language(turn.identity, language)
        return [await self.replies.menu(turn, "language_set")]
