"""A web chat customer's email address for outage notices, proven by a six-digit code.

The web chat cannot reach anyone once its page is closed, so a web chat customer who subscribes is asked for
an email address (or shown the one already verified). The steps, a form of the subscription skill:

    address  the customer types an address → a code is issued (core.customers.codes) and, after the turn's
             commit, emailed (Turn.after_commit); an address that does not parse is asked again
    code     the customer types the code → Identity.email and email_verified_at are set and the identity is
             subscribed: its notices go by email (core.notices.audiences)

Buttons: email:skip (no email: told plainly which channels would reach them), email:resend, email:change.
Wrong, expired and spent codes, too many codes and no SMTP server at all each get their own answer.
"""

from __future__ import annotations

import re
from functools import partial

from core.customers.codes import TooManyCodes
from core.dialogue.context import Replies, Turn
from core.dialogue.intents import NOT_AN_INTERRUPTION
from core.dialogue.skills.base import SkillKit
from core.models import UtilityAccount
from core.models.enums import CodePurpose
from core.ports import Button, OutgoingMessage

FORM = "email"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}(?![A-Za-z0-9-])")
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
MAX_ADDRESS = 254


def email_in(text: str) -> str | None:
    """The first email address in the text (the domain in lower case), or None."""
    match = _EMAIL.search(text)
    if match is None:
        return None
    local, _, domain = match.group(0).rpartition("@")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    address = f"{local}@{domain.lower()}"
    return address if len(address) <= MAX_ADDRESS else None


def code_in(text: str) -> str | None:
    match = _CODE.search(text.replace(" ", ""))
    return match.group(0) if match else None


class EmailCheck:
    """The steps of the "email" form (run by SubscriptionSkill, which owns the form)."""

    def __init__(self, kit: SkillKit) -> None:
        self.replies = kit.replies
        self.codes = kit.services.codes
        self.email = kit.services.email
        self.binding = kit.services.binding

    @property
    def minutes(self) -> int:
        return int(self.codes.ttl.total_seconds() // 60)

    async def subscribe(self, turn: Turn) -> Replies:
        """A web chat customer asks for notices: the verified address, or ask for one."""
        identity = turn.identity
        if identity.email and identity.email_verified_at is not None:
            identity.subscribed_notices = True
            return [await self._subscribed(turn, "subscribed_email", identity.email)]
        if self.email is None:
            turn.state.clear_form()
            return [self.replies.say(turn, "email_unavailable")]
        address = email_in(turn.text)
        if address is not None:
            return await self._send(turn, address)
        return self._ask(turn)

    async def on_form(self, turn: Turn) -> Replies | None:
        state, text = turn.state, turn.text
        address = email_in(text)
        if address is not None:
            return await self._send(turn, address)
        code = code_in(text) if state.step == "code" else None
        if code is not None:
            return await self._check(turn, code)
        if turn.nlu.intent not in NOT_AN_INTERRUPTION and turn.nlu.intent != "subscribe_notices":
            return None  # another question (nothing subscribed yet)
        if state.step == "code":
            code_ask = self.replies.say(turn, "email_code_ask", self._code_buttons(turn), email=self._address(turn))
            return await self.replies.again(turn, "email_code_ask", code_ask)
        if "@" in text:
            invalid = self.replies.say(turn, "email_invalid", self._ask_buttons(turn))
            return await self.replies.again(turn, "email_invalid", invalid)
        ask = self.replies.say(turn, "email_ask", self._ask_buttons(turn), again=True)
        return await self.replies.again(turn, "email_ask", ask)

    async def on_payload(self, turn: Turn, arg: str) -> Replies | None:
        if arg == "skip":
            turn.state.clear_form()
            return [self.replies.say(turn, "email_declined")]
        if arg == "change":
            return self._ask(turn)
        if arg == "resend":
            address = self._address(turn) or await self.codes.pending(turn.session, turn.identity, CodePurpose.EMAIL)
            return await self._send(turn, address) if address else self._ask(turn)
        return None

    # ------------------------------------------------------------------------------------------ steps

    def _ask(self, turn: Turn, *, again: bool = False) -> Replies:
        turn.state.start_form(FORM, "address")
        return [self.replies.say(turn, "email_ask", self._ask_buttons(turn), again=again)]

    async def _send(self, turn: Turn, address: str) -> Replies:
        sender = self.email
        if sender is None:
            turn.state.clear_form()
            return [self.replies.say(turn, "email_unavailable")]
        try:
            code = await self.codes.issue(turn.session, turn.identity, CodePurpose.EMAIL, address)
        except TooManyCodes:
            turn.state.clear_form()
            return [self.replies.say(turn, "email_too_many")]
        subject = self.replies.say(turn, "email_code_subject").text
        body = self.replies.say(turn, "email_code_body", code=code, minutes=self.minutes).text
        what = f"emailing a code to identity {turn.identity.id}"
        turn.after_commit.append((what, partial(sender.send_text, address, subject, body)))
        turn.state.start_form(FORM, "code", address=address)
        return [
            self.replies.say(turn, "email_code_sent", self._code_buttons(turn), email=address, minutes=self.minutes)
        ]

    async def _check(self, turn: Turn, code: str) -> Replies:
        checked = await self.codes.check(turn.session, turn.identity, CodePurpose.EMAIL, code)
        if checked.status == "ok" and checked.target is not None:
            identity = turn.identity
            identity.email, identity.email_verified_at = checked.target, turn.now
            identity.subscribed_notices = True
            turn.state.clear_form()
            return [await self._subscribed(turn, "email_verified", checked.target)]
        buttons = self._code_buttons(turn)
        if checked.status == "wrong" and checked.attempts_left > 0:
            return [self.replies.say(turn, "email_code_wrong", buttons, left=checked.attempts_left)]
        template = "email_code_spent" if checked.status == "wrong" else "email_code_expired"
        return [self.replies.say(turn, template, buttons, minutes=self.minutes)]

    async def _subscribed(self, turn: Turn, template: str, address: str) -> OutgoingMessage:
        account: UtilityAccount | None = await self.binding.current(turn.session, turn.identity)
        buttons = [self.replies.button(turn, "email_change", "email:change")]
        if account is None:
            buttons.insert(0, self.replies.button(turn, "bind", "bind"))
        return self.replies.say(turn, template, tuple(buttons), email=address, account=account)

    def _address(self, turn: Turn) -> str | None:
        return turn.state.slots.get("address") if turn.state.form == FORM else None

    def _ask_buttons(self, turn: Turn) -> tuple[Button, ...]:
        return (self.replies.button(turn, "email_skip", "email:skip"), self.replies.cancel_button(turn))

    def _code_buttons(self, turn: Turn) -> tuple[Button, ...]:
        return (
            self.replies.button(turn, "email_resend", "email:resend"),
            self.replies.button(turn, "email_change", "email:change"),
            self.replies.cancel_button(turn),
        )
