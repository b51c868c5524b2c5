"""The "not understood" inbox: customer messages the NLU did not understand (fallback), was unsure of (low
confidence) or that were followed by an escalation, waiting for a supervisor to say which intent they were;
and the export of those answers as training data for the next `gridtalk nlu train`.

Built once per process (NluReview(clock, settings, audit)); each call takes the caller's session and never
commits. Annotating is audited (`nlu.annotate`, the staff member); exporting too (`nlu.export`, actor None:
the command line).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.dialogue.intents import FALLBACK, INTENTS
from core.errors import InvalidInput, NotFound
from core.models import NluAnnotation, StaffUser
from core.models.enums import Direction
from core.nlu_review.repository import NluAnnotationRepository, WaitingRule
from core.nlu_review.training import mask_for_training, merge, read_examples, render
from core.staff.audit import AuditService

# The intents a message may be given: the NLU contract's (nlu/domain.yml), not the fallback.
CHOICES: tuple[str, ...] = tuple(sorted(INTENTS - {FALLBACK}))
HANDOFF_INTENT = "human_handoff"
ESCALATED_WITHIN = 3  # a customer message counts as escalated when an escalation came within 3 of theirs


class NluReviewAction(StrEnum):
    ANNOTATE = "nlu.annotate"
    EXPORT = "nlu.export"


class Reason(StrEnum):
    FALLBACK = "fallback"
    LOW_CONFIDENCE = "low_confidence"
    ESCALATED = "escalated"


@dataclass(frozen=True, slots=True)
class WaitingMessage:
    id: int
    conversation_id: int
    text: str
    intent: str | None  # what the bot took it for
    confidence: float | None
    at: datetime
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class WaitingPage:
    items: list[WaitingMessage]
    total: int


@dataclass(frozen=True, slots=True)
class ExportReport:
    path: Path
    per_intent: dict[str, int]  # examples written now, by intent
    skipped: int  # annotations with nothing left to learn from (text purged, or already training data)

    @property
    def written(self) -> int:
        return sum(self.per_intent.values())


class NluReview:
    def __init__(self, clock: Clock, settings: Settings, audit: AuditService) -> None:
        self.clock = clock
        self.audit = audit
        below = settings.nlu_review_confidence
        self.rule = WaitingRule(
            fallback_intent=FALLBACK,
            below=settings.nlu_confidence_threshold if below is None else below,
            escalated_within=ESCALATED_WITHIN,
            handoff_intent=HANDOFF_INTENT,
        )

    async def waiting(self, session: AsyncSession, *, limit: int = 50, offset: int = 0) -> WaitingPage:
        """Messages waiting for an intent, newest first."""
        repo = NluAnnotationRepository(session)
        rows = await repo.waiting(self.rule, limit=limit, offset=offset)
        items = [
            WaitingMessage(
                id=r.message.id,
                conversation_id=r.message.conversation_id,
                text=r.message.text,
                intent=r.message.intent,
                confidence=r.message.confidence,
                at=r.message.created_at,
                reasons=tuple(
                    reason
                    for reason, on in (
                        (Reason.FALLBACK, r.fallback),
                        (Reason.LOW_CONFIDENCE, r.low_confidence),
                        (Reason.ESCALATED, r.escalated),
                    )
                    if on
                ),
            )
            for r in rows
        ]
        return WaitingPage(items, await repo.count_waiting(self.rule))

    async def count_waiting(self, session: AsyncSession) -> int:
        return await NluAnnotationRepository(session).count_waiting(self.rule)

    async def annotate(
        self, session: AsyncSession, message_id: int, intent: str, actor: StaffUser, client: str | None = None
    ) -> NluAnnotation:
        """Give a customer message its right intent (again: the last one counts, and it is exported again)."""
        if intent not in CHOICES:
            raise InvalidInput(f"unknown intent {intent!r}", field="intent")
        repo = NluAnnotationRepository(session)
        message = await repo.message(message_id)
        if message is None or message.direction != Direction.IN:
            raise NotFound(f"no customer message {message_id}")
        now = self.clock.now()
        annotation = await repo.for_message(message_id)
        previous = annotation.intent if annotation else None
        if annotation is None:
            annotation = repo.add(
                NluAnnotation(message_id=message_id, intent=intent, staff_id=actor.id, annotated_at=now)
            )
        else:
            annotation.intent, annotation.staff_id, annotation.annotated_at = intent, actor.id, now
            annotation.exported_at = None
        await session.flush()
        detail = {"intent": intent, "bot_intent": message.intent, "previous": previous}
        self.audit.record(session, actor, NluReviewAction.ANNOTATE, "message", message_id, detail, client)
        return annotation

    async def export(
        self,
        session: AsyncSession,
        path: Path,
        *,
        everything: bool = False,
        known: frozenset[str] = frozenset(),
        client: str | None = "cli",
    ) -> ExportReport:
        """Write the annotated messages not yet exported (or all) to the training file at `path`, masked and
        merged with what it holds; mark them exported. `known`: examples the training data (or the held-out
        test) already has elsewhere, left out. Audited (actor None)."""
        repo = NluAnnotationRepository(session)
        rows = await repo.to_export(everything=everything)
        new: list[tuple[str, str]] = []
        skipped = 0
        for annotation, text in rows:
            example = mask_for_training(text)
            if not example or example in known:
                skipped += 1
                continue
            new.append((annotation.intent, example))
        existing = await asyncio.to_thread(read_examples, path)
        before = {(i, e) for i, examples in existing.items() for e in examples}
        merged = merge(existing, new)
        latest = {example: intent for intent, example in new}  # annotated twice in one batch: the last counts
        per_intent = Counter(intent for example, intent in latest.items() if (intent, example) not in before)
        if per_intent:
            await asyncio.to_thread(_write, path, render(merged))
        now = self.clock.now()
        await repo.mark_exported([a.id for a, _text in rows], now)
        report = ExportReport(path, dict(sorted(per_intent.items())), skipped)
        detail = {"file": str(path), "per_intent": report.per_intent, "skipped": skipped, "all": everything}
        self.audit.record(session, None, NluReviewAction.EXPORT, "nlu_annotations", None, detail, client)
        return report


def _write(path: Path, text: str) -> None:
    """Replace the file whole (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
