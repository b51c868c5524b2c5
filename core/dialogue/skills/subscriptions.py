"""Outage notices: subscribing and unsubscribing, and the seam for answers to a notice (its buttons,
"notice:…", and the outage_ack intent) handed to the NoticeResponder (core.dialogue.notices)."""

from __future__ import annotations

from core.dialogue.context import Replies, Turn
from core.dialogue.notices import NOTICE_PAYLOAD_PREFIX
from core.dialogue.skills.base import Skill, SkillKit


class SubscriptionSkill(Skill):
    intents = frozenset({"subscribe_notices", "unsubscribe_notices", "outage_ack"})
    payloads = frozenset({"notice"})  # notice:ack:<id>, notice:problem:<id>, … (the responder's vocabulary)

    def __init__(self, kit: SkillKit) -> None:
        super().__init__(kit)
        self.notices = kit.services.notices

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        if intent == "outage_ack":
            answer = await self.notices.on_ack_text(turn.session, turn.identity, turn.text, turn.language)
            return answer or [self.replies.say(turn, "notice_nothing_pending")]
        on = intent == "subscribe_notices"
        turn.identity.subscribed_notices = on
        if not on:
            return [self.replies.say(turn, "unsubscribed")]
        account = await self.account(turn)
        if account is None:
            return [self.replies.say(turn, "subscribed_unbound", (self.replies.button(turn, "bind", "bind"),))]
        return [self.replies.say(turn, "subscribed", account=account)]

    async def on_payload(self, turn: Turn, kind: str, arg: str) -> Replies | None:
        if turn.payload is None or not turn.payload.startswith(NOTICE_PAYLOAD_PREFIX):
            return None
        answer = await self.notices.on_payload(turn.session, turn.identity, turn.payload, turn.language)
        return answer or [self.replies.say(turn, "notice_nothing_pending")]
