"""Fault reports (报修): what happened, where, any hazard; the safety instruction the moment a hazard is
known; then a ticket with a reference (a hazard's is urgent, and a person follows it up: an escalation). A
message describing a hazard starts this form from anywhere. Afterwards: where the customer's reports stand
(报修进度), and their answer when one is closed (solved, or still not fixed: reopened).

"No power here" from a bound account that a current fault outage covers is not a ticket: it is counted on the
outage (once per customer) and the customer hears that the outage is known, its estimate and how many
reported it (core.faults.reports); a hazard always opens its urgent ticket. Photos and locations (Telegram)
sent during the report go onto its ticket (a location also answers "where?"); sent within a short while after
a ticket opened they go onto that ticket; anywhere else the customer hears they are taken only with a report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.dialogue import keywords
from core.dialogue.context import Replies, Turn
from core.dialogue.intents import ACCOUNT_INTENTS, FAQ_INTENTS, KEY_ACCOUNT_SERVICE
from core.dialogue.skills.base import CONFIDENT, Skill, SkillKit
from core.faults.attachments import MAX_PER_TICKET, Attachment, Location, dump_pending, load_pending
from core.faults.hazards import hazards_in, is_generic_request, mentions_home, reports_power_loss
from core.faults.service import FaultReport
from core.models.enums import TicketStatus
from core.ports import Button, OutgoingMessage
from core.security import parse_id

# While the form asks where or what happened, only these read as a new question rather than an answer.
LEAVES_FAULT_FORM = (
    ACCOUNT_INTENTS
    | FAQ_INTENTS
    | KEY_ACCOUNT_SERVICE
    | {
        "tariff_query",
        "payment_methods",
        "bind_account",
        "human_handoff",
        "complaint",
        "subscribe_notices",
        "unsubscribe_notices",
    }
)
PENDING = "attachments"  # the form's slot keeping the photos and locations sent before the ticket opens


class FaultSkill(Skill):
    intents = frozenset({"report_fault"})
    payloads = frozenset({"fault", "ticket"})  # fault:home, fault:hazard:<yes|no>; ticket:<solved|reopen>:<id>
    form = "fault"  # steps: description, place, hazard (slot "attachments": what was sent meanwhile)

    def __init__(self, kit: SkillKit, *, on_hazard: Callable[[Turn], Awaitable[Replies]]) -> None:
        super().__init__(kit)
        self.faults = kit.services.faults
        self.on_hazard = on_hazard  # the handoff skill's: a person follows a hazard up

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        if keywords.asks_progress(turn.text):
            return await self.progress(turn)
        return await self.start(turn)

    async def progress(self, turn: Turn) -> Replies:
        """Where the customer's latest fault reports stand."""
        tickets = await self.faults.tickets_of(turn.session, turn.identity)
        buttons = () if tickets else (self.replies.button(turn, "report_fault", "intent:report_fault"),)
        return [self.replies.say(turn, "ticket_progress", buttons, tickets=tickets)]

    async def start(self, turn: Turn) -> Replies:
        """A new report; the message itself is the description unless it only asks to report a fault."""
        turn.state.start_form("fault", "description")
        text = turn.text.strip()
        if not text or is_generic_request(text):
            return await self._next(turn)
        return await self._next(turn, description=text)

    async def on_attachment(self, turn: Turn, attachment: Attachment, *, answered: bool = False) -> Replies:
        """A photo or a location. During the report it waits for the ticket (a location also answers "where?",
        when that is still open), and the report goes on; within a short while after a ticket opened it goes
        onto that ticket; anywhere else the customer is told they are taken only with a fault report.
        `answered`: the message's caption was answered already (its question is not asked again)."""
        state = turn.state
        if state.form == "fault":
            pending = load_pending(state.slots.get(PENDING))
            kept = len(pending) < MAX_PER_TICKET
            if kept:
                state.slots[PENDING] = dump_pending([*pending, attachment])
            as_place = isinstance(attachment, Location) and kept and "place" not in state.slots
            said = self.replies.say(
                turn,
                "fault_attachment_kept",
                kind=str(attachment.kind),
                kept=kept,
                as_place=as_place,
                place=attachment.place if isinstance(attachment, Location) else "",
            )
            if as_place and isinstance(attachment, Location):
                return [said, *await self._next(turn, place=attachment.place)]
            return [said] if answered else [said, *await self._next(turn)]
        ticket = await self.faults.recent_ticket(turn.session, turn.identity)
        if ticket is not None:
            added = await self.faults.attach(turn.session, ticket, [attachment])
            return [
                self.replies.say(
                    turn, "fault_attachment_added", ticket=ticket, kind=str(attachment.kind), kept=added > 0
                )
            ]
        report = self.replies.button(turn, "report_fault", "intent:report_fault")
        return [self.replies.say(turn, "fault_attachment_unexpected", (report,), kind=str(attachment.kind))]

    async def on_payload(self, turn: Turn, kind: str, arg: str) -> Replies | None:
        if kind == "ticket":  # the answer to "is the problem solved?" on a closed ticket
            answer, _, ticket_id = arg.partition(":")
            if answer == "solved":
                return [self.replies.say(turn, "ticket_solved")]
            if answer != "reopen":
                return None
            ticket = await self.faults.reopen(turn.session, turn.identity, parse_id(ticket_id) or 0)
            if ticket is None:
                return None
            if ticket.status != TicketStatus.RECEIVED:  # still being handled (a crew on it): where it stands
                return await self.progress(turn)
            return [self.replies.say(turn, "ticket_reopened", ticket=ticket)]
        if turn.state.form != "fault":
            return None  # a button of a report already finished or cancelled
        if arg == "home":
            account = await self.account(turn)
            if account is not None:
                return await self._next(turn, place=account.address, home=True)
        if arg.startswith("hazard:"):
            return await self._next(turn, hazard=arg == "hazard:yes")
        return await self._next(turn)

    async def on_form(self, turn: Turn) -> Replies | None:
        state, text, intent = turn.state, turn.text, turn.nlu.intent
        if (
            intent in LEAVES_FAULT_FORM
            and turn.nlu.confidence >= CONFIDENT
            and (intent != "bind_account" or keywords.account_number_in(text))  # a place has digits too
        ):
            return None  # a question asked inside the report
        if state.step == "description":
            return await self._next(turn, description=text)
        if state.step == "place":
            return await self._next(turn, place=text)
        if state.step == "hazard":
            answer = keywords.yes_or_no(text)
            if answer is None and hazards_in(text):
                answer = True
            if answer is None:
                return await self.replies.again(turn, "hazard", self._hazard_question(turn, again=True))
            return await self._next(turn, hazard=answer)
        state.clear_form()
        return None

    def _hazard_question(self, turn: Turn, again: bool = False) -> OutgoingMessage:
        buttons = (
            self.replies.button(turn, "hazard_yes", "fault:hazard:yes"),
            self.replies.button(turn, "hazard_no", "fault:hazard:no"),
            self.replies.cancel_button(turn),
        )
        return self.replies.say(turn, "fault_ask_hazard", buttons, again=again)

    async def _next(
        self,
        turn: Turn,
        *,
        description: str | None = None,
        place: str | None = None,
        hazard: bool | None = None,
        home: bool = False,
    ) -> Replies:
        """Fill what the message gave, say the safety instruction the moment a hazard is known, ask what is
        still missing (what happened, where, any hazard), and open the ticket once nothing is."""
        slots = turn.state.slots
        replies: Replies = []
        account = await self.account(turn)
        for said in (description, place):
            if said and "hazard" not in slots:
                found = hazards_in(said)
                if found:
                    slots["hazard"] = "yes"
                    replies.append(self.replies.say(turn, "fault_safety", hazards=found))
        if hazard is not None and "hazard" not in slots:
            slots["hazard"] = "yes" if hazard else "no"
            if hazard:
                replies.append(self.replies.say(turn, "fault_safety", hazards=()))
        if description:
            slots["description"] = description.strip()
            if "place" not in slots and account is not None and mentions_home(description):
                slots["place"] = account.address
                slots["home"] = "yes"
        if place:
            slots["place"] = place.strip()
            if home:
                slots["home"] = "yes"
        if description and account is not None and slots.get("hazard") != "yes" and reports_power_loss(description):
            counted = await self.faults.count_no_power(turn.session, turn.identity, account)
            if counted is not None:  # a known outage: counted on it, no ticket
                return [*replies, await self.counted(turn, counted, account)]
        if "description" not in slots:
            turn.state.step = "description"
            replies.append(self.replies.say(turn, "fault_ask_description", (self.replies.cancel_button(turn),)))
            return replies
        if "place" not in slots:
            turn.state.step = "place"
            buttons: tuple[Button, ...] = (self.replies.cancel_button(turn),)
            if account is not None:
                buttons = (self.replies.button(turn, "fault_home", "fault:home"), *buttons)
            replies.append(self.replies.say(turn, "fault_ask_place", buttons, account=account))
            return replies
        if "hazard" not in slots:
            turn.state.step = "hazard"
            replies.append(self._hazard_question(turn))
            return replies
        report = FaultReport(
            location=slots["place"],
            description=slots["description"],
            hazard=slots["hazard"] == "yes",
            account_id=account.id if account is not None else None,
            power_loss=reports_power_loss(slots["description"]),
        )
        attachments = load_pending(slots.get(PENDING))
        ticket = await self.faults.open_ticket(turn.session, turn.identity, report, attachments)
        turn.state.clear_form()
        confirmation = self.replies.say(turn, "fault_ticket", ticket=ticket, attached=len(attachments))
        if report.hazard:  # one message: the ticket, then who follows it up
            followed = "\n".join(reply.text for reply in await self.on_hazard(turn))
            confirmation = OutgoingMessage(f"{confirmation.text}\n{followed}", confirmation.buttons)
        replies.append(confirmation)
        return replies
