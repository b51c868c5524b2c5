"""Outage notices: subscribing and unsubscribing, and the seam for answers to a notice (its buttons,
"notice:…", and the outage_ack intent) handed to the NoticeResponder (core.dialogue.notices).

A Telegram customer's notices come by Telegram. The web chat cannot reach a customer once the page is closed:
a web chat customer who subscribes is asked for an email address, checked with a code (the "email" form,
core.dialogue.skills.email_check), or told plainly which channels would reach them.
"""

from __future__ import annotations

from core.dialogue.context import Replies, Turn
from core.dialogue.notices import NOTICE_PAYLOAD_PREFIX
from core.dialogue.skills.base import Skill, SkillKit
from core.dialogue.skills.email_check import FORM, EmailCheck
from core.models.enums import ChatChannel


class SubscriptionSkill(Skill):
    intents = frozenset({"subscribe_notices", "unsubscribe_notices", "outage_ack"})
    payloads = frozenset({"notice", "email"})  # notice:ack:<id>, notice:problem:<id>, … ; email:skip|resend|change
    form = FORM  # the web chat's email address: steps address, code

    def __init__(self, kit: SkillKit) -> None:
        super().__init__(kit)
        self.notices = kit.services.notices
        self.email = EmailCheck(kit)

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        if intent == "outage_ack":
            answer = await self.notices.on_ack_text(turn.session, turn.identity, turn.text, turn.language)
            return answer or [self.replies.say(turn, "notice_nothing_pending")]
        if intent == "unsubscribe_notices":
            turn.identity.subscribed_notices = False
            turn.state.clear_form()
            return [self.replies.say(turn, "unsubscribed")]
        if turn.identity.channel == ChatChannel.WEB:
            return await self.email.subscribe(turn)
        turn.identity.subscribed_notices = True
        account = await self.account(turn)
        if account is None:
            return [self.replies.say(turn, "subscribed_unbound", (self.replies.button(turn, "bind", "bind"),))]
        return [self.replies.say(turn, "subscribed", account=account)]

    async def on_payload(self, turn: Turn, kind: str, arg: str) -> Replies | None:
        if kind == "email":
            return await self.email.on_payload(turn, arg) if turn.identity.channel == ChatChannel.WEB else None
        if turn.payload is None or not turn.payload.startswith(NOTICE_PAYLOAD_PREFIX):
            return None
        answer = await self.notices.on_payload(turn.session, turn.identity, turn.payload, turn.language)
        return answer or [self.replies.say(turn, "notice_nothing_pending")]

    async def on_form(self, turn: Turn) -> Replies | None:
        return await self.email.on_form(turn)
