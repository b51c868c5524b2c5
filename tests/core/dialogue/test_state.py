"""Where conversation state is kept: the memory backend, and Redis when there is one."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

from core.clock import FrozenClock
from core.dialogue.state import DialogueState, KeyValueStateStore, MemoryStateBackend, RedisStateBackend
from tests.conftest import unavailable

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_state_round_trips_through_json() -> None:
    state = DialogueState(fallbacks=1, nlu_down_notified=True, updated_at=T0, pending_intent="bill_amount")
    state.start_form("bind", "phone", account_number="3301234567")
    again = DialogueState.from_dict(state.to_dict())
    assert again == state
    assert again.fsm_state == "BindForm:phone"
    assert DialogueState.from_dict(None) == DialogueState()
    assert again.is_idle(T0 + timedelta(minutes=31), 30 * 60) and not again.is_idle(T0 + timedelta(minutes=29), 1800)


async def test_memory_backend_expires_keys() -> None:
    clock = FrozenClock(T0)
    backend = MemoryStateBackend(clock)
    store = KeyValueStateStore(backend, "web:1", ttl_seconds=60)
    await store.save(DialogueState(fallbacks=1))
    assert (await store.load()).fallbacks == 1
    clock.advance(timedelta(seconds=61))
    assert await store.load() == DialogueState()
    assert len(backend) == 0


async def test_redis_backend() -> None:
    url = os.environ.get("GRIDTALK_TEST_REDIS_URL")
    if not url:
        unavailable("GRIDTALK_TEST_REDIS_URL is not set")
    assert url is not None
    backend = RedisStateBackend(url, prefix=f"gridtalk-test:{uuid.uuid4().hex}:")
    try:
        store = KeyValueStateStore(backend, "web:7", ttl_seconds=60)
        state = DialogueState(fallbacks=1, updated_at=T0)
        state.start_form("fault", "place", description="总闸跳了")
        await store.save(state)
        assert await KeyValueStateStore(backend, "web:7", 60).load() == state
        assert await KeyValueStateStore(backend, "web:8", 60).load() == DialogueState()
        ttl = await backend._redis.ttl(backend.prefix + "web:7")
        assert 0 < ttl <= 60
        await backend._redis.delete(backend.prefix + "web:7")
    finally:
        await backend.aclose()
