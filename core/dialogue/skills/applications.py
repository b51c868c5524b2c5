"""Where the customer's own applications (业扩: new connection, capacity change, EV charger, rooftop solar) stand.

A bound customer hears of the bound account's applications; a key-account contact writing from the Telegram chat
their notices go to, of their key account's, without binding. Each open one: its stage, the next step, the
stage's due time and who to call (the account manager and their phone for a key account, else the hotline), and
the planned outage connecting it needs when there is one. None: a polite answer with buttons to the FAQ of how to
apply. Anyone else is asked to bind first, and answered once bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.dialogue.context import Replies, Turn
from core.dialogue.intents import APPLICATION_STATUS
from core.dialogue.skills.base import Skill, SkillKit

# The binding skill's "bind first, then answer" (core.dialogue.skills.binding.BindingSkill.bind_first).
BindFirst = Callable[[Turn, str], Awaitable[Replies]]
HOW_TO_APPLY = ("faq_new_connection", "faq_capacity_change")


class ApplicationSkill(Skill):
    intents = frozenset({APPLICATION_STATUS})

    def __init__(self, kit: SkillKit, bind_first: BindFirst) -> None:
        super().__init__(kit)
        self.bind_first = bind_first

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        applications = self.services.applications
        if applications is None:  # a process built without the applications service
            return [await self.replies.menu(turn, "fallback")]
        found = await applications.for_customer(turn.session, turn.identity, await self.account(turn))
        if found is None:
            return await self.bind_first(turn, intent)
        rules = applications.rules
        buttons = () if found.open else tuple(self.replies.button(turn, n, f"intent:{n}") for n in HOW_TO_APPLY)
        return [
            self.replies.say(
                turn,
                "application_status",
                buttons,
                open=[p.context(rules, turn.language, turn.now) for p in found.open],
                connected=[p.context(rules, turn.language, turn.now) for p in found.connected],
            )
        ]
