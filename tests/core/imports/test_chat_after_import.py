"""The imported data serves the chat: a customer binds an imported account with the last four digits of its
imported phone and is told the imported bill's amount (the worked example of the README)."""

from __future__ import annotations

from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import MemoryStateBackend, build_conversations
from tests.core.imports.importing import Maker, load_examples
from tests.support.dialogue import PHRASES, Chat, demo_nlu


async def test_a_customer_binds_an_imported_account_and_hears_its_bill(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    await load_examples(sessionmaker, clock)
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).start_web_session(session, "en")
    chat = Chat(sessionmaker, build_conversations(settings, clock, demo_nlu()), identity.id, MemoryStateBackend(clock))

    await chat.text("3309000002")
    bound = await chat.text("0002")  # the last four digits of 139-0571-0002
    assert "Account 3309000002 (杭州市萧山区金城路1038号5幢1502室) is now linked" in bound
    answer = await chat.text(PHRASES["en"]["bill_amount"])
    assert "Bill for October 2026: ¥102.48 for 210 kWh, due 2026-11-17, not paid yet." in answer
