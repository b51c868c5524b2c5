"""What a skill is: the intents, button payloads and form it answers, and the hooks the engine calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.dialogue.context import DialogueConfig, DialogueServices, Replies, Turn
from core.dialogue.replies import ReplyBuilder
from core.faults.reports import CountedReport
from core.models import UtilityAccount
from core.ports import OutgoingMessage

# An NLU confidence at which a message in the middle of a form is taken as a new question, not an answer.
CONFIDENT = 0.8


@dataclass(frozen=True, slots=True)
class SkillKit:
    """What every skill is built with, once per process: configuration, the reply builder, the services."""

    config: DialogueConfig
    replies: ReplyBuilder
    services: DialogueServices


class Skill:
    """One thing the bot can do. The engine routes to the first skill (in its order) that claims:

    - `intents`: the NLU intents (or `intent:<name>` buttons) it answers, through `on_intent`;
    - `payloads`: the button payload kinds (the part before the first ":") it answers, through `on_payload`;
    - `form`: the DialogueState.form it runs; a message while that form is open goes to `on_form` first.

    `intercept` is asked before anything else, every turn, in order: a skill that owns the conversation for
    now (a person on the line, a survey waiting for its score) answers there; the others return None.
    Skills call domain services (never repositories) inside the caller's session and never commit.
    """

    intents: ClassVar[frozenset[str]] = frozenset()
    payloads: ClassVar[frozenset[str]] = frozenset()
    form: ClassVar[str | None] = None

    def __init__(self, kit: SkillKit) -> None:
        self.config = kit.config
        self.replies = kit.replies
        self.services = kit.services

    async def intercept(self, turn: Turn) -> Replies | None:
        return None

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        raise NotImplementedError(f"{type(self).__name__} claims no intent {intent!r}")

    async def on_payload(self, turn: Turn, kind: str, arg: str) -> Replies | None:
        """None: a stale or unknown button (the engine shows the menu)."""
        return None

    async def on_form(self, turn: Turn) -> Replies | None:
        """The customer's answer to the form's question; None when the message is a new question instead (the
        engine answers it and offers the form again, or leaves the form at the second one in a row)."""
        turn.state.clear_form()
        return None

    async def counted(self, turn: Turn, counted: CountedReport, account: UtilityAccount) -> OutgoingMessage:
        """A "no power here" counted on the known fault outage covering the account: its estimate and how many
        reported it (no ticket). The outage counts as told: the engine does not announce it again, and its
        "we know" notice still waiting for this customer is not sent."""
        if turn.state.told([counted.outage.id]):
            await self.services.notices.on_told(turn.session, turn.identity, [counted.outage.id])
        return self.replies.say(
            turn,
            "fault_outage_counted",
            outage=counted.outage.context(turn.language),
            reports=counted.reports,
            new=counted.new,
            account=account,
        )

    async def account(self, turn: Turn) -> UtilityAccount | None:
        """The bound account answers are about (None before binding)."""
        return await self.services.binding.current(turn.session, turn.identity)
