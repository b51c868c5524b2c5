"""The bill by email on request (bill_email: 把账单发我邮箱 / email me my bill).

A bound customer with a verified email address (the web chat verifies one with a code when they subscribe to
notices: core.dialogue.skills.email_check) gets their bound account's latest statement queued to it
(core.billing.statements) and is told where it went, masked (m***@example.com). Without a verified address they
are told how to add one (in the web chat, with a button to start); anyone not bound is asked to bind first, and
answered once bound.
"""

from __future__ import annotations

from core.dialogue.context import Replies, Turn
from core.dialogue.intents import BILL_EMAIL
from core.dialogue.skills.applications import BindFirst
from core.dialogue.skills.base import Skill, SkillKit
from core.models.enums import ChatChannel


class BillEmailSkill(Skill):
    intents = frozenset({BILL_EMAIL})

    def __init__(self, kit: SkillKit, bind_first: BindFirst) -> None:
        super().__init__(kit)
        self.bind_first = bind_first

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        statements = self.services.statements
        if statements is None:  # a process built without the statements service
            return [await self.replies.menu(turn, "fallback")]
        account = await self.account(turn)
        if account is None:
            return await self.bind_first(turn, intent)
        done = await statements.request(turn.session, turn.identity, account)
        if done.no_bill:
            return [self.replies.say(turn, "bill_none", account=account)]
        if done.sent_to is None:
            web = turn.identity.channel == ChatChannel.WEB
            buttons = (self.replies.button(turn, "subscribe", "intent:subscribe_notices"),) if web else ()
            return [self.replies.say(turn, "bill_email_no_email", buttons, web=web)]
        return [self.replies.say(turn, "bill_email_sent", account=account, email=done.sent_to, period=done.period)]
