"""Conversation state the dialogue engine carries between messages, and where it is kept.

The engine sees one small interface, StateStore (load / save one identity's DialogueState), so it does not
care which channel it serves:

- Telegram keeps it in aiogram's FSM (bot/state.py adapts an FSMContext): MemoryStorage by default,
  RedisStorage when GRIDTALK_REDIS_URL is set.
- The web chat keeps it under "web:<identity id>" in a StateBackend: in the api's memory by default, in
  Redis when GRIDTALK_REDIS_URL is set (so api replicas share it).

Everything durable (bindings, lockouts, tickets, escalations, the transcript) is in the database; this state
is only the half-filled form, the fallback streak, whether the customer was told the NLU is down, and the
context of the last answer (its topic, period and place) that a short follow-up (那8月呢) continues. It
expires after GRIDTALK_CONVERSATION_IDLE_MINUTES without a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.clock import Clock

MAX_TOLD = 20  # outages remembered as told (a conversation rarely sees more than one or two)


@dataclass
class DialogueState:
    form: str | None = None  # "bind" | "fault" | "survey"
    step: str | None = None  # bind: account, phone; fault: description, place, hazard
    slots: dict[str, str] = field(default_factory=dict)
    pending_intent: str | None = None  # asked before binding: answered once the account is bound
    pending_text: str | None = None
    fallbacks: int = 0  # messages in a row the bot did not understand
    nlu_down_notified: bool = False
    asks: int = 0  # times in a row the open form asked the same question again
    asked: str | None = None  # which question that was
    detours: int = 0  # questions in a row answered while a form waited (the second one leaves the form)
    # the context of the last answer, for an elliptical follow-up: its intent, months ("YYYY-MM..YYYY-MM"),
    # and the district (area code) it was about
    topic: str | None = None
    period: str | None = None
    place: str | None = None
    outages_told: list[int] = field(default_factory=list)  # outages at the account already told, first thing
    updated_at: datetime | None = None

    def start_form(self, form: str, step: str, **slots: str) -> None:
        self.form, self.step, self.slots = form, step, dict(slots)
        self.asks, self.asked, self.detours = 0, None, 0

    def clear_form(self) -> None:
        self.form, self.step, self.slots = None, None, {}
        self.asks, self.asked, self.detours = 0, None, 0

    def told(self, outage_ids: list[int]) -> list[int]:
        """Remember these outages as told in this conversation; the ones not told before."""
        new = [i for i in dict.fromkeys(outage_ids) if i not in self.outages_told]
        self.outages_told = [*self.outages_told, *new][-MAX_TOLD:]
        return new

    @property
    def fsm_state(self) -> str | None:
        """ "Form:step" (aiogram's State naming), or None outside a form."""
        return f"{self.form.capitalize()}Form:{self.step}" if self.form and self.step else None

    def is_idle(self, now: datetime, idle_seconds: float) -> bool:
        return self.updated_at is not None and (now - self.updated_at).total_seconds() > idle_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "step": self.step,
            "slots": dict(self.slots),
            "pending_intent": self.pending_intent,
            "pending_text": self.pending_text,
            "fallbacks": self.fallbacks,
            "nlu_down_notified": self.nlu_down_notified,
            "asks": self.asks,
            "asked": self.asked,
            "detours": self.detours,
            "topic": self.topic,
            "period": self.period,
            "place": self.place,
            "outages_told": list(self.outages_told),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DialogueState:
        if not data:
            return cls()
        updated = data.get("updated_at")
        return cls(
            form=data.get("form"),
            step=data.get("step"),
            slots={str(k): str(v) for k, v in (data.get("slots") or {}).items()},
            pending_intent=data.get("pending_intent"),
            pending_text=data.get("pending_text"),
            fallbacks=int(data.get("fallbacks") or 0),
            nlu_down_notified=bool(data.get("nlu_down_notified")),
            asks=int(data.get("asks") or 0),
            asked=data.get("asked"),
            detours=int(data.get("detours") or 0),
            topic=data.get("topic"),
            period=data.get("period"),
            place=data.get("place"),
            outages_told=[int(i) for i in data.get("outages_told") or []],
            updated_at=datetime.fromisoformat(updated) if updated else None,
        )


class StateStore(Protocol):
    """One identity's DialogueState."""

    async def load(self) -> DialogueState: ...

    async def save(self, state: DialogueState) -> None: ...


class StateBackend(Protocol):
    """A key → JSON-able dict store with expiry."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStateBackend:
    """In the process's memory (one api process, or tests). Expired keys are dropped as new ones come."""

    SWEEP_EVERY = 256

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._data: dict[str, tuple[float, str]] = {}
        self._writes = 0

    async def get(self, key: str) -> dict[str, Any] | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, raw = item
        if expires <= self.clock.now().timestamp():
            del self._data[key]
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    async def set(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        now = self.clock.now().timestamp()
        self._data[key] = (now + ttl_seconds, json.dumps(value))
        self._writes += 1
        if self._writes % self.SWEEP_EVERY == 0:
            for stale in [k for k, (expires, _) in self._data.items() if expires <= now]:
                del self._data[stale]

    async def aclose(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class RedisStateBackend:
    """In Redis, shared by every api replica; Redis expires the keys."""

    def __init__(self, url: str, prefix: str = "gridtalk:dialogue:") -> None:
        from redis.asyncio import Redis

        self.prefix = prefix
        self._redis = Redis.from_url(url)

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self.prefix + key)
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    async def set(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        await self._redis.set(self.prefix + key, json.dumps(value), ex=ttl_seconds)

    async def aclose(self) -> None:
        await self._redis.aclose()


class KeyValueStateStore:
    """A StateStore over a StateBackend, for one key."""

    def __init__(self, backend: StateBackend, key: str, ttl_seconds: int) -> None:
        self.backend = backend
        self.key = key
        self.ttl_seconds = ttl_seconds

    async def load(self) -> DialogueState:
        return DialogueState.from_dict(await self.backend.get(self.key))

    async def save(self, state: DialogueState) -> None:
        await self.backend.set(self.key, state.to_dict(), self.ttl_seconds)
