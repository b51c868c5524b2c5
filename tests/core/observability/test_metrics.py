"""core.observability: the Metrics registry (counters, the NLU wrapper, the gauges read from a real database,
two instances side by side) and the worker's /metrics endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy import select, update

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import Escalation, NoticeDelivery
from core.observability import InstrumentedNlu, Metrics, serve_metrics
from core.observability.metrics import CONTENT_TYPE, MAX_INTENT_LABELS
from core.ports import NluUnavailable
from gridtalk.worker import run_worker
from nlu.project import free_port
from tests.fakes.nlu import FakeNlu
from tests.support.notices import draft, load_demo_world, notice_settings
from tests.support.services import core_services


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def names(text: bytes) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(text.decode()) for sample in family.samples}


# --- counters ------------------------------------------------------------------------------------


def test_turns_count_by_channel_and_intent_and_by_source() -> None:
    metrics = Metrics()
    metrics.turn("web", "greet", "nlu")
    metrics.turn("web", "greet", "nlu")
    metrics.turn("telegram", "bill_amount", "button")
    metrics.turn("web", None, "keywords")

    assert value(metrics, "gridtalk_chat_turns_total", channel="web", intent="greet") == 2
    assert value(metrics, "gridtalk_chat_turns_total", channel="telegram", intent="bill_amount") == 1
    assert value(metrics, "gridtalk_chat_turns_total", channel="web", intent="none") == 1
    assert value(metrics, "gridtalk_chat_turn_sources_total", source="nlu") == 2
    assert value(metrics, "gridtalk_chat_turn_sources_total", source="keywords") == 1


def test_intent_labels_from_customers_are_bounded() -> None:
    """A button payload names any intent a client likes: odd names and the flood beyond the cap are "other"."""
    metrics = Metrics()
    metrics.turn("web", 'x"} 1\nevil{', "button")
    metrics.turn("web", "Bill Amount", "button")
    for n in range(MAX_INTENT_LABELS + 20):
        metrics.turn("web", f"made_up_{n}", "button")
    intents = {
        s.labels["intent"]
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == "gridtalk_chat_turns_total"
    }
    assert len(intents) == MAX_INTENT_LABELS + 1  # the first MAX_INTENT_LABELS, and "other"
    assert value(metrics, "gridtalk_chat_turns_total", channel="web", intent="other") == 22


def test_nlu_parses_fallbacks_and_deliveries() -> None:
    metrics = Metrics()
    metrics.nlu_parse(0.02, "greet")
    metrics.nlu_parse(0.3, "nlu_fallback")
    metrics.nlu_unavailable()
    metrics.delivery("15d", "telegram", "sent")
    metrics.delivery("15d", "telegram", "sent")
    metrics.delivery("30m", "email", "pending")

    assert value(metrics, "gridtalk_nlu_parse_seconds_count") == 2
    assert value(metrics, "gridtalk_nlu_parse_seconds_sum") == pytest.approx(0.32)
    assert value(metrics, "gridtalk_nlu_parse_seconds_bucket", le="0.025") == 1
    assert value(metrics, "gridtalk_nlu_fallbacks_total") == 1
    assert value(metrics, "gridtalk_nlu_unavailable_total") == 1
    assert value(metrics, "gridtalk_deliveries_total", stage="15d", channel="telegram", status="sent") == 2
    assert value(metrics, "gridtalk_deliveries_total", stage="30m", channel="email", status="pending") == 1


def test_two_instances_do_not_clash() -> None:
    first, second = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    first.turn("web", "greet", "nlu")
    first.delivery("7d", "sms", "failed")
    assert value(first, "gridtalk_chat_turns_total", channel="web", intent="greet") == 1
    assert value(second, "gridtalk_chat_turns_total", channel="web", intent="greet") is None
    assert value(second, "gridtalk_deliveries_total", stage="7d", channel="sms", status="failed") is None


def test_render_is_the_text_exposition() -> None:
    metrics = Metrics()
    metrics.turn("web", "greet", "nlu")
    text = metrics.render()
    assert b'gridtalk_chat_turns_total{channel="web",intent="greet"} 1.0' in text
    assert b"# TYPE gridtalk_nlu_parse_seconds histogram" in text
    assert b"gridtalk_outbox_lag_seconds 0.0" in text
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


# --- the NLU wrapper -----------------------------------------------------------------------------


async def test_instrumented_nlu_times_parses_and_counts_fallbacks_and_outages() -> None:
    metrics = Metrics()
    fake = FakeNlu({"你好": "greet"})
    ticks = iter([10.0, 10.25, 20.0, 20.5, 30.0])
    nlu = InstrumentedNlu(fake, metrics, monotonic=lambda: next(ticks))

    assert (await nlu.parse("你好")).intent == "greet"
    assert (await nlu.parse("嗯？")).intent == "nlu_fallback"
    assert value(metrics, "gridtalk_nlu_parse_seconds_count") == 2
    assert value(metrics, "gridtalk_nlu_parse_seconds_sum") == pytest.approx(0.75)
    assert value(metrics, "gridtalk_nlu_fallbacks_total") == 1
    assert await nlu.ready()

    fake.up = False
    with pytest.raises(NluUnavailable):
        await nlu.parse("你好")
    assert value(metrics, "gridtalk_nlu_unavailable_total") == 1
    assert value(metrics, "gridtalk_nlu_parse_seconds_count") == 2  # a failed parse is not timed
    assert not await nlu.ready()
    await nlu.aclose()  # FakeNlu has nothing to close


async def test_instrumented_nlu_closes_the_wrapped_client() -> None:
    class Closable(FakeNlu):
        closed = False

        async def aclose(self) -> None:
            self.closed = True

    inner = Closable()
    await InstrumentedNlu(inner, Metrics()).aclose()
    assert inner.closed


# --- gauges from the database --------------------------------------------------------------------


async def test_gauges_on_an_empty_database(session, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    metrics = Metrics()
    await metrics.refresh(session, clock.now())
    assert value(metrics, "gridtalk_outbox_lag_seconds") == 0
    assert value(metrics, "gridtalk_escalations_waiting", state="pending") == 0
    assert value(metrics, "gridtalk_escalations_waiting", state="assigned") == 0
    assert "gridtalk_outbox_deliveries" not in names(metrics.render())


async def test_gauges_count_the_outbox_its_lag_and_waiting_escalations(  # type: ignore[no-untyped-def]
    sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    now = clock.now()
    settings = notice_settings(database_url)
    await load_demo_world(sessionmaker, now)
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(
            session, draft(now + timedelta(days=3)), actor_id=None
        )
        await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
    async with session_scope(sessionmaker) as session:
        ids = list(await session.scalars(select(NoticeDelivery.id).order_by(NoticeDelivery.id)))
        assert len(ids) >= 5
        await session.execute(update(NoticeDelivery).values(status="pending", next_attempt_at=None))
        for ident, status, at in [
            (ids[0], "pending", now - timedelta(seconds=90)),  # the oldest due: the lag
            (ids[1], "pending", now - timedelta(seconds=30)),
            (ids[2], "pending", now + timedelta(minutes=5)),  # not due yet
            (ids[3], "failed", now - timedelta(hours=2)),  # not pending
            (ids[4], "sent", None),
        ]:
            await session.execute(
                update(NoticeDelivery).where(NoticeDelivery.id == ident).values(status=status, next_attempt_at=at)
            )
        for state in ["pending", "pending", "assigned", "resolved"]:
            session.add(Escalation(reason="human_handoff", state=state, created_at=now))
    async with sessionmaker() as session:
        rows = list(await session.execute(select(NoticeDelivery.stage, NoticeDelivery.channel, NoticeDelivery.status)))
    expected = Counter((str(stage), str(channel), str(status)) for stage, channel, status in rows)

    metrics = Metrics()
    async with sessionmaker() as session:
        await metrics.refresh(session, now)

    assert value(metrics, "gridtalk_outbox_lag_seconds") == 90
    assert value(metrics, "gridtalk_escalations_waiting", state="pending") == 2
    assert value(metrics, "gridtalk_escalations_waiting", state="assigned") == 1
    assert value(metrics, "gridtalk_escalations_waiting", state="resolved") is None
    for (stage, channel, status), count in expected.items():
        assert value(metrics, "gridtalk_outbox_deliveries", stage=stage, channel=channel, status=status) == count
    assert sum(expected.values()) == len(ids)

    # a combination with no rows left disappears; nothing due: no lag
    async with session_scope(sessionmaker) as session:
        await session.execute(update(NoticeDelivery).values(status="cancelled", next_attempt_at=None))
    async with sessionmaker() as session:
        await metrics.refresh(session, now)
    statuses = {
        s.labels["status"]
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == "gridtalk_outbox_deliveries"
    }
    assert statuses == {"cancelled"}
    assert value(metrics, "gridtalk_outbox_lag_seconds") == 0


# --- the worker's endpoint -----------------------------------------------------------------------


async def test_serve_metrics_answers_scrapes_and_stops(sessionmaker, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    metrics = Metrics()
    metrics.delivery("initial", "telegram", "sent")
    async with serve_metrics(metrics, sessionmaker, clock, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"] == CONTENT_TYPE
            assert 'gridtalk_deliveries_total{channel="telegram",stage="initial",status="sent"} 1.0' in response.text
            assert 'gridtalk_escalations_waiting{state="pending"} 0.0' in response.text  # refreshed at scrape
            assert (await http.get("/")).status_code == 404
            assert (await http.post("/metrics")).status_code == 405
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


async def test_the_worker_serves_metrics_while_it_runs(  # type: ignore[no-untyped-def]
    sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    port = free_port()
    settings = notice_settings(database_url, worker_metrics_port=port)
    worker = asyncio.create_task(run_worker(settings, clock=clock, interval=0.05))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                with contextlib.suppress(httpx.ConnectError):
                    response = await http.get("/metrics")
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the worker did not serve /metrics")
        assert response.status_code == 200
        assert "gridtalk_outbox_lag_seconds 0.0" in response.text
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


async def test_a_taken_metrics_port_does_not_stop_the_worker(  # type: ignore[no-untyped-def]
    sessionmaker, clock: FrozenClock, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = notice_settings(database_url, worker_metrics_port=taken.getsockname()[1])
        worker = asyncio.create_task(run_worker(settings, clock=clock, interval=0.05))
        await asyncio.sleep(0.5)
        assert not worker.done()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert "cannot serve /metrics" in caplog.text


def test_the_worker_metrics_port_setting() -> None:
    assert Settings(env="test").worker_metrics_port == 9108
    assert Settings(env="test", worker_metrics_port=0).worker_metrics_port == 0  # off
    with pytest.raises(ValidationError):
        Settings(env="test", worker_metrics_port=70000)
