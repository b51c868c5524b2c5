"""Transcripts for the "not understood" inbox tests: conversations with messages in and out, escalations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.models import Conversation, Escalation, Identity, Message


@dataclass
class Transcript:
    """Writes one conversation's messages a second apart from `start`; ids by a name of the test's choosing."""

    sessionmaker: async_sessionmaker[AsyncSession]
    start: datetime
    ids: dict[str, int] = field(default_factory=dict)
    _tick: int = 0
    _conversation: int = 0

    def _at(self) -> datetime:
        self._tick += 1
        return self.start + timedelta(seconds=self._tick)

    async def conversation(self, external_id: str) -> int:
        async with session_scope(self.sessionmaker) as session:
            identity = Identity(channel="web", external_id=external_id, language="zh", created_at=self._at())
            session.add(identity)
            await session.flush()
            conversation = Conversation(identity_id=identity.id, channel="web", created_at=self._at())
            session.add(conversation)
            await session.flush()
            self._conversation = conversation.id
            return conversation.id

    async def say(
        self,
        name: str,
        text: str,
        intent: str | None,
        confidence: float | None,
        *,
        direction: str = "in",
        payload: str | None = None,
    ) -> int:
        async with session_scope(self.sessionmaker) as session:
            message = Message(
                conversation_id=self._conversation,
                channel="web",
                direction=direction,
                text=text,
                payload=payload,
                intent=intent,
                confidence=confidence,
                created_at=self._at(),
            )
            session.add(message)
            await session.flush()
            self.ids[name] = message.id
            return message.id

    async def bot(self, text: str) -> None:
        await self.say(f"out-{self._tick}", text, None, None, direction="out")

    async def escalate(self, reason: str = "human_handoff") -> None:
        async with session_scope(self.sessionmaker) as session:
            session.add(Escalation(conversation_id=self._conversation, reason=reason, created_at=self._at()))


async def a_day_of_transcripts(sessionmaker: async_sessionmaker[AsyncSession], start: datetime) -> Transcript:
    """What the inbox should and should not list (threshold 0.5, escalation within 3 customer messages)."""
    t = Transcript(sessionmaker, start)
    await t.conversation("web-1")
    await t.say("fallback", "电表箱冒火花了咋整", "nlu_fallback", 0.31)
    await t.bot("抱歉，我没听懂。")
    await t.say("low", "这个月怎么扣了两次钱", "bill_amount", 0.42)
    await t.bot("您本月应缴 120.50 元。")
    await t.say("sure", "我家这个月电费多少", "bill_amount", 0.97)
    await t.say("purged", "", "nlu_fallback", 0.2)  # text purged by retention: nothing to learn from
    await t.say("button", "确认", "outage_ack", 1.0, payload="notice:ack:1")
    await t.say("out_fallback", "机器人自己说的话", "nlu_fallback", 0.1, direction="out")
    await t.conversation("web-2")
    await t.say("long_before", "你好", "greet", 0.99)
    await t.say("before_1", "我想问问阶梯电价", "tariff_query", 0.91)
    await t.say("before_2", "我家老是跳闸是不是你们的问题", "report_fault", 0.88)
    await t.say("before_3", "你们到底管不管", "complaint", 0.8)
    await t.say("handoff", "转人工", "human_handoff", 0.99)
    await t.escalate()
    await t.say("after", "好的谢谢", "thanks", 0.95)
    return t
