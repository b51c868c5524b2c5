"""The worker side: the dispatcher reports every send result it records."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from core.clock import FrozenClock
from core.db import session_scope
from core.notices.dispatcher import Dispatcher
from core.notices.render import NoticeRenderer
from core.observability import Metrics
from core.templating import Renderer
from gridtalk.worker import build_channels
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import channel_settings, draft, load_demo_world, rows
from tests.support.services import core_services


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as server:
        yield server


async def test_the_dispatcher_counts_each_recorded_result(  # type: ignore[no-untyped-def]
    sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi
) -> None:
    await load_demo_world(sessionmaker, clock.now())
    settings = channel_settings(database_url, api, None)  # Telegram only: email rows wait in the outbox
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(
            session, draft(clock.now() + timedelta(days=3)), actor_id=None
        )
        await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
    metrics = Metrics()
    dispatcher = Dispatcher(
        sessionmaker,
        clock,
        settings,
        build_channels(settings),
        NoticeRenderer(Renderer(settings.timezone)),
        metrics=metrics,
    )
    try:
        handled = await dispatcher.run_once()
    finally:
        await dispatcher.aclose()

    recorded = Counter((d.stage, d.channel, d.status) for d in await rows(sessionmaker, outage.id) if d.attempts)
    assert handled > 0 and sum(recorded.values()) == handled
    assert {channel for _, channel, _ in recorded} == {"telegram"}
    for (stage, channel, status), count in recorded.items():
        labels = {"stage": str(stage), "channel": str(channel), "status": str(status)}
        assert metrics.registry.get_sample_value("gridtalk_deliveries_total", labels) == count
    text = metrics.render().decode()
    assert 'gridtalk_deliveries_total{channel="telegram",stage="initial",status="sent"}' in text
