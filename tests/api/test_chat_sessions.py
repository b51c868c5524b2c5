from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings, SettingsError, load_settings
from core.models import BindingAttempt, Conversation, Identity
from tests.fakes.nlu import FakeNlu
from tests.support.dialogue import PHRASES, demo_account, demo_nlu, load_demo_data


def wrong(last4: str) -> str:
    return f"{(int(last4) + 1) % 10_000:04d}"


async def test_create_session_stores_a_web_identity_and_conversation(settings: Settings, session) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await http.post("/api/v1/chat/sessions", json={"language": "en"})
        default = await http.post("/api/v1/chat/sessions")
    assert response.status_code == 201
    session_id = response.json()["session_id"]
    identity = await session.scalar(select(Identity).where(Identity.external_id == session_id))
    assert identity is not None
    assert (identity.channel, identity.language) == ("web", "en")
    assert await session.scalar(select(Conversation).where(Conversation.identity_id == identity.id)) is not None
    assert default.status_code == 201
    assert default.json()["session_id"] != session_id


async def test_unknown_language_is_422_naming_the_field(settings: Settings, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await http.post("/api/v1/chat/sessions", json={"language": "fr"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "language"]


# ------------------------------------------ starting sessions is limited per address; binding counts per address


Maker = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def web_chat(settings: Settings, clock: FrozenClock, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=overrides), clock=clock, nlu=demo_nlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http  # the peer is 127.0.0.1


async def say(http: httpx.AsyncClient, session_id: str, **body: str) -> str:
    response = await http.post(f"/api/v1/chat/sessions/{session_id}/messages", json=body)
    assert response.status_code == 200, response.text
    return "\n".join(str(reply["text"]) for reply in response.json()["replies"])


async def new_session(http: httpx.AsyncClient, language: str = "zh", **headers: str) -> str:
    response = await http.post("/api/v1/chat/sessions", json={"language": language}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


async def test_sessions_past_the_limit_answer_429_with_retry_after_until_the_window_ends(
    settings: Settings, clock: FrozenClock, sessionmaker: Maker
) -> None:
    clock.set(datetime(2026, 11, 23, 9, 30, 0, tzinfo=UTC))  # 100 s into a 600 s window (epoch-aligned)
    async with web_chat(settings, clock, chat_session_rate_limit=3, chat_session_rate_window=600) as http:
        for _ in range(3):
            await new_session(http)
        refused = await http.post("/api/v1/chat/sessions", json={"language": "en"})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(600 - int(clock.now().timestamp()) % 600)
        assert "session_id" not in refused.json()
        spoofed = await http.post("/api/v1/chat/sessions", headers={"X-Forwarded-For": "198.51.100.5"})
        assert spoofed.status_code == 429  # no trusted proxy: the header is not believed
        clock.advance(timedelta(seconds=int(refused.headers["retry-after"])))
        await new_session(http)
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(Identity)))) == 4  # a refused one makes nothing


async def test_behind_the_trusted_proxy_each_forwarded_address_has_its_own_count(
    settings: Settings, clock: FrozenClock
) -> None:
    async with web_chat(settings, clock, chat_session_rate_limit=1, trusted_proxy="127.0.0.0/8, ::1") as http:
        await new_session(http, **{"X-Forwarded-For": "198.51.100.5"})
        await new_session(http, **{"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})  # the proxy's own hop is skipped
        again = await http.post("/api/v1/chat/sessions", headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.5"})
        assert again.status_code == 429  # the client's own claim (left of the proxy's entry) is not believed
        await new_session(http)  # the proxy itself, without the header


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="GRIDTALK_TRUSTED_PROXY"):
        load_settings(trusted_proxy="proxy.internal")


async def test_binding_attempts_from_the_web_chat_keep_the_client_address(
    settings: Settings, clock: FrozenClock, sessionmaker: Maker
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker)
    async with web_chat(settings, clock, trusted_proxy="127.0.0.1") as http:
        session_id = await new_session(http)
        await say(http, session_id, payload=f"bind:{account.number}")
        response = await http.post(
            f"/api/v1/chat/sessions/{session_id}/messages",
            json={"text": wrong(account.last4)},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert response.status_code == 200
    async with sessionmaker() as session:
        [attempt] = list(await session.scalars(select(BindingAttempt)))
    assert (attempt.account_number, attempt.succeeded, attempt.client) == (account.number, False, "203.0.113.9")


@pytest.mark.parametrize(
    ("language", "told"),
    [
        ("zh", ["暂时不能在线绑定", "请拨打 95598", "核实身份"]),
        ("en", ["cannot be linked", "call 95598", "verify you"]),
    ],
)
async def test_a_locked_account_sends_new_sessions_to_the_hotline_and_bound_ones_keep_working(
    language: str, told: list[str], settings: Settings, clock: FrozenClock, sessionmaker: Maker
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker)
    async with web_chat(settings, clock, chat_session_rate_limit=100, binding_client_max_failures=100) as http:
        owner = await new_session(http, language)
        await say(http, owner, payload=f"bind:{account.number}")
        assert account.address in await say(http, owner, text=account.last4)

        for _ in range(settings.binding_account_max_failures):  # one guess per new session
            guesser = await new_session(http, language)
            await say(http, guesser, payload=f"bind:{account.number}")
            last = await say(http, guesser, text=wrong(account.last4))
        assert all(part in last for part in told)

        newcomer = await new_session(http, language)
        text = await say(http, newcomer, payload=f"bind:{account.number}")  # told at once, before any digits
        assert all(part in text for part in told)

        text = await say(http, owner, payload="accounts")  # the owner's chat keeps the account
        assert account.number in text
        text = await say(http, owner, payload=f"bind:{account.number}")
        assert all(part not in text for part in told)
        text = await say(http, owner, text=PHRASES[language]["bill_amount"])
        assert account.number in text or account.address in text
    async with sessionmaker() as session:
        failures = list(await session.scalars(select(BindingAttempt).where(BindingAttempt.succeeded.is_(False))))
    assert len(failures) == settings.binding_account_max_failures
