"""The edges of gridtalk: every outbound integration is behind one of these Protocols.

Real implementations live beside their transport (nlu/client.py, bot/, core/notices/...); fakes live in tests/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class NluResult:
    """What the NLU understood of one message (Rasa's /model/parse shape, after our threshold)."""

    text: str
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()
    truncated: bool = False
    raw_intent: str | None = None  # the model's top intent when we turned it into nlu_fallback
    parts: tuple[NluResult, ...] = ()  # two or more questions in one message: each part as understood, in order

    def entity(self, name: str) -> str | None:
        return next((e.value for e in self.entities if e.entity == name), None)

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "intent": {"name": self.intent, "confidence": self.confidence},
            "entities": [{"entity": e.entity, "value": e.value, "start": e.start, "end": e.end} for e in self.entities],
            # the questions of a message asking several (nlu.multi), in order; [] for one question
            "intents": [
                {"text": p.text, "name": p.intent, "confidence": p.confidence, "entities": p.to_dict()["entities"]}
                for p in self.parts
            ],
        }


class NluUnavailable(Exception):
    """The NLU server cannot be reached (down, timing out, or the circuit breaker is open)."""


class NluClient(Protocol):
    async def parse(self, text: str) -> NluResult:
        """Understand one customer message. Raises NluUnavailable when the server cannot answer."""
        ...

    async def ready(self) -> bool:
        """True when the server answers and has a model loaded."""
        ...


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class OutgoingMessage:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)


class Channel(Protocol):
    """A way to reach a customer (Telegram, web chat, email, SMS)."""

    async def send(self, address: str, message: OutgoingMessage) -> None: ...


class EmailSender(Protocol):
    """Sends one plain-text email (the web chat's verification codes); raises when the SMTP server refuses."""

    async def send_text(self, address: str, subject: str, text: str) -> None: ...


class SmsSender(Protocol):
    """Sends one plain-text SMS to a phone number (binding codes); raises when the gateway refuses."""

    async def send_text(self, phone: str, text: str) -> None: ...
