"""Binding: an account number, then proof of its phone; several accounts, switch, unbind.

The proof is the last four digits of the account's registered phone or, when an SMS gateway is configured, a
six-digit code sent to that phone by SMS (after the turn's commit) and typed back here. Nothing about an
account is shown before an attempt succeeds (the "code sent" answer is the same for a number we do not hold,
and never shows the phone); a question asked before binding (an account question) is kept and answered once
the account is bound.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from functools import partial

from core.customers.account_binding import BindLock, BindOutcome, current_client
from core.dialogue import keywords
from core.dialogue.context import Replies, Turn
from core.dialogue.intents import (
    ACCOUNT_INTENTS,
    APPLICATION_STATUS,
    BILL_EMAIL,
    NOT_AN_INTERRUPTION,
    SUBSCRIBE_BILL_REMINDERS,
)
from core.dialogue.skills.base import CONFIDENT, Skill, SkillKit
from core.ports import Button, NluResult, OutgoingMessage
from core.security import parse_id

# Six digits on their own (spaces or dashes between digits allowed: "123 456").
SIX_DIGITS = re.compile(r"(?<!\d)(\d{6})(?!\d)")
DIGIT_GAP = re.compile(r"(?<=\d)[\s-](?=\d)")


def code_in(text: str) -> str | None:
    found = SIX_DIGITS.search(DIGIT_GAP.sub("", text))
    return found.group(1) if found else None


# How a question kept from before binding is answered: the engine's routing of an intent to its skill.
Resume = Callable[[Turn, str], Awaitable[Replies]]


class BindingSkill(Skill):
    intents = frozenset({"bind_account"})
    payloads = frozenset({"bind", "accounts", "account", "unbind"})
    form = "bind"  # steps: account, then phone (its last 4 digits) or code (sent by SMS)

    def __init__(self, kit: SkillKit, resume: Resume) -> None:
        super().__init__(kit)
        self.binding = kit.services.binding
        self.resume = resume

    async def bind_first(self, turn: Turn, intent: str) -> Replies:
        """An account question before any account is bound: bind first, then the question is answered."""
        turn.state.pending_intent = intent
        turn.state.pending_text = turn.text
        lock = await self.binding.lock(turn.session, turn.identity, client=current_client())
        if lock is not None:
            return [self._locked(turn, lock)]
        turn.state.start_form("bind", "account")
        return [self.replies.say(turn, "bind_required", (self.replies.cancel_button(turn),))]

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        if keywords.wants_unbind(turn.text):
            return await self._accounts(turn, unbinding=True)
        number = turn.nlu.entity("account_number") or keywords.account_number_in(turn.text)
        last4 = turn.nlu.entity("phone_last4")
        if number and last4 and not self.binding.by_sms:
            return await self._verify(turn, number, last4)
        return await self._start(turn, account_number=number)

    async def on_payload(self, turn: Turn, kind: str, arg: str) -> Replies | None:
        if kind == "bind":
            turn.state.clear_form()
            return await self._start(turn, account_number=keywords.account_number_in(arg))
        if kind == "accounts":
            return await self._accounts(turn)
        account_id = parse_id(arg)
        if kind == "account" and account_id is not None:
            account = await self.binding.choose(turn.session, turn.identity, account_id)
            return [self.replies.say(turn, "account_chosen", account=account), await self.replies.menu(turn)]
        if kind == "unbind" and account_id is not None:
            account = await self.binding.unbind(turn.session, turn.identity, account_id)
            return [self.replies.say(turn, "unbound", account=account), await self.replies.menu(turn)]
        return None

    async def on_form(self, turn: Turn) -> Replies | None:
        state, text, intent = turn.state, turn.text, turn.nlu.intent
        number = turn.nlu.entity("account_number") or keywords.account_number_in(text)
        cancel = (self.replies.cancel_button(turn),)
        if state.step == "account":
            if number:
                return await self._start(turn, number)
            if intent not in NOT_AN_INTERRUPTION and intent != "bind_account" and not keywords.is_number(text):
                return None  # a question asked inside the form (a number is an answer, even a wrong one)
            template = "bind_bad_account" if keywords.has_digits(text) else "bind_ask_account"
            return await self.replies.again(turn, template, self.replies.say(turn, template, cancel, again=True))
        if state.step in ("phone", "code") and (state.step == "code") != self.binding.by_sms:
            return await self._start(turn, state.slots.get("account_number"))  # the way of verifying changed
        if state.step == "code":
            return await self._code_form(turn, number)
        if state.step == "phone":
            if number and number != state.slots.get("account_number"):
                return await self._start(turn, number)
            last4 = turn.nlu.entity("phone_last4")
            other_question = (
                intent not in NOT_AN_INTERRUPTION and intent != "bind_account" and not keywords.is_number(text)
            )
            if last4 is None and not (other_question and turn.nlu.confidence >= CONFIDENT):
                last4 = keywords.last4_in(text)
            if last4:
                return await self._verify(turn, state.slots["account_number"], last4)
            if other_question:
                return None
            number_asked = state.slots.get("account_number", "")
            ask_phone = self.replies.say(turn, "bind_ask_phone", cancel, account_number=number_asked, again=True)
            return await self.replies.again(turn, "bind_ask_phone", ask_phone)
        state.clear_form()
        return None

    async def _start(self, turn: Turn, account_number: str | None) -> Replies:
        if account_number is not None:  # an account this identity already has is no new binding: never locked
            already = await self.binding.already_bound(turn.session, turn.identity, account_number)
            if already is not None:
                return await self._bound(turn, already)
        lock = await self.binding.lock(turn.session, turn.identity, account_number, current_client())
        if lock is not None:
            turn.state.clear_form()
            return [self._locked(turn, lock)]
        cancel = (self.replies.cancel_button(turn),)
        if account_number is None:
            turn.state.start_form("bind", "account")
            return [self.replies.say(turn, "bind_ask_account", cancel)]
        if self.binding.by_sms:
            return await self._send_code(turn, account_number)
        turn.state.start_form("bind", "phone", account_number=account_number)
        return [self.replies.say(turn, "bind_ask_phone", cancel, account_number=account_number)]

    async def _code_form(self, turn: Turn, number: str | None) -> Replies | None:
        """The answer to "type the code": the code, another account number, or another question."""
        state, intent = turn.state, turn.nlu.intent
        asked = state.slots.get("account_number")
        if (number and number != asked) or not asked:
            return await self._start(turn, number)
        other_question = (
            intent not in NOT_AN_INTERRUPTION and intent != "bind_account" and not keywords.is_number(turn.text)
        )
        code = None if other_question and turn.nlu.confidence >= CONFIDENT else code_in(turn.text)
        if code:
            return await self._verify_code(turn, asked, code)
        if other_question:
            return None
        buttons = self._code_buttons(turn, asked)
        code_sent = self.replies.say(turn, "bind_code_sent", buttons, account_number=asked, again=True)
        return await self.replies.again(turn, "bind_code_sent", code_sent)

    async def _send_code(self, turn: Turn, account_number: str) -> Replies:
        """Issue a code and queue its SMS for after the commit; the answer is the same for every number."""
        sent = await self.binding.send_code(turn.session, turn.identity, account_number)
        if sent.status == "too_many":
            turn.state.clear_form()
            return [self.replies.say(turn, "bind_code_limit")]
        if sent.phone is not None:
            sms = self.replies.say(
                turn, "bind_sms_code", account_number=account_number, code=sent.code, minutes=sent.valid_minutes
            )
            turn.after_commit.append(
                (
                    f"SMS with a binding code for identity {turn.identity.id}",
                    partial(self.binding.send_sms, sent.phone, sms.text),
                )
            )
        turn.state.start_form("bind", "code", account_number=account_number)
        buttons = self._code_buttons(turn, account_number)
        return [
            self.replies.say(turn, "bind_code_sent", buttons, account_number=account_number, minutes=sent.valid_minutes)
        ]

    def _code_buttons(self, turn: Turn, account_number: str) -> tuple[Button, ...]:
        return (self.replies.button(turn, "bind_resend", f"bind:{account_number}"), self.replies.cancel_button(turn))

    async def _verify_code(self, turn: Turn, account_number: str, code: str) -> Replies:
        already = await self.binding.already_bound(turn.session, turn.identity, account_number)
        if already is not None:
            return await self._bound(turn, already)
        outcome = await self.binding.verify_code(turn.session, turn.identity, account_number, code, current_client())
        if outcome.status == "locked":
            turn.state.clear_form()
            assert outcome.locked_until is not None and outcome.locked_by is not None
            return [self._locked(turn, BindLock(outcome.locked_until, outcome.locked_by))]
        buttons = self._code_buttons(turn, account_number)
        if outcome.status == "expired":
            return [self.replies.say(turn, "bind_code_expired", buttons)]
        if outcome.status == "failed":
            return [self.replies.say(turn, "bind_code_wrong", buttons, left=outcome.failures_left)]
        return await self._bound(turn, outcome)

    async def _verify(self, turn: Turn, account_number: str, last4: str) -> Replies:
        already = await self.binding.already_bound(turn.session, turn.identity, account_number)
        if already is not None:
            return await self._bound(turn, already)
        outcome = await self.binding.verify(turn.session, turn.identity, account_number, last4, current_client())
        if outcome.status == "locked":
            turn.state.clear_form()
            assert outcome.locked_until is not None and outcome.locked_by is not None
            return [self._locked(turn, BindLock(outcome.locked_until, outcome.locked_by))]
        if outcome.status == "failed":
            turn.state.start_form("bind", "phone", account_number=account_number)
            buttons = (self.replies.button(turn, "other_account", "bind"), self.replies.cancel_button(turn))
            return [self.replies.say(turn, "bind_failed", buttons, left=outcome.failures_left)]
        return await self._bound(turn, outcome)

    def _locked(self, turn: Turn, lock: BindLock) -> OutgoingMessage:
        """An account lock: this account cannot be bound online for now, verify through the hotline; an
        identity's or address's lock: try again later."""
        template = "bind_account_locked" if lock.by == "account" else "bind_locked"
        return self.replies.say(turn, template, until=lock.until)

    async def _bound(self, turn: Turn, outcome: BindOutcome) -> Replies:
        turn.state.clear_form()
        assert outcome.account is not None
        accounts = await self.binding.accounts(turn.session, turn.identity)
        template = "bind_success" if outcome.status == "bound" else "bind_already"
        replies = [self.replies.say(turn, template, account=outcome.account, count=len(accounts))]
        pending, pending_text = turn.state.pending_intent, turn.state.pending_text or ""
        turn.state.pending_intent = turn.state.pending_text = None
        if pending in ACCOUNT_INTENTS or pending in (
            APPLICATION_STATUS,
            BILL_EMAIL,
            SUBSCRIBE_BILL_REMINDERS,
        ):  # asked before binding: answered now
            nlu = NluResult(text=pending_text, intent=pending, confidence=1.0)
            replies.extend(await self.resume(dataclasses.replace(turn, text=pending_text, nlu=nlu), pending))
        else:
            replies.append(await self.replies.menu(turn))
        return replies

    async def _accounts(self, turn: Turn, unbinding: bool = False) -> Replies:
        accounts = await self.binding.accounts(turn.session, turn.identity)
        if not accounts:
            return await self._start(turn, None)
        buttons: list[Button] = []
        for bound in accounts:
            number = bound.account.account_number
            if not bound.current and not unbinding:
                buttons.append(self.replies.button(turn, "use_account", f"account:{bound.account.id}", number))
            buttons.append(self.replies.button(turn, "unbind_account", f"unbind:{bound.account.id}", number))
        if not unbinding:
            buttons.append(self.replies.button(turn, "bind_another", "bind"))
        return [self.replies.say(turn, "accounts", tuple(buttons), accounts=accounts, unbinding=unbinding)]
