"""A fake NluClient: answers from a table (text → intent), for tests that are not about Rasa."""

from __future__ import annotations

from core.ports import FALLBACK_INTENT, Entity, NluResult, NluUnavailable


class FakeNlu:
    def __init__(self, intents: dict[str, str] | None = None, *, up: bool = True) -> None:
        self.intents = intents or {}
        self.up = up
        self.entities: dict[str, tuple[Entity, ...]] = {}
        self.results: dict[str, NluResult] = {}  # a whole result for a text (parts of a two-question message)
        self.calls: list[str] = []

    async def parse(self, text: str) -> NluResult:
        self.calls.append(text)
        if not self.up:
            raise NluUnavailable("fake NLU is down")
        if text in self.results:
            return self.results[text]
        intent = self.intents.get(text, FALLBACK_INTENT)
        return NluResult(
            text=text,
            intent=intent,
            confidence=0.99 if intent != FALLBACK_INTENT else 0.2,
            entities=self.entities.get(text, ()),
        )

    async def ready(self) -> bool:
        return self.up
