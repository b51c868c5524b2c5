"""Identities and account binding directly (no chat, no HTTP): web sessions, Telegram identities, languages,
verification with its lockout, and the accounts an identity has bound (on the demo data)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.customers.account_binding import AccountBinding, BindOutcome
from core.customers.binding import BindingPolicy
from core.customers.service import IdentityService, language_from_code, set_language
from core.db import session_scope
from core.errors import InvalidInput, NotFound
from core.models import BindingAttempt, Conversation, Identity, IdentityAccount
from tests.support.dialogue import DemoAccount, demo_account, load_demo_data

USER = 990_000_001  # far from the demo's Telegram users
OTHER_USER = 990_000_002


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


@pytest.fixture
def binding(clock: FrozenClock) -> AccountBinding:
    return AccountBinding(clock, BindingPolicy())


async def run(sessionmaker: async_sessionmaker[AsyncSession], call: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async with session_scope(sessionmaker) as session:
        return await call(session)


def identities(clock: FrozenClock) -> IdentityService:
    return IdentityService(clock)


async def new_identity(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, user: int = USER) -> int:
    identity: Identity = await run(
        sessionmaker,
        lambda s: identities(clock).telegram_identity(s, user_id=user, chat_id=user, language_code="zh-hans"),
    )
    return identity.id


async def with_identity(
    sessionmaker: async_sessionmaker[AsyncSession],
    identity_id: int,
    call: Callable[[AsyncSession, Identity], Awaitable[Any]],
) -> Any:
    """One unit of work on the identity, loaded afresh (as each chat message does)."""

    async def on(session: AsyncSession) -> Any:
        identity = await session.get(Identity, identity_id)
        assert identity is not None
        return await call(session, identity)

    return await run(sessionmaker, on)


async def verify(
    sessionmaker: async_sessionmaker[AsyncSession], binding: AccountBinding, identity_id: int, number: str, last4: str
) -> BindOutcome:
    outcome: BindOutcome = await with_identity(
        sessionmaker, identity_id, lambda s, i: binding.verify(s, i, number, last4)
    )
    return outcome


async def attempts(sessionmaker: async_sessionmaker[AsyncSession], identity_id: int) -> list[BindingAttempt]:
    async with sessionmaker() as session:
        query = select(BindingAttempt).where(BindingAttempt.identity_id == identity_id).order_by(BindingAttempt.id)
        return list(await session.scalars(query))


async def bindings(sessionmaker: async_sessionmaker[AsyncSession], identity_id: int) -> dict[int, bool]:
    """account id → is_current, as stored."""
    async with sessionmaker() as session:
        rows = await session.scalars(select(IdentityAccount).where(IdentityAccount.identity_id == identity_id))
        return {row.account_id: row.is_current for row in rows}


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: type[Any], *where: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def wrong(last4: str) -> str:
    return f"{(int(last4) + 1) % 10_000:04d}"


# ----------------------------------------------------------------------------------------- web chat


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_web_session_is_an_anonymous_identity_with_an_open_conversation(
    language: str, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    identity: Identity = await run(sessionmaker, lambda s: IdentityService(clock).start_web_session(s, language))
    async with sessionmaker() as session:
        stored = await session.get(Identity, identity.id)
        conversations = list(await session.scalars(select(Conversation).where(Conversation.identity_id == identity.id)))
    assert stored is not None
    assert (stored.channel, stored.language, stored.telegram_chat_id) == ("web", language, None)
    assert len(stored.external_id) == 32 and int(stored.external_id, 16) >= 0
    assert stored.created_at == clock.now() and stored.last_seen_at == clock.now()
    [conversation] = conversations
    assert (conversation.channel, conversation.state, conversation.last_message_at) == ("web", "open", clock.now())
    assert await bindings(sessionmaker, identity.id) == {}


async def test_each_web_session_gets_its_own_id(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    first: Identity = await run(sessionmaker, lambda s: IdentityService(clock).start_web_session(s))
    second: Identity = await run(sessionmaker, lambda s: IdentityService(clock).start_web_session(s))
    assert first.external_id != second.external_id and first.language == "zh"


@pytest.mark.parametrize("language", ["fr", "", "ZH", "zh-CN"])
async def test_a_web_session_in_an_unknown_language_is_refused(
    language: str, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await run(sessionmaker, lambda s: IdentityService(clock).start_web_session(s, language))
    assert caught.value.field == "language"
    assert await count(sessionmaker, Identity) == 0
    assert await count(sessionmaker, Conversation) == 0


async def test_web_identity_finds_the_session_and_nothing_else(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    started: Identity = await run(sessionmaker, lambda s: IdentityService(clock).start_web_session(s, "en"))
    found: Identity = await run(sessionmaker, lambda s: IdentityService(clock).web_identity(s, started.external_id))
    assert (found.id, found.language) == (started.id, "en")

    await new_identity(sessionmaker, clock)
    for unknown in ("0" * 32, "", str(USER)):  # never started; a Telegram user's id is not a web session
        with pytest.raises(NotFound) as caught:
            await run(sessionmaker, partial(IdentityService(clock).web_identity, session_id=unknown))
        assert caught.value.field == "session_id"


# ----------------------------------------------------------------------------------------- Telegram


async def test_a_telegram_identity_is_created_once_and_follows_its_chat(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    first: Identity = await run(
        sessionmaker,
        lambda s: identities(clock).telegram_identity(s, user_id=USER, chat_id=111, language_code="en-GB"),
    )
    assert (first.channel, first.external_id, first.telegram_chat_id) == ("telegram", str(USER), 111)
    assert first.language == "en" and first.created_at == clock.now()

    clock.advance(timedelta(days=1))
    again: Identity = await run(
        sessionmaker,
        lambda s: identities(clock).telegram_identity(s, user_id=USER, chat_id=111, language_code="zh"),
    )
    assert again.id == first.id and again.language == "en"  # the language they chose is kept
    moved: Identity = await run(
        sessionmaker,
        lambda s: identities(clock).telegram_identity(s, user_id=USER, chat_id=222, language_code=None),
    )
    assert moved.id == first.id

    async with sessionmaker() as session:
        stored = await session.get(Identity, first.id)
    assert stored is not None
    assert stored.telegram_chat_id == 222 and stored.created_at == first.created_at
    assert await count(sessionmaker, Identity) == 1


@pytest.mark.parametrize(
    ("code", "language"), [("en", "en"), ("en-US", "en"), ("EN", "en"), ("zh-hans", "zh"), ("de", "zh"), (None, "zh")]
)
async def test_a_new_telegram_identity_speaks_its_apps_language(
    code: str | None, language: str, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    assert language_from_code(code) == language
    identity: Identity = await run(
        sessionmaker,
        lambda s: identities(clock).telegram_identity(s, user_id=USER, chat_id=USER, language_code=code),
    )
    async with sessionmaker() as session:
        stored = await session.get(Identity, identity.id)
    assert stored is not None and stored.language == language


async def test_set_language_changes_it_and_refuses_an_unknown_one(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    identity_id = await new_identity(sessionmaker, clock)
    await with_identity(sessionmaker, identity_id, lambda s, i: _set(i, "en"))
    with pytest.raises(InvalidInput) as caught:
        await with_identity(sessionmaker, identity_id, lambda s, i: _set(i, "jp"))
    assert caught.value.field == "language"
    async with sessionmaker() as session:
        stored = await session.get(Identity, identity_id)
    assert stored is not None and stored.language == "en"


async def _set(identity: Identity, language: str) -> None:
    set_language(identity, language)


# -------------------------------------------------------------------------------------- verification


async def test_verify_with_the_right_phone_binds_the_account(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    account = await demo_account(sessionmaker)
    identity_id = await new_identity(sessionmaker, clock)
    outcome = await verify(sessionmaker, binding, identity_id, account.number, account.last4)

    assert outcome.status == "bound" and outcome.account is not None
    assert outcome.account.id == account.id and outcome.locked_until is None
    assert await bindings(sessionmaker, identity_id) == {account.id: True}
    async with sessionmaker() as session:
        row = await session.get(IdentityAccount, (identity_id, account.id))
    assert row is not None and row.verified_at == clock.now()
    [attempt] = await attempts(sessionmaker, identity_id)
    assert (attempt.account_number, attempt.succeeded, attempt.at) == (account.number, True, clock.now())


async def test_verify_with_a_wrong_phone_fails_and_counts_down(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    account = await demo_account(sessionmaker)
    identity_id = await new_identity(sessionmaker, clock)
    lefts = []
    for _ in range(4):
        outcome = await verify(sessionmaker, binding, identity_id, account.number, wrong(account.last4))
        assert outcome.status == "failed" and outcome.account is None and outcome.locked_until is None
        lefts.append(outcome.failures_left)
        clock.advance(timedelta(minutes=1))
    assert lefts == [4, 3, 2, 1]
    assert [a.succeeded for a in await attempts(sessionmaker, identity_id)] == [False] * 4
    assert await bindings(sessionmaker, identity_id) == {}


async def test_an_unknown_account_number_fails_exactly_like_a_wrong_phone(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    account = await demo_account(sessionmaker)
    wrong_phone = await new_identity(sessionmaker, clock, USER)
    unknown = await new_identity(sessionmaker, clock, OTHER_USER)
    for _ in range(3):
        by_phone = await verify(sessionmaker, binding, wrong_phone, account.number, wrong(account.last4))
        by_number = await verify(sessionmaker, binding, unknown, "9999999999", account.last4)
        assert by_number == by_phone
    assert [(a.account_number, a.succeeded) for a in await attempts(sessionmaker, unknown)] == [
        ("9999999999", False)
    ] * 3


@pytest.mark.parametrize(
    ("number", "last4", "field"),
    [
        ("12345", "1234", "account_number"),
        ("12345678901", "1234", "account_number"),
        ("33010000ab", "1234", "account_number"),
        (None, "123", "phone_last4"),
        (None, "12a4", "phone_last4"),
        (None, "", "phone_last4"),
    ],
)
async def test_a_malformed_number_or_phone_is_refused_without_an_attempt(
    number: str | None,
    last4: str,
    field: str,
    world: None,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    binding: AccountBinding,
) -> None:
    account = await demo_account(sessionmaker)
    identity_id = await new_identity(sessionmaker, clock)
    with pytest.raises(InvalidInput) as caught:
        await verify(sessionmaker, binding, identity_id, number or account.number, last4)
    assert caught.value.field == field
    assert await attempts(sessionmaker, identity_id) == []


async def test_the_fifth_failure_locks_and_a_locked_identity_is_not_checked(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    account = await demo_account(sessionmaker)
    identity_id = await new_identity(sessionmaker, clock)
    for _ in range(4):
        assert (await verify(sessionmaker, binding, identity_id, account.number, "0000")).status == "failed"
        clock.advance(timedelta(minutes=5))
    fifth_at = clock.now()
    locked = await verify(sessionmaker, binding, identity_id, account.number, "0000")
    assert locked.status == "locked" and locked.locked_until == fifth_at + timedelta(hours=1)
    assert await with_identity(sessionmaker, identity_id, binding.locked_until) == fifth_at + timedelta(hours=1)

    clock.advance(timedelta(minutes=59))
    still = await verify(sessionmaker, binding, identity_id, account.number, account.last4)  # right, but locked
    assert still.status == "locked" and still.locked_until == fifth_at + timedelta(hours=1)
    assert len(await attempts(sessionmaker, identity_id)) == 5  # not recorded: guessing on cannot extend it
    assert await bindings(sessionmaker, identity_id) == {}

    clock.set(fifth_at + timedelta(hours=1))
    assert await with_identity(sessionmaker, identity_id, binding.locked_until) is None
    assert (await verify(sessionmaker, binding, identity_id, account.number, account.last4)).status == "bound"
    assert await bindings(sessionmaker, identity_id) == {account.id: True}


async def test_the_lock_follows_the_policy_it_is_given(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    strict = AccountBinding(clock, BindingPolicy(max_failures=2, window=timedelta(minutes=10), lock=timedelta(days=1)))
    account = await demo_account(sessionmaker)
    identity_id = await new_identity(sessionmaker, clock)
    first = await verify(sessionmaker, strict, identity_id, account.number, "0000")
    assert (first.status, first.failures_left) == ("failed", 1)
    clock.advance(timedelta(minutes=11))  # the first failure has left the window
    second = await verify(sessionmaker, strict, identity_id, account.number, "0000")
    assert (second.status, second.failures_left) == ("failed", 1)
    third = await verify(sessionmaker, strict, identity_id, account.number, "0000")
    assert third.status == "locked" and third.locked_until == clock.now() + timedelta(days=1)


async def test_failures_of_one_identity_do_not_lock_another(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    account = await demo_account(sessionmaker)
    guesser = await new_identity(sessionmaker, clock, USER)
    owner = await new_identity(sessionmaker, clock, OTHER_USER)
    for _ in range(5):
        await verify(sessionmaker, binding, guesser, account.number, "0000")
    assert (await verify(sessionmaker, binding, guesser, account.number, account.last4)).status == "locked"
    assert (await verify(sessionmaker, binding, owner, account.number, account.last4)).status == "bound"


# --------------------------------------------- per account number and per client address (guessing across identities)


async def test_failures_on_one_account_from_many_identities_lock_it_for_new_identities_only(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    account = await demo_account(sessionmaker)
    owner = await new_identity(sessionmaker, clock, OTHER_USER)
    assert (await verify(sessionmaker, binding, owner, account.number, account.last4)).status == "bound"
    guessers = [await new_identity(sessionmaker, clock, USER + 10 + i) for i in range(10)]
    outcomes = [await verify(sessionmaker, binding, g, account.number, wrong(account.last4)) for g in guessers]
    assert [o.status for o in outcomes[:9]] == ["failed"] * 9  # 1 failure each: no identity is locked
    assert outcomes[8].failures_left == 1  # the account's count is the lowest
    tenth_at = clock.now()
    assert (outcomes[9].status, outcomes[9].locked_by) == ("locked", "account")
    assert outcomes[9].locked_until == tenth_at + timedelta(hours=24)

    newcomer = await new_identity(sessionmaker, clock, USER + 99)  # even with the right digits
    refused = await verify(sessionmaker, binding, newcomer, account.number, account.last4)
    assert (refused.status, refused.locked_by) == ("locked", "account")
    assert await attempts(sessionmaker, newcomer) == []  # not checked, not recorded
    lock = await with_identity(sessionmaker, newcomer, lambda s, i: binding.lock(s, i, account.number))
    assert lock is not None and (lock.by, lock.until) == ("account", tenth_at + timedelta(hours=24))
    assert await with_identity(sessionmaker, newcomer, lambda s, i: binding.lock(s, i)) is None  # others: free

    # the identity already bound keeps the account: choosing it, asking for it again
    again = await with_identity(sessionmaker, owner, lambda s, i: binding.already_bound(s, i, account.number))
    assert again is not None and again.status == "already_bound"
    assert (await with_identity(sessionmaker, owner, binding.current)).id == account.id
    chosen = await with_identity(sessionmaker, owner, lambda s, i: binding.choose(s, i, account.id))
    assert chosen.id == account.id

    clock.set(tenth_at + timedelta(hours=24))
    assert (await verify(sessionmaker, binding, newcomer, account.number, account.last4)).status == "bound"


async def test_failures_from_one_address_lock_binding_from_it_on_any_account(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    accounts = [await demo_account(sessionmaker, skip=i) for i in range(3)]
    address = "203.0.113.7"
    identities_ = [await new_identity(sessionmaker, clock, USER + 10 + i) for i in range(5)]
    outcomes = []
    for i in range(20):  # 4 per identity, 7 or so per account: only the address reaches its limit
        identity_id, account = identities_[i % 5], accounts[i % 3]
        outcomes.append(
            await with_identity(
                sessionmaker,
                identity_id,
                lambda s, ident, a=account: binding.verify(s, ident, a.number, wrong(a.last4), client=address),
            )
        )
    assert [o.status for o in outcomes[:19]] == ["failed"] * 19
    assert (outcomes[19].status, outcomes[19].locked_by) == ("locked", "client")
    stored = await attempts(sessionmaker, identities_[0])
    assert {a.client for a in stored} == {address}
    fresh = await new_identity(sessionmaker, clock, USER + 50)
    from_there = await with_identity(
        sessionmaker, fresh, lambda s, i: binding.verify(s, i, accounts[0].number, accounts[0].last4, client=address)
    )
    assert (from_there.status, from_there.locked_by) == ("locked", "client")
    elsewhere = await with_identity(
        sessionmaker,
        fresh,
        lambda s, i: binding.verify(s, i, accounts[0].number, accounts[0].last4, client="198.51.100.1"),
    )
    assert elsewhere.status == "bound"


async def test_telegram_attempts_have_no_address_and_still_count_per_account(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    strict = AccountBinding(clock, BindingPolicy(account_max_failures=2))
    account = await demo_account(sessionmaker)
    first, second = await new_identity(sessionmaker, clock, USER), await new_identity(sessionmaker, clock, OTHER_USER)
    assert (await verify(sessionmaker, strict, first, account.number, "0000")).status == "failed"
    locked = await verify(sessionmaker, strict, second, account.number, "0000")
    assert (locked.status, locked.locked_by) == ("locked", "account")
    assert [a.client for a in await attempts(sessionmaker, first)] == [None]


@pytest.mark.parametrize("shape", ["one identity", "two identities, one account", "one address, two accounts"])
async def test_parallel_attempts_are_serialized_so_they_cannot_both_guess(
    shape: str, world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    """A limit of 1: two attempts at once, each in its own transaction. Serialized, the second sees the first's
    failure and is refused unchecked; without the lock both would be checked (on PostgreSQL both read before
    either writes)."""
    policy = BindingPolicy(max_failures=1, account_max_failures=1, client_max_failures=1)
    strict = AccountBinding(clock, policy)
    accounts = [await demo_account(sessionmaker, skip=i) for i in range(2)]
    one, two = await new_identity(sessionmaker, clock, USER), await new_identity(sessionmaker, clock, OTHER_USER)
    plan = {
        "one identity": [(one, accounts[0], None), (one, accounts[1], None)],
        "two identities, one account": [(one, accounts[0], None), (two, accounts[0], None)],
        "one address, two accounts": [(one, accounts[0], "192.0.2.1"), (two, accounts[1], "192.0.2.1")],
    }[shape]

    async def attempt(identity_id: int, account: DemoAccount, client: str | None) -> BindOutcome:
        async with session_scope(sessionmaker) as session:
            identity = await session.get(Identity, identity_id)
            assert identity is not None
            outcome = await strict.verify(session, identity, account.number, wrong(account.last4), client)
            await asyncio.sleep(0.05)  # hold the transaction open a while: the other one must wait for it
            return outcome

    outcomes = await asyncio.gather(*(attempt(*step) for step in plan))
    assert await count(sessionmaker, BindingAttempt) == 1
    assert [o.status for o in outcomes] == ["locked", "locked"]


# ------------------------------------------------------------------------------------ bound accounts


async def bind_two(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding, identity_id: int
) -> tuple[DemoAccount, DemoAccount]:
    first = await demo_account(sessionmaker, skip=0)
    second = await demo_account(sessionmaker, skip=1)
    for account in (first, second):
        assert (await verify(sessionmaker, binding, identity_id, account.number, account.last4)).status == "bound"
        clock.advance(timedelta(minutes=1))
    return first, second


async def test_the_last_account_verified_is_current_and_accounts_lists_both(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    identity_id = await new_identity(sessionmaker, clock)
    assert await with_identity(sessionmaker, identity_id, binding.current) is None
    assert await with_identity(sessionmaker, identity_id, binding.accounts) == []

    first, second = await bind_two(sessionmaker, clock, binding, identity_id)
    listed = await with_identity(sessionmaker, identity_id, binding.accounts)
    assert [(b.account.id, b.current) for b in listed] == [(first.id, False), (second.id, True)]
    assert listed[0].verified_at < listed[1].verified_at
    current = await with_identity(sessionmaker, identity_id, binding.current)
    assert current.id == second.id
    assert await bindings(sessionmaker, identity_id) == {first.id: False, second.id: True}


async def test_already_bound_makes_the_account_current_without_a_check(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    identity_id = await new_identity(sessionmaker, clock)
    first, second = await bind_two(sessionmaker, clock, binding, identity_id)
    before = len(await attempts(sessionmaker, identity_id))

    outcome = await with_identity(sessionmaker, identity_id, lambda s, i: binding.already_bound(s, i, first.number))
    assert outcome.status == "already_bound" and outcome.account.id == first.id
    assert await bindings(sessionmaker, identity_id) == {first.id: True, second.id: False}
    assert (await with_identity(sessionmaker, identity_id, binding.current)).id == first.id
    assert len(await attempts(sessionmaker, identity_id)) == before

    stranger = await demo_account(sessionmaker, skip=2)
    none = await with_identity(sessionmaker, identity_id, lambda s, i: binding.already_bound(s, i, stranger.number))
    assert none is None
    assert await bindings(sessionmaker, identity_id) == {first.id: True, second.id: False}


async def test_verifying_a_bound_account_again_keeps_one_binding(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    identity_id = await new_identity(sessionmaker, clock)
    first, second = await bind_two(sessionmaker, clock, binding, identity_id)
    outcome = await verify(sessionmaker, binding, identity_id, first.number, first.last4)
    assert outcome.status == "bound"
    assert await bindings(sessionmaker, identity_id) == {first.id: True, second.id: False}


async def test_choose_switches_the_current_account(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    identity_id = await new_identity(sessionmaker, clock)
    first, second = await bind_two(sessionmaker, clock, binding, identity_id)
    chosen = await with_identity(sessionmaker, identity_id, lambda s, i: binding.choose(s, i, first.id))
    assert chosen.id == first.id
    assert await bindings(sessionmaker, identity_id) == {first.id: True, second.id: False}
    assert (await with_identity(sessionmaker, identity_id, binding.current)).id == first.id


async def test_choose_or_unbind_someone_elses_account_is_not_found(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    mine = await new_identity(sessionmaker, clock, USER)
    theirs = await new_identity(sessionmaker, clock, OTHER_USER)
    own = await demo_account(sessionmaker, skip=0)
    other = await demo_account(sessionmaker, skip=1)
    await verify(sessionmaker, binding, mine, own.number, own.last4)
    await verify(sessionmaker, binding, theirs, other.number, other.last4)

    for action in (binding.choose, binding.unbind):
        for account_id in (other.id, 999_999):
            with pytest.raises(NotFound) as caught:
                await with_identity(sessionmaker, mine, partial(action, account_id=account_id))
            assert caught.value.field == "account"
    assert await bindings(sessionmaker, mine) == {own.id: True}
    assert await bindings(sessionmaker, theirs) == {other.id: True}


async def test_unbind_the_current_account_makes_the_remaining_one_current(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    identity_id = await new_identity(sessionmaker, clock)
    first, second = await bind_two(sessionmaker, clock, binding, identity_id)
    removed = await with_identity(sessionmaker, identity_id, lambda s, i: binding.unbind(s, i, second.id))
    assert removed.id == second.id
    assert await bindings(sessionmaker, identity_id) == {first.id: True}
    assert (await with_identity(sessionmaker, identity_id, binding.current)).id == first.id

    await with_identity(sessionmaker, identity_id, lambda s, i: binding.unbind(s, i, first.id))
    assert await bindings(sessionmaker, identity_id) == {}
    assert await with_identity(sessionmaker, identity_id, binding.current) is None
    assert [a.succeeded for a in await attempts(sessionmaker, identity_id)] == [True, True]  # history kept


async def test_unbind_a_not_current_account_keeps_the_current_one(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, binding: AccountBinding
) -> None:
    identity_id = await new_identity(sessionmaker, clock)
    first, second = await bind_two(sessionmaker, clock, binding, identity_id)
    await with_identity(sessionmaker, identity_id, lambda s, i: binding.unbind(s, i, first.id))
    assert await bindings(sessionmaker, identity_id) == {second.id: True}
