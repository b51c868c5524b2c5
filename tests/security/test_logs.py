"""Personal data in logs: every record of a web chat conversation and of a notice fan-out is masked (phone and
account numbers, chat session ids in paths), and customer text is logged at DEBUG only. And the masks."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.logs import (
    QUIET_LOGGERS,
    MaskingFilter,
    install_masking,
    mask_record,
    mask_text,
    quiet_libraries,
    uvicorn_log_config,
)
from core.models import KeyAccountContact, UtilityAccount
from core.security import mask_account, mask_customer_text, mask_digits, mask_phone
from gridtalk.worker import run_worker
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.dialogue import PHRASES, demo_account, demo_nlu, load_demo_data
from tests.support.notices import SmtpServer, channel_settings, draft, fake_channels, load_demo_world
from tests.support.services import core_services

Maker = async_sessionmaker[AsyncSession]

PHONE_FORMATS = [
    ("13812345678", "138********"),
    ("138 1234 5678", "138********"),
    ("138-1234-5678", "138********"),
    ("138.1234.5678", "138********"),
    ("+86 138 1234 5678", "+86 138********"),
    ("+86-138-1234-5678", "+86-138********"),
    ("+8613812345678", "+86138********"),
    ("008613812345678", "0086138********"),
    ("(+86) 13812345678", "(+86) 138********"),
    ("86 13812345678", "86 138********"),
    ("0571-88123456", "057*********"),
]


@pytest.fixture
def masking() -> Iterator[None]:
    """The mask as every gridtalk process installs it (core.logs.configure_logging), for this test only."""
    factory = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    install_masking()
    quiet_libraries()
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize(("raw", "masked"), PHONE_FORMATS)
def test_a_phone_in_any_format_shows_only_its_first_three_digits(raw: str, masked: str) -> None:
    line = f"call me on {raw}, thanks"
    assert mask_digits(line) == f"call me on {masked}, thanks"
    assert mask_text(line) == f"call me on {masked}, thanks"
    assert "5678" not in mask_digits(line) and "3456" not in mask_digits(line)


def test_the_log_mask_and_the_staff_masks_agree() -> None:
    assert mask_phone("13812345678") == mask_digits("13812345678") == "138********"
    assert mask_phone("+86 138 1234 5678") == "138********"
    assert mask_account("3301234567") == mask_digits("3301234567") == "33******67"
    assert mask_digits("account 3301234567 and phone 13812345678") == "account 33******67 and phone 138********"
    assert mask_digits("12345678901234") == "123***********"  # any other long number like a phone


def test_what_is_not_personal_is_left_alone() -> None:
    for line in ("2026-11-30 14:01:43,123 INFO x", "amount ¥123.45", "id=123456789", "outage 42 stage 15d"):
        assert mask_digits(line) == line
    assert mask_digits(mask_digits("13812345678 3301234567")) == "138******** 33******67"  # idempotent


def test_customer_text_at_debug_hides_every_run_of_four_digits() -> None:
    assert mask_customer_text("5678") == "****"
    assert mask_customer_text("尾号 5678，户号3301234567") == "尾号 ****，户号33******67"


def test_chat_session_ids_in_paths_are_redacted() -> None:
    line = "POST /api/v1/chat/sessions/0f1e2d3c4b5a69788796a5b4c3d2e1f0/messages?after=12 HTTP/1.1"
    assert mask_text(line) == "POST /api/v1/chat/sessions/***/messages?after=12 HTTP/1.1"


def test_uvicorn_access_lines_are_masked() -> None:
    config = uvicorn_log_config("INFO")
    assert all(h.get("filters") == ["mask"] for h in config["handlers"].values())
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/chat/sessions/abcdef0123/messages?phone=13812345678", "1.1", 200),
        None,
    )
    assert MaskingFilter().filter(record)
    line = AccessFormatter(fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '127.0.0.1:5000 - "GET /api/v1/chat/sessions/***/messages?phone=138******** HTTP/1.1" 200 OK'


def test_numbers_in_arguments_and_tracebacks_are_masked(masking: None, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("gridtalk.test")
    with caplog.at_level(logging.INFO):
        log.info("account %s phone %d", "3301234567", 13812345678)
        try:
            raise ValueError("bad phone 138-1234-5678")
        except ValueError:
            log.exception("failed for %s", {"account": "3301234567"})
    text = caplog.text
    assert "33******67" in text and "138********" in text
    assert "3301234567" not in text and "5678" not in text
    record = mask_record(logging.LogRecord("x", logging.INFO, "f", 1, "%s", ("13812345678",), None))
    assert record.getMessage() == "138********"


# --- whole flows: nothing personal in any record -------------------------------------------------------------

LEAK = re.compile(r"(?<!\d)(?:1[3-9]\d[\s.-]?\d{4}[\s.-]?\d{4}|\d{10,})(?!\d)")


def leaks(records: list[logging.LogRecord], secrets: set[str]) -> list[str]:
    """Lines that hold an unmasked phone or account number, or one of the given strings."""
    found = []
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        line = formatter.format(record)
        if LEAK.search(line) or any(re.search(rf"(?<![0-9a-f]){re.escape(s)}(?![0-9a-f])", line) for s in secrets):
            found.append(line)
    return found


@pytest.fixture
async def http(
    settings: Settings, clock: FrozenClock, sessionmaker: Maker, masking: None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, clock=clock, nlu=demo_nlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def test_a_web_chat_conversation_logs_nothing_personal(
    http: httpx.AsyncClient, sessionmaker: Maker, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker, feeder="BJ-F01")
    async with sessionmaker() as session:
        phone = (await session.get(UtilityAccount, account.id)).phone  # type: ignore[union-attr]
    access = logging.getLogger("uvicorn.access")
    said = [
        PHRASES["zh"]["bill_amount"],
        account.number,
        account.last4,
        PHRASES["zh"]["bill_amount"],
        f"我的电话是 {phone[:3]} {phone[3:7]} {phone[7:]}",
    ]
    with caplog.at_level(logging.DEBUG):
        session_id = (await http.post("/api/v1/chat/sessions", json={"language": "zh"})).json()["session_id"]
        for text in said:
            path = f"/api/v1/chat/sessions/{session_id}/messages"
            response = await http.post(path, json={"text": text})
            assert response.status_code == 200, response.text
            # the line uvicorn writes for this request (ASGITransport has no server to write it)
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", path, "1.1", response.status_code)
        assert "¥" in str(response.json()) or response.status_code == 200
    records = caplog.records
    assert any(r.name == "gridtalk.dialogue" for r in records)  # the turns were logged
    assert any(r.name == "uvicorn.access" for r in records)
    assert leaks(records, {phone, phone[-4:], account.number}) == []
    assert leaks([r for r in records if r.levelno >= logging.INFO], {session_id}) == []
    customer_words = {PHRASES["zh"]["bill_amount"], "我的电话是"}
    at_info = [r.getMessage() for r in records if r.levelno >= logging.INFO]
    assert not [m for m in at_info if any(w in m for w in customer_words)]
    assert any(PHRASES["zh"]["bill_amount"] in r.getMessage() for r in records if r.levelno == logging.DEBUG)


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegramApi, SmtpServer]]:
    async with fake_channels() as pair:
        yield pair


async def test_a_notice_fan_out_logs_nothing_personal(
    sessionmaker: Maker,
    clock: FrozenClock,
    database_url: str,
    fakes: tuple[FakeTelegramApi, SmtpServer],
    masking: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, smtp = fakes
    settings = channel_settings(database_url, api, smtp)
    await load_demo_world(sessionmaker, clock.now())
    with caplog.at_level(logging.DEBUG):
        async with session_scope(sessionmaker) as session:
            services = core_services(clock, settings)
            outage = await services.outages.create(session, draft(clock.now() + timedelta(hours=3)), actor_id=None)
            await services.outages.publish(session, outage.id, actor_id=None)
        for _ in range(3):
            await run_worker(settings, once=True, clock=clock)
            clock.advance(timedelta(minutes=1))
    assert api.sent() or smtp.messages  # notices went out
    async with sessionmaker() as session:
        numbers = set(await session.scalars(select(UtilityAccount.account_number)))
        phones = set(await session.scalars(select(UtilityAccount.phone)))
        phones |= {p for p in await session.scalars(select(KeyAccountContact.phone)) if p}
    records = caplog.records
    assert records
    assert leaks(records, numbers | phones) == []
