"""The one way the dialogue says something: a template's text, button titles, the menu."""

from __future__ import annotations

from core.customers.account_binding import AccountBinding
from core.dialogue.context import DialogueConfig, Turn
from core.ports import Button, OutgoingMessage
from core.templating import Renderer

MENU_INTENTS = (
    "bill_amount",
    "bill_explain",
    "usage_query",
    "outage_status",
    "planned_outage_query",
    "report_fault",
    "tariff_query",
    "payment_methods",
    "human_handoff",
)


class ReplyBuilder:
    """Text + buttons in the customer's language, from templates/dialogue (every skill gets the same one)."""

    def __init__(self, config: DialogueConfig, renderer: Renderer, binding: AccountBinding) -> None:
        self.config = config
        self.renderer = renderer
        self.binding = binding

    def say(self, turn: Turn, template: str, buttons: tuple[Button, ...] = (), **context: object) -> OutgoingMessage:
        """A reply from templates/dialogue/<template> (or templates/<folder>/<name> for "folder/name")."""
        context.setdefault("hotline", self.config.hotline)
        name = template if "/" in template else f"dialogue/{template}"
        text = self.renderer.render(name, turn.language, html=False, **context)
        return OutgoingMessage(text, buttons)

    def button(self, turn: Turn, key: str, payload: str, arg: str = "") -> Button:
        """A button titled from templates/dialogue/buttons (key, and arg such as an account number)."""
        return Button(self.renderer.render("dialogue/buttons", turn.language, key=key, arg=arg), payload)

    def cancel_button(self, turn: Turn) -> Button:
        return self.button(turn, "cancel", "cancel")

    def menu_buttons(self, turn: Turn, *, bound: bool) -> tuple[Button, ...]:
        buttons = [self.button(turn, name, f"intent:{name}") for name in MENU_INTENTS]
        buttons.append(self.button(turn, "accounts", "accounts") if bound else self.button(turn, "bind", "bind"))
        buttons.append(self.button(turn, "language", "lang"))
        return tuple(buttons)

    async def menu(self, turn: Turn, template: str = "menu", **context: object) -> OutgoingMessage:
        """The template's text with the menu's buttons (accounts when bound, bind otherwise)."""
        bound = await self.binding.current(turn.session, turn.identity) is not None
        return self.say(turn, template, self.menu_buttons(turn, bound=bound), **context)

    async def again(self, turn: Turn, kind: str, question: OutgoingMessage) -> list[OutgoingMessage]:
        """A form's question (`kind`: which one) asked again, once: never the same prompt three times in a
        row. The third time the form is left, with the menu (the customer can start it again from its button)."""
        state = turn.state
        state.asks = state.asks + 1 if state.asked == kind else 1
        state.asked = kind
        if state.asks < 2:
            return [question]
        turn.state.clear_form()
        turn.state.pending_intent = turn.state.pending_text = None
        return [await self.menu(turn, "form_left")]
