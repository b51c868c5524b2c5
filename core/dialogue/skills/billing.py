"""Answers about the bound account's bills: the amount due, why a bill is what it is, usage, the tariff.

Reached only with an account bound (the engine sends account questions to binding first), except the
tariff: public, the residential one (GRIDTALK_PUBLIC_TARIFF_CODE) before binding, the account's own after.
Every figure comes from the stored bills and tariffs (core.billing.service), never invented.
"""

from __future__ import annotations

from core.billing.answers import facts, usage_trend
from core.dialogue.context import Replies, Turn
from core.dialogue.intents import ACCOUNT_INTENTS
from core.dialogue.periods import MonthRange
from core.dialogue.skills.base import Skill, SkillKit
from core.models import Bill, UtilityAccount
from core.ports import Button


class BillingSkill(Skill):
    intents = ACCOUNT_INTENTS | {"tariff_query"}  # bill_amount, bill_explain, usage_query; the tariff

    def __init__(self, kit: SkillKit) -> None:
        super().__init__(kit)
        self.billing = kit.services.billing

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        account = await self.account(turn)
        if account is None and intent == "tariff_query":
            return await self._public_tariff(turn)
        if account is None:  # the engine binds first; a stale state must not show anything
            return [await self.replies.menu(turn, "fallback")]
        accounts = await self.services.binding.accounts(turn.session, turn.identity)
        switch: tuple[Button, ...] = ()
        if len(accounts) > 1:
            switch = (self.replies.button(turn, "switch_account", "accounts"),)
        if intent == "tariff_query":
            tariff = await self.billing.tariff(turn.session, account)
            return [self.replies.say(turn, "tariff", switch, account=account, t=tariff)]
        latest = await self.billing.latest(turn.session, account, self.config.usage_trend_months)
        if not latest:
            return [self.replies.say(turn, "bill_none", switch, account=account)]
        if intent == "usage_query":
            return await self._usage(turn, account, latest, switch)
        return await self._bill(turn, intent, account, latest, switch)

    async def _public_tariff(self, turn: Turn) -> Replies:
        tariff = await self.billing.public_tariff(turn.session, self.config.public_tariff_code)
        bind = (self.replies.button(turn, "bind", "bind"),)
        if tariff is None:
            return [self.replies.say(turn, "tariff_unknown", bind)]
        return [self.replies.say(turn, "tariff", bind, account=None, t=tariff)]

    async def _usage(
        self, turn: Turn, account: UtilityAccount, latest: list[Bill], switch: tuple[Button, ...]
    ) -> Replies:
        period = turn.period(self.config.timezone)
        if period is None:
            trend = usage_trend(latest[: self.config.usage_trend_months])
            return [self.replies.say(turn, "usage_trend", switch, account=account, trend=trend)]
        found = await self.billing.in_months(turn.session, account, period.first, period.last)
        if not found:
            say = self.replies.say
            return [say(turn, "usage_not_billed", switch, account=account, period=period, latest=facts(latest[0]))]
        if period.single:
            return [self.replies.say(turn, "usage_month", switch, account=account, bill=facts(found[0]))]
        trend = usage_trend(found)
        return [self.replies.say(turn, "usage_trend", switch, account=account, trend=trend, period=period)]

    async def _bill(
        self, turn: Turn, intent: str, account: UtilityAccount, latest: list[Bill], switch: tuple[Button, ...]
    ) -> Replies:
        today = turn.now.astimezone(self.config.timezone).date()
        period = turn.period(self.config.timezone)
        chosen = latest[0]
        unbilled: MonthRange | None = None
        if period is not None and period.single and period.first >= f"{today.year:04d}-{today.month:02d}":
            unbilled = period  # "this month's bill" before it is issued: what is due now, from the latest bill
        elif period is not None and period.single:
            found = await self.billing.in_months(turn.session, account, period.first, period.last)
            if not found:
                say = self.replies.say
                return [say(turn, "bill_not_issued", switch, account=account, period=period, latest=facts(chosen))]
            chosen = found[0]
        if intent == "bill_explain":
            explanation = await self.billing.explain(turn.session, account, chosen)
            return [self.replies.say(turn, "bill_explain", switch, account=account, x=explanation)]
        due = await self.billing.amount_due(turn.session, account, chosen, today)
        buttons = (
            self.replies.button(turn, "bill_explain", "intent:bill_explain"),
            self.replies.button(turn, "payment_methods", "intent:payment_methods"),
            *switch,
        )
        return [self.replies.say(turn, "bill_amount", buttons, account=account, due=due, unbilled=unbilled)]
