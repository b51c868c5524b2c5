"""Bill reminders, turned on and off in the chat (subscribe_bill_reminders / unsubscribe_bill_reminders): a
reminder a few days before an unpaid bill is due and another after the due date (core.billing.reminders).

They are about the bound account's bills, so a customer with no account bound is asked to bind first, and
is opted in once bound. Turning them off needs no account. The answer says where reminders will
reach them: their Telegram chat, or (the web chat) their verified email address; a web chat customer without one
is told plainly that the reminders cannot reach them until they have one.
"""

from __future__ import annotations

from core.dialogue.context import Replies, Turn
from core.dialogue.intents import SUBSCRIBE_BILL_REMINDERS as SUBSCRIBE
from core.dialogue.intents import UNSUBSCRIBE_BILL_REMINDERS as UNSUBSCRIBE
from core.dialogue.skills.applications import BindFirst
from core.dialogue.skills.base import Skill, SkillKit
from core.models.enums import ChatChannel


class BillReminderSkill(Skill):
    intents = frozenset({SUBSCRIBE, UNSUBSCRIBE})

    def __init__(self, kit: SkillKit, bind_first: BindFirst) -> None:
        super().__init__(kit)
        self.bind_first = bind_first

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        identity = turn.identity
        if intent == UNSUBSCRIBE:
            identity.bill_reminders = False
            return [self.replies.say(turn, "bill_reminders_off")]
        account = await self.account(turn)
        if account is None:
            return await self.bind_first(turn, intent)
        identity.bill_reminders = True
        if identity.channel == ChatChannel.TELEGRAM:
            reach = "telegram"
        else:
            reach = "email" if identity.email and identity.email_verified_at is not None else "none"
        return [self.replies.say(turn, "bill_reminders_on", account=account, reach=reach)]
