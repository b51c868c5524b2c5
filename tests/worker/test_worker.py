"""The worker, one tick at a time with the clock moved (`gridtalk worker --once`), against a fake Bot API
server and a real SMTP server on loopback: every stage goes out on time, and an unanswered final
confirmation brings the account manager in."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.clock import FrozenClock
from core.db import session_scope
from core.demo import load_demo
from core.models import Outage
from gridtalk.worker import DatabaseWatch, run_jobs_once, run_worker
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import (
    WANG_CHAT,
    XH_CONTACT_CHATS,
    SmtpServer,
    channel_settings,
    draft,
    fake_channels,
    load_demo_world,
    notice_settings,
    rows,
    stages,
    xh_identities,
)
from tests.support.services import confirmations, core_services


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegramApi, SmtpServer]]:
    async with fake_channels() as pair:
        yield pair


async def test_each_stage_is_sent_on_time_and_an_unanswered_final_confirmation_is_chased(
    sessionmaker, clock: FrozenClock, database_url: str, fakes: tuple[FakeTelegramApi, SmtpServer]
) -> None:
    api, smtp = fakes
    settings = channel_settings(database_url, api, smtp)
    await load_demo_world(sessionmaker, clock.now())
    start = clock.now() + timedelta(days=16)
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(session, draft(start), actor_id=None)
        await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
    outage_id = outage.id

    ticks = await run_worker(settings, once=True, clock=clock)
    assert ticks == {
        "plan_notices": 0,
        "start_stages": 0,
        "chase_confirms": 0,
        "chase_escalations": 0,
        "offer_surveys": 0,
        "bill_reminders": 0,
        "send_notices": 0,
    }
    assert api.sent() == [] and smtp.messages == []

    plan = {(s.stage, s.audience): s for s in await stages(sessionmaker, outage_id)}
    sent_before = 0
    for stage, title in (("15d", "计划停电通知"), ("7d", "计划停电提醒"), ("30m", "停电最后确认")):
        due = plan[(stage, "key_account")].due_at
        clock.set(plan[(stage, "key_account")].send_from)  # the stage's fan-out start, ahead of its due time
        ticks = await run_worker(settings, once=True, clock=clock)
        assert ticks is not None and ticks["start_stages"] == 2
        delivered = await rows(sessionmaker, outage_id, stage=stage)
        assert {d.status for d in delivered} == {"sent"}
        assert all(d.sent_at is not None and d.sent_at <= due for d in delivered)  # on time
        calls = api.sent()[sent_before:]
        sent_before = len(api.sent())
        assert {c.chat_id for c in calls[: len(XH_CONTACT_CHATS)]} == XH_CONTACT_CHATS  # key accounts first
        assert len(calls) == len([d for d in delivered if d.channel == "telegram"])
        assert any(title in c.text for c in calls)
        mails = [m for m in smtp.messages if title in str(m["Subject"])]
        assert sorted(str(m["To"]) for m in mails) == ["feng.tao@example.com", "zheng.guohua@example.com"]
        if stage != "30m":  # the next stage has not started
            assert {d.status for d in await rows(sessionmaker, outage_id, stage="30m")} == {"pending"}

    finals = [c for c in api.sent() if c.buttons]
    assert finals and all(b["callback_data"].startswith("notice:") for c in finals for b in c.buttons)
    async with sessionmaker() as session:  # a resident presses Confirm; the key account answers nothing
        resident = (await xh_identities(session))[0]
    [mine] = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.identity_id == resident.id]
    clock.advance(timedelta(minutes=2))
    async with session_scope(sessionmaker) as session:
        await confirmations(clock).acknowledge(session, mine.id, identity_id=resident.id)
    [mine] = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.identity_id == resident.id]
    assert (mine.status, mine.acked_at) == ("acked", clock.now())

    clock.set(plan[("30m", "key_account")].send_from + timedelta(minutes=9))
    assert (await run_worker(settings, once=True, clock=clock) or {})["chase_confirms"] == 0
    clock.advance(timedelta(minutes=1, seconds=1))
    ticks = await run_worker(settings, once=True, clock=clock)
    assert ticks is not None and ticks["chase_confirms"] == 1 and ticks["send_notices"] == 2
    [alert] = [c for c in api.sent() if c.chat_id == WANG_CHAT]
    assert "城西自来水厂" in alert.text
    assert smtp.to("manager.wang@example.com")
    key_finals = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.segment == "key_account"]
    assert all(d.unconfirmed_alerted_at == clock.now() for d in key_finals)

    calls = len(api.calls)
    assert await run_worker(settings, once=True, clock=clock) == {
        "plan_notices": 0,
        "start_stages": 0,
        "chase_confirms": 0,
        "chase_escalations": 0,
        "offer_surveys": 0,
        "bill_reminders": 0,
        "send_notices": 0,
    }
    assert len(api.calls) == calls  # a tick run twice changes nothing


async def test_demo_outages_are_planned_and_the_near_one_is_told_at_once(
    sessionmaker, clock: FrozenClock, database_url: str, fakes: tuple[FakeTelegramApi, SmtpServer]
) -> None:
    api, smtp = fakes
    settings = channel_settings(database_url, api, smtp)
    async with session_scope(sessionmaker) as session:
        await load_demo(session, clock.now())
    ticks = await run_worker(settings, once=True, clock=clock)
    assert ticks is not None and ticks["plan_notices"] == 2
    assert ticks["send_notices"] > 0  # the GS-F01 outage in 3 days: an initial notice now
    async with sessionmaker() as session:
        from sqlalchemy import select

        near = await session.scalar(select(Outage).where(Outage.kind == "planned").order_by(Outage.starts_at))
        assert near is not None
    initial = await rows(sessionmaker, near.id, stage="initial")
    assert initial and {d.status for d in initial} == {"sent"}
    assert any("华东精密机械厂" in c.text for c in api.sent())  # the factory on GS-F01, a key account


async def test_without_a_telegram_token_telegram_notices_wait_and_email_goes(
    sessionmaker,
    clock: FrozenClock,
    database_url: str,
    fakes: tuple[FakeTelegramApi, SmtpServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, smtp = fakes
    settings = notice_settings(
        database_url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", smtp_from="n@grid.test"
    )
    await load_demo_world(sessionmaker, clock.now())
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(
            session, draft(clock.now() + timedelta(days=3)), actor_id=None
        )
        await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
    with caplog.at_level(logging.WARNING):
        await run_worker(settings, once=True, clock=clock)
    initial = await rows(sessionmaker, outage.id, stage="initial")
    assert {d.status for d in initial if d.channel == "telegram"} == {"pending"}  # waiting, visible in the API
    assert {d.status for d in initial if d.channel == "email"} == {"sent"}  # contacts: email (no Telegram here)
    assert len(smtp.messages) == 2 and api.calls == []
    assert "GRIDTALK_TELEGRAM_TOKEN is not set" in caplog.text

    async with session_scope(sessionmaker) as session:  # once a token is set, they go out
        await session.execute(update(Outage).where(Outage.id == outage.id).values(reason="10kV线路检修"))
    await run_worker(channel_settings(database_url, api, None), once=True, clock=clock)
    initial = await rows(sessionmaker, outage.id, stage="initial")
    assert {d.status for d in initial} == {"sent"}


async def test_a_database_outage_is_logged_once_not_by_every_job_on_every_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = True

    async def job() -> int:
        if down:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return 1

    async def broken() -> int:
        raise ValueError("a bug, not the database")

    watch = DatabaseWatch()
    caplog.set_level(logging.WARNING, logger="gridtalk.worker")
    for _ in range(5):
        assert await run_jobs_once({"plan": job, "send": job}, watch) == {"plan": -1, "send": -1}
    down = False
    assert await run_jobs_once({"plan": job, "send": job}, watch) == {"plan": 1, "send": 1}
    await run_jobs_once({"plan": job, "oops": broken}, watch)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("database unreachable" in m for m in messages) == 1
    assert sum("database reachable again" in m for m in messages) == 1
    assert any("worker job oops failed" in m for m in messages)  # other errors keep their traceback
