"""AccountBinding with an SMS gateway: codes instead of the last four digits, on the real database.

(The SMS itself, sent after the commit to a gateway on loopback, is tested through the web chat and the bot:
tests/api/test_chat_sms_binding.py, tests/bot/test_updates.py.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.customers.account_binding import AccountBinding, BindOutcome
from core.customers.binding import BindingPolicy
from core.customers.codes import VerificationCodes
from core.customers.service import IdentityService
from core.customers.sms import SmsCodeSender
from core.db import session_scope
from core.errors import InvalidInput
from core.models import BindingAttempt, Identity
from tests.support.dialogue import demo_account, load_demo_data

Maker = async_sessionmaker[AsyncSession]
USER = 990_100_001


def by_sms(clock: FrozenClock, settings: Settings, policy: BindingPolicy | None = None) -> AccountBinding:
    codes = VerificationCodes(clock, "a-test-secret")
    sender = SmsCodeSender(settings.model_copy(update={"sms_webhook_url": "http://127.0.0.1:9/sms"}))
    return AccountBinding(clock, policy or BindingPolicy(), codes=codes, sms=sender)


async def identity_id(sessionmaker: Maker, clock: FrozenClock, user: int = USER) -> int:
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).telegram_identity(
            session, user_id=user, chat_id=user, language_code="zh"
        )
        return identity.id


async def failures(sessionmaker: Maker) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(BindingAttempt).where(BindingAttempt.succeeded.is_(False))
        )
        return int(count or 0)


async def test_parallel_wrong_codes_are_counted_one_after_the_other(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker)
    binding = by_sms(clock, settings, BindingPolicy(max_failures=3))
    ident = await identity_id(sessionmaker, clock)
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, ident)
        assert identity is not None
        sent = await binding.send_code(session, identity, account.number)
    assert sent.status == "sent" and len(sent.code) == 6 and sent.phone is not None and sent.valid_minutes == 10
    wrong = f"{(int(sent.code) + 1) % 10**6:06d}"

    async def guess() -> BindOutcome:
        async with session_scope(sessionmaker) as session:
            identity = await session.get(Identity, ident)
            assert identity is not None
            outcome = await binding.verify_code(session, identity, account.number, wrong)
            await asyncio.sleep(0.02)  # hold the transaction a while: the others must wait for it
            return outcome

    outcomes = await asyncio.wait_for(asyncio.gather(*(guess() for _ in range(6))), 30)
    assert sorted(o.status for o in outcomes) == ["failed", "failed", "locked", "locked", "locked", "locked"]
    assert await failures(sessionmaker) == 3  # the third failure locks; nothing is checked (nor counted) after


async def test_the_last_four_digits_are_no_proof_with_a_gateway(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker, skip=1)
    binding = by_sms(clock, settings)
    ident = await identity_id(sessionmaker, clock)
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, ident)
        assert identity is not None
        with pytest.raises(InvalidInput):
            await binding.verify(session, identity, account.number, account.last4)
        with pytest.raises(InvalidInput):
            await binding.verify_code(session, identity, account.number, "12345")  # five digits
        assert (await binding.verify_code(session, identity, account.number, "123456")).status == "expired"
        plain = AccountBinding(clock, BindingPolicy())
        assert not plain.by_sms and binding.by_sms
        with pytest.raises(InvalidInput):
            await plain.send_code(session, identity, account.number)
    assert await failures(sessionmaker) == 0  # nothing was guessed at


async def test_codes_per_hour_and_expiry(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker, skip=2)
    binding = by_sms(clock, settings)
    ident = await identity_id(sessionmaker, clock)
    statuses = []
    codes = []
    for _ in range(6):
        async with session_scope(sessionmaker) as session:
            identity = await session.get(Identity, ident)
            assert identity is not None
            sent = await binding.send_code(session, identity, account.number)
            statuses.append(sent.status)
            codes.append(sent.code)
    assert statuses == ["sent"] * 5 + ["too_many"]
    clock.advance(timedelta(minutes=11))
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, ident)
        assert identity is not None
        assert (await binding.verify_code(session, identity, account.number, codes[4])).status == "expired"
        clock.advance(timedelta(hours=1))
        sent = await binding.send_code(session, identity, account.number)
        assert sent.status == "sent"
        outcome = await binding.verify_code(session, identity, account.number, sent.code)
    assert outcome.status == "bound" and outcome.account is not None
    assert outcome.account.account_number == account.number


async def test_an_account_number_gets_only_so_many_codes_from_every_chat(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker, skip=3)
    binding = by_sms(clock, settings, BindingPolicy(account_max_failures=3))
    chats = [await identity_id(sessionmaker, clock, USER + n) for n in range(3)]
    statuses = []
    for ident in (chats[0], chats[1], chats[1], chats[2]):
        async with session_scope(sessionmaker) as session:
            identity = await session.get(Identity, ident)
            assert identity is not None
            statuses.append((await binding.send_code(session, identity, account.number)).status)
    assert statuses == ["sent", "sent", "sent", "too_many"]
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, chats[2])
        assert identity is not None
        assert (await binding.send_code(session, identity, "1000000002")).status == "sent"  # another number: its own
    clock.advance(timedelta(hours=24, minutes=1))
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, chats[2])
        assert identity is not None
        assert (await binding.send_code(session, identity, account.number)).status == "sent"
