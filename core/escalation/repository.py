from __future__ import annotations

from sqlalchemy import select

from core.db.repository import RepositoryBase
from core.models import Escalation

OPEN_STATES = ("pending", "assigned")


class EscalationRepository(RepositoryBase[Escalation]):
    model = Escalation

    async def open_for_conversation(self, conversation_id: int) -> Escalation | None:
        return await self.session.scalar(
            select(Escalation)
            .where(Escalation.conversation_id == conversation_id, Escalation.state.in_(OPEN_STATES))
            .order_by(Escalation.id.desc())
            .limit(1)
        )
