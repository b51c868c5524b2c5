"""What a turn reads once: the identity with its conversation, bound accounts and escalations in one query, the
turn's memo (bound accounts, outages at the account, places), and the NLU started before the database work."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.conversations.memo import memo_of, turn_memo
from core.customers.repository import BOUND, ESCALATED, BindingRepository, IdentityRepository
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import Incoming, KeyValueStateStore, MemoryStateBackend, WebChat, build_conversations
from core.errors import NotFound
from core.models import IdentityAccount
from core.models.enums import ChatChannel, OutageKind
from core.outages.queries import OutageQueries
from core.outages.repository import OutageRepository
from core.outages.service import OutageInput
from core.ports import NluResult
from core.services import CoreServices
from tests.fakes.nlu import FakeNlu
from tests.support.dialogue import demo_account, demo_nlu, load_demo_data


async def _bound_session(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock) -> tuple[str, int]:
    """A web chat session bound to a demo account: its id and the account's id."""
    account = await demo_account(sessionmaker)
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).start_web_session(session, "zh")
        session.add(IdentityAccount(identity_id=identity.id, account_id=account.id, verified_at=clock.now()))
        return identity.external_id, account.id


async def test_for_turn_reads_identity_conversation_and_bindings_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    await load_demo_data(sessionmaker, clock)
    session_id, account_id = await _bound_session(sessionmaker, clock)
    async with sessionmaker() as session:
        assert await IdentityRepository(session).for_turn(ChatChannel.WEB, "no-such-session") is None
        with turn_memo(session):
            found = await IdentityRepository(session).for_turn(ChatChannel.WEB, session_id)
            assert found is not None
            identity, conversation, bound = found
            assert conversation is not None and conversation.identity_id == identity.id
            assert [account.id for _, account in bound] == [account_id]
            memo = memo_of(session)
            assert memo is not None
            assert memo[BOUND, identity.id] == bound
            assert memo[ESCALATED, identity.id] is False
        assert memo_of(session) is None  # the memo ends with the turn


async def test_bound_accounts_are_read_once_per_turn_and_forgotten_on_a_write(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    await load_demo_data(sessionmaker, clock)
    session_id, account_id = await _bound_session(sessionmaker, clock)
    async with sessionmaker() as session:
        identity = await IdentityService(clock).web_identity(session, session_id)
        repo = BindingRepository(session)
        with turn_memo(session):
            first = await repo.bound(identity.id)
            memo = memo_of(session)
            assert memo is not None and (BOUND, identity.id) in memo
            assert [a.id for _, a in await repo.bound(identity.id)] == [a.id for _, a in first]
            await repo.make_current(identity.id, account_id)
            assert (BOUND, identity.id) not in memo  # a binding written: read again next time
            assert [a.id for _, a in await repo.bound(identity.id)] == [account_id]


async def test_outage_facts_from_the_places_read_once_are_the_same(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker)
    outages = CoreServices.build(settings, clock).outages
    async with session_scope(sessionmaker) as session:
        outage = await outages.create(
            session,
            OutageInput(
                starts_at=clock.now() - timedelta(minutes=5),
                ends_at=None,
                reason="cable fault",
                kind=OutageKind.UNPLANNED,
                feeders=(account.feeder_code,),
                accounts=(account.number,),
                estimated_restoration_at=clock.now() + timedelta(hours=2),
            ),
            actor_id=None,
        )
        await outages.publish(session, outage.id, actor_id=None)
    async with sessionmaker() as session:
        repo = OutageRepository(session)
        current = await repo.current(clock.now())
        assert current
        places = await OutageQueries().kept_places(session)
        assert await repo.facts(current, places) == await repo.facts(current)


class SlowNlu(FakeNlu):
    """Answers after `delay`; counts the parses still running when one is cancelled."""

    def __init__(self, delay: float) -> None:
        super().__init__({"现在停电了吗": "outage_status"})
        self.delay = delay
        self.cancelled = 0

    async def parse(self, text: str) -> NluResult:
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().parse(text)


async def test_the_web_chat_starts_the_nlu_before_reading_and_cancels_it_for_an_unknown_session(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    await load_demo_data(sessionmaker, clock)
    session_id, _ = await _bound_session(sessionmaker, clock)
    nlu = SlowNlu(0.05)
    conversations = build_conversations(settings, clock, nlu)
    webchat = WebChat(conversations, MemoryStateBackend(clock), IdentityService(clock))
    async with session_scope(sessionmaker) as session:
        result = await webchat.post(session, session_id, Incoming(text="现在停电了吗"))
    assert result.intent == "outage_status" and result.nlu_available
    assert nlu.calls == ["现在停电了吗"]
    async with session_scope(sessionmaker) as session:
        with pytest.raises(NotFound):
            await webchat.post(session, "no-such-session", Incoming(text="现在停电了吗"))
    await asyncio.sleep(0)
    assert nlu.cancelled == 1  # the parse started for nothing is not left running


async def test_a_turn_answers_the_same_without_the_web_chats_prefetch(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    """The Telegram path (handle without `loaded`) and the web chat path give the same answer."""
    await load_demo_data(sessionmaker, clock)
    first, _ = await _bound_session(sessionmaker, clock)
    conversations = build_conversations(settings, clock, demo_nlu())
    backend = MemoryStateBackend(clock)
    webchat = WebChat(conversations, backend, IdentityService(clock))
    text = "我家这个月电费多少"
    async with session_scope(sessionmaker) as session:
        via_web = await webchat.post(session, first, Incoming(text=text))
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).web_identity(session, first)
        store = KeyValueStateStore(backend, "other", 1800)
        direct = await conversations.handle(session, identity, Incoming(text=text), store)
    assert [r.text for r in direct.replies] == [r.text for r in via_web.replies]


async def test_last_seen_is_written_at_most_once_a_minute(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    """A customer's turns come seconds apart: the identity's last_seen_at moves on a turn a minute or more after
    the last one written, not on every turn (one UPDATE fewer per turn)."""
    await load_demo_data(sessionmaker, clock)
    session_id, _ = await _bound_session(sessionmaker, clock)
    webchat = WebChat(
        build_conversations(settings, clock, FakeNlu({"现在停电了吗": "outage_status"})),
        MemoryStateBackend(clock),
        IdentityService(clock),
    )

    async def turn_then_last_seen() -> object:
        async with session_scope(sessionmaker) as session:
            await webchat.post(session, session_id, Incoming(text="现在停电了吗"))
        async with sessionmaker() as session:
            return (await IdentityService(clock).web_identity(session, session_id)).last_seen_at

    began = clock.now()
    assert await turn_then_last_seen() == began  # the session was started at this very time
    clock.advance(timedelta(seconds=59))
    assert await turn_then_last_seen() == began
    clock.advance(timedelta(seconds=1))
    assert await turn_then_last_seen() == began + timedelta(seconds=60)
