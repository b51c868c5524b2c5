"""What a customer is told of one application: its stage, the next step, the due time, who to call, the outage it
needs. The same words in the chat's answer (templates/dialogue/application_status) and in the message a change
sends (templates/notices/application_progress), both from templates/dialogue/_application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.applications.repository import ManagerRow
from core.applications.stages import StageRules, is_overdue
from core.models.enums import ApplicationKind, ApplicationStage
from core.outages.facts import OutageFacts


@dataclass(frozen=True, slots=True)
class Progress:
    """An application at a stage, as a message tells it (the stage told, which may since have moved on)."""

    id: int
    kind: ApplicationKind
    stage: ApplicationStage
    account_number: str
    customer_name: str
    key_account: bool
    due_at: datetime | None
    reopened: bool = False
    manager: ManagerRow | None = None
    outage: OutageFacts | None = None

    def context(self, rules: StageRules, language: str, now: datetime) -> dict[str, object]:
        """Its template context (templates/dialogue/_application.*.j2)."""
        step, steps = rules.step(self.kind, self.stage)
        manager = self.manager
        return {
            "id": self.id,
            "kind": str(self.kind),
            "stage": str(self.stage),
            "account_number": self.account_number,
            "customer_name": self.customer_name,
            "key_account": self.key_account,
            "step": step,
            "steps": steps,
            "next_stage": rules.next_stage(self.kind, self.stage),
            "due_at": self.due_at,
            "overdue": is_overdue(self.due_at, now),
            "reopened": self.reopened,
            "manager": None if manager is None else {"name": manager.name, "phone": manager.phone or ""},
            "outage": None if self.outage is None else self.outage.context(language),
        }
