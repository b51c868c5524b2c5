"""Outages in the chat: what is going on now (at the bound account's address, or every public one before
binding), what is going on near it (another feeder of its district), and the planned outages to come.
A district or street named in the message (西湖区古墩路有停电吗) is answered for that place, bound or not,
and remembered for the follow-up (什么时候来电).

Every outage is rendered from core.outages.facts (OutageFacts.context), the same facts the notices use, so
the chat and a notice never name different places.
"""

from __future__ import annotations

from core.dialogue import keywords
from core.dialogue.context import Replies, Turn, period_bounds
from core.dialogue.skills.base import Skill, SkillKit
from core.faults.hazards import reports_power_loss
from core.models import UtilityAccount
from core.outages.facts import OutageFacts
from core.outages.places import Place
from core.ports import Button, OutgoingMessage

PLANNED_SHOWN = 3  # planned outages listed for a place (the soonest; the rest counted)


class OutageSkill(Skill):
    intents = frozenset({"outage_status", "planned_outage_query"})

    def __init__(self, kit: SkillKit) -> None:
        super().__init__(kit)
        self.outages = kit.services.outages

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        if intent == "planned_outage_query":
            return await self._planned(turn)
        return await self._now(turn)

    async def _place(self, turn: Turn, account: UtilityAccount | None) -> Place | None:
        """The place named in the message; else, without an account, the one the last answer was about."""
        place = await self.outages.place(turn.session, turn.text) if turn.text else None
        if place is None and account is None and turn.state.place:
            place = await self.outages.place_by_key(turn.session, turn.state.place)
        turn.state.place = place.key if place is not None else turn.state.place
        return place

    async def _at_place(self, turn: Turn, place: Place, buttons: tuple[Button, ...]) -> Replies:
        now_there, to_come = await self.outages.at_place(turn.session, turn.now, place)
        return [
            self.replies.say(
                turn,
                "outage_place",
                buttons,
                place=place.named(turn.language),
                street=place.street,
                current=self._contexts(turn, now_there),
                planned=self._contexts(turn, to_come[:PLANNED_SHOWN]),
                more=max(len(to_come) - PLANNED_SHOWN, 0),
            )
        ]

    async def _now(self, turn: Turn) -> Replies:
        account = await self.account(turn)
        report = self.replies.button(turn, "report_fault", "intent:report_fault")
        place = await self._place(turn, account)
        if place is not None:
            return await self._at_place(turn, place, (report,))
        if account is None:
            public = await self.outages.current(turn.session, turn.now, None)
            bind = self.replies.button(turn, "bind", "bind")
            return [self.replies.say(turn, "outage_public", (bind, report), outages=self._contexts(turn, public))]
        here = await self.outages.current(turn.session, turn.now, account)
        if here and reports_power_loss(turn.text) and not keywords.asks_whether(turn.text):
            # 我家停电了 (not 停电了吗): a report, counted on the fault outage
            counted = await self.services.faults.count_no_power(turn.session, turn.identity, account)
            if counted is not None:
                return [await self.counted(turn, counted, account)]
        if here:
            contexts = self._contexts(turn, here)
            return [self.replies.say(turn, "outage_current", (report,), account=account, outages=contexts)]
        near = await self.outages.near(turn.session, turn.now, account)
        if near:
            return [self._near(turn, account, near, (report,))]
        return [self.replies.say(turn, "outage_none", (report,), account=account)]

    def _near(
        self, turn: Turn, account: UtilityAccount, outages: list[OutageFacts], buttons: tuple[Button, ...]
    ) -> OutgoingMessage:
        """None at the account's address, but on another feeder of its district: which feeders, until when."""
        district = ""
        near: list[dict[str, object]] = []
        for outage in outages:
            area = next((a for a in outage.areas if a.code == account.area_code), None)
            if area is not None:
                district = area.named(turn.language)
            feeders = outage.feeders_in_area(account.area_code)
            near.append(
                {
                    "outage": outage.context(turn.language),
                    "feeders": [{"code": f.code, "name": f.name, "lines": f.lines} for f in feeders],
                }
            )
        return self.replies.say(turn, "outage_near", buttons, account=account, district=district, near=near)

    async def _planned(self, turn: Turn) -> Replies:
        account = await self.account(turn)
        place = await self._place(turn, account)
        period = turn.period(self.config.timezone, upcoming=True)
        if place is not None and period is None:
            return await self._at_place(turn, place, ())
        since, until = period_bounds(period, self.config.timezone) if period is not None else (None, None)
        outages = await self.outages.upcoming(turn.session, turn.now, account, since=since, until=until)
        buttons: tuple[Button, ...] = ()
        if not turn.identity.subscribed_notices:
            buttons = (self.replies.button(turn, "subscribe", "intent:subscribe_notices"),)
        if account is None:
            buttons = (self.replies.button(turn, "bind", "bind"), *buttons)
        contexts = self._contexts(turn, outages)
        return [self.replies.say(turn, "planned_outages", buttons, account=account, outages=contexts, period=period)]

    @staticmethod
    def _contexts(turn: Turn, outages: list[OutageFacts]) -> list[dict[str, object]]:
        return [outage.context(turn.language) for outage in outages]
