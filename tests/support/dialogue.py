"""Shared by the dialogue, bot, web chat and end-to-end tests: the demo data, demo accounts, a chat driver."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import session_scope
from core.dialogue import Incoming, KeyValueStateStore, MemoryStateBackend, TurnResult
from core.dialogue.service import ConversationService
from core.models import Bill, Identity, IdentityAccount, UtilityAccount
from core.templating import money
from tests.fakes.nlu import FakeNlu
from tests.support.demo_snapshot import load_demo_rows

# The phrases of the first conversations the bot was built for, and what the NLU model says they are.
PHRASES = {
    "zh": {
        "bill_amount": "我家这个月电费多少",
        "bill_explain": "为什么电费这么高",
        "outage_status": "现在停电了吗",
        "report_fault": "门口电线掉地上了",
    },
    "en": {
        "bill_amount": "how much is my electricity bill this month",
        "bill_explain": "why is my bill so high",
        "outage_status": "is there a power cut right now",
        "report_fault": "a power line fell down outside my house",
    },
}


def demo_nlu(**more: str) -> FakeNlu:
    intents = {text: intent for phrases in PHRASES.values() for intent, text in phrases.items()}
    intents.update(more)
    return FakeNlu(intents)


@dataclass(frozen=True)
class DemoAccount:
    id: int
    number: str
    last4: str
    address: str
    area_code: str
    feeder_code: str


async def load_demo_data(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    await load_demo_rows(sessionmaker, clock.now())


async def demo_account(
    sessionmaker: async_sessionmaker[AsyncSession], *, feeder: str | None = None, area: str | None = None, skip: int = 0
) -> DemoAccount:
    """A residential demo account no demo identity is bound to (on that feeder / in that area)."""
    async with sessionmaker() as session:
        bound = select(IdentityAccount.account_id)
        query = (
            select(UtilityAccount)
            .where(UtilityAccount.id.not_in(bound), UtilityAccount.account_number.not_like("3390%"))
            .order_by(UtilityAccount.account_number)
        )
        if feeder:
            query = query.where(UtilityAccount.feeder_code == feeder)
        if area:
            query = query.where(UtilityAccount.area_code == area)
        account = list(await session.scalars(query))[skip]
        return DemoAccount(
            account.id,
            account.account_number,
            account.phone[-4:],
            account.address,
            account.area_code,
            account.feeder_code,
        )


async def bills_of(sessionmaker: async_sessionmaker[AsyncSession], account_id: int) -> list[Bill]:
    """The account's bills, newest first, with their lines."""
    from sqlalchemy.orm import selectinload

    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Bill)
            .where(Bill.account_id == account_id)
            .options(selectinload(Bill.lines))
            .order_by(Bill.period.desc())
        )
        return list(rows)


def amount_due(bills: list[Bill]) -> Decimal:
    return sum((b.amount for b in bills if b.paid_at is None), start=Decimal(0))


class Chat:
    """Drives ConversationService the way a transport does: one unit of work per message."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        service: ConversationService,
        identity_id: int,
        backend: MemoryStateBackend,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.service = service
        self.identity_id = identity_id
        self.store = KeyValueStateStore(backend, f"test:{identity_id}", 1800)
        self.results: list[TurnResult] = []

    async def send(self, text: str | None = None, *, payload: str | None = None) -> TurnResult:
        async with session_scope(self.sessionmaker) as session:
            identity = await session.get(Identity, self.identity_id)
            assert identity is not None
            result = await self.service.handle(session, identity, Incoming(text=text, payload=payload), self.store)
        self.results.append(result)
        return result

    async def text(self, text: str | None = None, *, payload: str | None = None) -> str:
        """Send, and return every reply's text joined (for assertions)."""
        result = await self.send(text, payload=payload)
        return "\n".join(reply.text for reply in result.replies)

    @property
    def payloads(self) -> list[str]:
        """The payloads of the buttons of the last answer."""
        return [b.payload for reply in self.results[-1].replies for b in reply.buttons]


__all__ = [
    "PHRASES",
    "Chat",
    "DemoAccount",
    "amount_due",
    "bills_of",
    "demo_account",
    "demo_nlu",
    "load_demo_data",
    "money",
]
