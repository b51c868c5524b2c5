"""Binding brute force from many web chat sessions, the way an attacker would do it: a real api on loopback,
plain HTTP, a new session whenever one is locked, guessing the last four digits of one account's phone.

With the default settings the account is locked for new identities before 20 guesses in total (per account:
GRIDTALK_BINDING_ACCOUNT_MAX_FAILURES = 10 a day), whatever the number of sessions; after that even the right
digits are not checked. The figure — guesses checked when the lock came — is printed (`pytest -s`) and
asserted. Bounded: at most MAX_SESSIONS sessions (a few hundred requests), TIME_LIMIT seconds.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.models import BindingAttempt, IdentityAccount
from tests.support.dialogue import DemoAccount, demo_account, demo_nlu, load_demo_data

Maker = async_sessionmaker[AsyncSession]

MAX_SESSIONS = 60
TIME_LIMIT = 120.0
ACCOUNT_LOCKED = "cannot be linked to a new chat online"  # templates/dialogue/bind_account_locked.en.j2
IDENTITY_LOCKED = "linking is locked until"  # templates/dialogue/bind_locked.en.j2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def api(settings: Settings, clock: FrozenClock, sessionmaker: Maker) -> AsyncIterator[str]:
    """The api with the default settings, served by uvicorn on 127.0.0.1 (nothing else is reachable)."""
    await load_demo_data(sessionmaker, clock)
    app = create_app(settings, clock=clock, nlu=demo_nlu())
    port = free_port()
    # log_config=None: uvicorn leaves the process's logging alone (its default config would stop uvicorn.access
    # from propagating, for every later test)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the api did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@dataclass
class Attack:
    sessions: int = 0
    guesses_sent: int = 0
    refused_sessions: int = 0  # 429
    identity_locks: int = 0
    account_locked_after: int | None = None  # guesses sent when the account lock was first told
    replies: list[str] = field(default_factory=list)


def candidates(right: str) -> list[str]:
    """Every four digits in order, except the right ones (the attacker never gets lucky before the lock)."""
    return [f"{n:04d}" for n in range(10_000) if f"{n:04d}" != right]


async def attack(http: httpx.AsyncClient, account: DemoAccount, per_session: int) -> Attack:
    result = Attack()
    guesses = iter(candidates(account.last4))
    while result.sessions < MAX_SESSIONS and result.account_locked_after is None:
        created = await http.post("/api/v1/chat/sessions", json={"language": "en"})
        if created.status_code == 429:
            result.refused_sessions += 1
            break
        assert created.status_code == 201, created.text
        result.sessions += 1
        path = f"/api/v1/chat/sessions/{created.json()['session_id']}/messages"
        text = await say(http, path, payload=f"bind:{account.number}")
        sent = 0
        while ACCOUNT_LOCKED not in text and IDENTITY_LOCKED not in text and sent < per_session:
            text = await say(http, path, text=next(guesses))
            sent += 1
            result.guesses_sent += 1
        result.replies.append(text)
        if ACCOUNT_LOCKED in text:
            result.account_locked_after = result.guesses_sent
        elif IDENTITY_LOCKED in text:
            result.identity_locks += 1
    return result


async def say(http: httpx.AsyncClient, path: str, **body: str) -> str:
    response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    return "\n".join(str(reply["text"]) for reply in response.json()["replies"])


@pytest.mark.parametrize("per_session", [1, 99], ids=["one guess a session", "until the session is locked"])
async def test_guessing_from_many_sessions_locks_the_account_before_20_guesses(
    per_session: int, api: str, settings: Settings, sessionmaker: Maker
) -> None:
    account = await demo_account(sessionmaker)
    async with httpx.AsyncClient(base_url=api, timeout=10) as http:
        result = await asyncio.wait_for(attack(http, account, per_session), TIME_LIMIT)
        # after the lock, a fresh session with the right digits is refused without a check
        late = await http.post("/api/v1/chat/sessions", json={"language": "en"})
        if late.status_code == 201:
            path = f"/api/v1/chat/sessions/{late.json()['session_id']}/messages"
            assert ACCOUNT_LOCKED in await say(http, path, payload=f"bind:{account.number}")
            await say(http, path, text=account.last4)

    async with sessionmaker() as session:
        checked = int(
            await session.scalar(
                select(func.count()).select_from(BindingAttempt).where(BindingAttempt.account_number == account.number)
            )
            or 0
        )
        bound = await session.scalar(select(IdentityAccount).where(IdentityAccount.account_id == account.id))
    print(
        f"\nbinding brute force over the web chat: account locked after {result.account_locked_after} guesses "
        f"({checked} checked) from {result.sessions} sessions ({result.identity_locks} sessions locked on the way, "
        f"{result.refused_sessions} refused with 429); limit per account {settings.binding_account_max_failures}, "
        f"per session {settings.binding_max_failures}, per address {settings.binding_client_max_failures}"
    )
    assert result.account_locked_after is not None, "the account was never locked"
    assert result.account_locked_after == checked == settings.binding_account_max_failures == 10
    assert checked < 20
    assert bound is None
    assert "call 95598" in result.replies[-1]
