"""The process's Prometheus metrics, in a registry of its own.

One `Metrics` per process, made by the composition root (the api lifespan, the worker start) and handed to
the services that record into it; several instances (tests, `gridtalk run`) never share a series.

Recorded as things happen:
  gridtalk_chat_turns_total{channel,intent}       one per customer message answered (ConversationService)
  gridtalk_chat_turn_sources_total{source}        how the intent was found: nlu, keywords (NLU down), button
  gridtalk_nlu_parse_seconds                      time of each NLU parse that answered (InstrumentedNlu)
  gridtalk_nlu_fallbacks_total                    parses that came back nlu_fallback
  gridtalk_nlu_unavailable_total                  parses that raised NluUnavailable
  gridtalk_deliveries_total{stage,channel,status} each send result the dispatcher recorded (worker)
Read from the database at scrape time (`refresh`):
  gridtalk_outbox_deliveries{stage,channel,status}  outbox rows
  gridtalk_outbox_lag_seconds                       now − the oldest next_attempt_at of the pending rows due now
  gridtalk_escalations_waiting{state}               escalations pending or assigned

Label values that come from customers (an intent named by a pressed button) are bounded: anything that is
not a plain intent name, and any intent beyond the first MAX_INTENT_LABELS distinct ones, counts as "other".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from core.observability.repository import MetricsRepository, OutboxSnapshot
from core.ports import FALLBACK_INTENT, NluClient, NluResult, NluUnavailable

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # text/plain; version=0.0.4; charset=utf-8
NLU_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
MAX_INTENT_LABELS = 100
OTHER = "other"
NONE = "none"
_LABEL = re.compile(r"[a-z0-9][a-z0-9_]{0,47}")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._turns = Counter(
            "gridtalk_chat_turns",
            "Customer messages answered, by channel and intent",
            ["channel", "intent"],
            registry=r,
        )
        self._turn_sources = Counter(
            "gridtalk_chat_turn_sources",
            "Customer messages by how the intent was found (nlu, keywords, button)",
            ["source"],
            registry=r,
        )
        self._nlu_seconds = Histogram(
            "gridtalk_nlu_parse_seconds",
            "Seconds one NLU parse took (parses that answered)",
            buckets=NLU_BUCKETS,
            registry=r,
        )
        self._nlu_fallbacks = Counter("gridtalk_nlu_fallbacks", "NLU parses that came back nlu_fallback", registry=r)
        self._nlu_unavailable = Counter(
            "gridtalk_nlu_unavailable", "NLU parses that failed: server down, timing out or breaker open", registry=r
        )
        self._deliveries = Counter(
            "gridtalk_deliveries",
            "Notice send results recorded by the dispatcher",
            ["stage", "channel", "status"],
            registry=r,
        )
        self._outbox = Gauge(
            "gridtalk_outbox_deliveries",
            "Outbox rows by stage, channel and status",
            ["stage", "channel", "status"],
            registry=r,
        )
        self._outbox_lag = Gauge(
            "gridtalk_outbox_lag_seconds",
            "Seconds the longest-waiting due pending delivery has waited to be claimed (0 when none is due)",
            registry=r,
        )
        self._escalations = Gauge(
            "gridtalk_escalations_waiting", "Escalations waiting for a person, by state", ["state"], registry=r
        )
        self._intents: set[str] = set()

    # ------------------------------------------------------------------------------ as things happen

    def turn(self, channel: str, intent: str | None, source: str) -> None:
        self._turns.labels(channel=_plain(channel), intent=self._intent(intent)).inc()
        self._turn_sources.labels(source=_plain(source)).inc()

    def nlu_parse(self, seconds: float, intent: str) -> None:
        self._nlu_seconds.observe(max(0.0, seconds))
        if intent == FALLBACK_INTENT:
            self._nlu_fallbacks.inc()

    def nlu_unavailable(self) -> None:
        self._nlu_unavailable.inc()

    def delivery(self, stage: str, channel: str, status: str) -> None:
        self._deliveries.labels(stage=_plain(stage), channel=_plain(channel), status=_plain(status)).inc()

    # -------------------------------------------------------------------------------- at scrape time

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        """Set the gauges from the database (every query first, then every gauge at once, so that a render
        never sees half of a refresh)."""
        self.apply(await MetricsRepository(session).snapshot(now))

    def apply(self, snapshot: OutboxSnapshot) -> None:
        self._outbox.clear()  # a combination with no rows left disappears
        for (stage, channel, status), count in snapshot.deliveries.items():
            self._outbox.labels(stage=stage, channel=channel, status=status).set(count)
        self._outbox_lag.set(snapshot.lag_seconds)
        self._escalations.clear()
        for state, count in snapshot.escalations.items():
            self._escalations.labels(state=state).set(count)

    def render(self) -> bytes:
        """The Prometheus text exposition (CONTENT_TYPE) of this registry."""
        return generate_latest(self.registry)

    def _intent(self, intent: str | None) -> str:
        if not intent:
            return NONE
        if intent in self._intents:
            return intent
        if not _LABEL.fullmatch(intent) or len(self._intents) >= MAX_INTENT_LABELS:
            return OTHER
        self._intents.add(intent)
        return intent


def _plain(value: str) -> str:
    return value if _LABEL.fullmatch(value) else OTHER


class InstrumentedNlu:
    """An NluClient that times every parse and counts fallbacks and outages, around the real one."""

    def __init__(self, nlu: NluClient, metrics: Metrics, *, monotonic: Callable[[], float] = time.perf_counter) -> None:
        self.wrapped = nlu
        self.metrics = metrics
        self._monotonic = monotonic

    async def parse(self, text: str) -> NluResult:
        started = self._monotonic()
        try:
            result = await self.wrapped.parse(text)
        except NluUnavailable:
            self.metrics.nlu_unavailable()
            raise
        self.metrics.nlu_parse(self._monotonic() - started, result.intent)
        return result

    async def ready(self) -> bool:
        return await self.wrapped.ready()

    async def aclose(self) -> None:
        """Close the wrapped client, if it has anything to close."""
        close = getattr(self.wrapped, "aclose", None)
        if close is not None:
            await close()
