"""Notices rendered from templates/notices/ (zh and en) with the sandboxed Renderer.

Templates are written for Telegram's HTML parse mode and rendered with html=True: every value staff typed
(the reason, the contact) is escaped data, never template code. Email gets the same text as HTML and as
plain text; SMS gets the plain text. Plain text is the HTML with the templates' own tags taken out and the
entities turned back into characters.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models.enums import OutageKind
from core.notices.audiences import KeyAccountInfo
from core.outages.facts import OutageFacts
from core.outages.planner import FINAL, INITIAL, RESTORED, TEMPLATE_OF_FAULT_STAGE, TEMPLATE_OF_STAGE
from core.ports import Button, OutgoingMessage
from core.security import parse_id
from core.templating import Renderer

ACK_PREFIX = "notice:ack:"
PROBLEM_PREFIX = "notice:problem:"
NO_POWER_PREFIX = "notice:nopower:"  # "still no power at my place" under a fault's restoration notice
PREFIXES = {"ack": ACK_PREFIX, "problem": PROBLEM_PREFIX, "nopower": NO_POWER_PREFIX}
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
TELEGRAM_LIMIT = 4096  # characters of one Telegram message (after its HTML entities are parsed)


def ack_payload(delivery_id: int) -> str:
    return f"{ACK_PREFIX}{delivery_id}"


def problem_payload(delivery_id: int) -> str:
    return f"{PROBLEM_PREFIX}{delivery_id}"


def parse_payload(payload: str) -> tuple[str, int] | None:
    """("ack" | "problem" | "nopower", delivery id) from a button payload, or None when it is not a notice
    button."""
    for kind, prefix in PREFIXES.items():
        if payload.startswith(prefix) and (delivery_id := parse_id(payload[len(prefix) :])) is not None:
            return kind, delivery_id
    return None


def _payload(which: str, delivery_id: int) -> str:
    return f"{PREFIXES['ack' if which == 'confirm' else which]}{delivery_id}"


def plain_text(telegram_html: str) -> str:
    """Telegram HTML as plain text: the templates' tags removed, entities turned back into characters."""
    return html.unescape(_TAG.sub("", telegram_html))


def key_account_context(key: KeyAccountInfo | None) -> dict[str, object] | None:
    if key is None:
        return None
    return {
        "name": key.customer_name,
        "account_number": key.account_number,
        "feeder_code": key.feeder_code,
        "manager_name": key.manager_name,
        "manager_phone": key.manager_phone or "",
    }


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an email notice (a bill statement's figures as CSV); other channels leave it out."""

    filename: str
    content: bytes
    mime_type: str = "text/csv"


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    html: str  # Telegram HTML parse mode
    subject: str
    buttons: tuple[Button, ...] = ()
    attachments: tuple[Attachment, ...] = ()  # email only

    @property
    def plain(self) -> str:
        return plain_text(self.html)

    def message(self) -> OutgoingMessage:
        return OutgoingMessage(self.html, self.buttons)


class NoticeRenderer:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def notice(
        self,
        stage: str,
        language: str,
        facts: OutageFacts,
        *,
        key: KeyAccountInfo | None = None,
        delivery_id: int | None = None,
        channel: str = "telegram",
    ) -> RenderedNotice:
        """One customer notice. The final confirmation on Telegram carries the Confirm and Problem buttons
        (elsewhere it asks to confirm by replying in Telegram or by calling the account manager); a fault's
        restoration notice on Telegram carries "still no power at my place"."""
        fault = facts.kind == OutageKind.UNPLANNED
        template = (TEMPLATE_OF_FAULT_STAGE if fault else TEMPLATE_OF_STAGE)[stage]
        buttons: tuple[Button, ...] = ()
        kinds = ("confirm", "problem") if stage == FINAL else ("nopower",) if fault and stage == RESTORED else ()
        with_buttons = bool(kinds) and channel == "telegram" and delivery_id is not None
        if with_buttons:
            assert delivery_id is not None
            buttons = tuple(
                Button(self._text("notices/button", language, which=which), _payload(which, delivery_id))
                for which in kinds
            )
        context: dict[str, Any] = {
            "stage": stage,
            "late": stage == INITIAL,
            "outage": facts.context(language),
            "key_account": key_account_context(key),
            "with_buttons": with_buttons,
            "channel": channel,
        }
        text = self.renderer.render(f"notices/{template}", language, html=True, **context)
        if channel == "telegram" and len(plain_text(text)) > TELEGRAM_LIMIT:
            text = self._shortened(f"notices/{template}", language, context)
        subject = self._text("notices/subject", language, **context)
        return RenderedNotice(text, subject, buttons)

    def _shortened(self, template: str, language: str, context: dict[str, Any]) -> str:
        """A notice too long for one Telegram message (4096 characters): the reason (what staff typed, the
        part that grows) is cut short, the times, areas, contact and buttons' text stay, and a note says the
        full details are at the contact (and the account manager). If even that is too long (a huge scope),
        whole lines are dropped from the end of the details."""
        note = self.renderer.render("notices/truncated", language, html=True, **context).strip()
        room = TELEGRAM_LIMIT - len(plain_text(note)) - 2  # Telegram counts characters after parsing
        outage = dict(context["outage"])
        reason = str(outage.get("reason", ""))

        def render(cut: int) -> str:
            shown = reason if cut >= len(reason) else reason[:cut].rstrip() + "…"
            return self.renderer.render(
                template, language, html=True, **{**context, "outage": {**outage, "reason": shown}}
            )

        low, high = 0, len(reason)  # the longest part of the reason that fits (binary search: a few renders)
        while low < high:
            middle = (low + high + 1) // 2
            if len(plain_text(render(middle)).rstrip()) <= room:
                low = middle
            else:
                high = middle - 1
        text = render(low).rstrip()
        if len(plain_text(text)) > room:
            lines: list[str] = []
            for line in text.splitlines():
                if len("\n".join([*lines, line])) > room - 1:
                    break
                lines.append(line)
            text = "\n".join([*lines, "…"])
        return f"{text}\n\n{note}"

    @staticmethod
    def for_delivery(notice: RenderedNotice, delivery_id: int) -> RenderedNotice:
        """A notice rendered once for many deliveries, with its buttons answering this delivery."""
        if not notice.buttons:
            return notice
        buttons = tuple(Button(b.title, f"{b.payload.rpartition(':')[0]}:{delivery_id}") for b in notice.buttons)
        return RenderedNotice(notice.html, notice.subject, buttons)

    def manager_alert(
        self,
        kind: str,
        language: str,
        facts: OutageFacts,
        key: KeyAccountInfo,
        *,
        contacts: Sequence[str],
        sent_at: datetime | None,
        minutes: int,
    ) -> RenderedNotice:
        """A message to a key account's manager: "unconfirmed" (no answer to the final confirmation) or
        "problem" (a contact pressed Problem)."""
        template = {"unconfirmed": "notices/unconfirmed_alert", "problem": "notices/problem_alert"}[kind]
        context: dict[str, Any] = {
            "outage": facts.context(language),
            "key_account": key_account_context(key),
            "contacts": list(contacts),
            "sent_at": sent_at,
            "minutes": minutes,
        }
        text = self.renderer.render(template, language, html=True, **context)
        subject = plain_text(text.splitlines()[0]) if text else ""
        return RenderedNotice(text, subject)

    def reply(self, template: str, language: str, facts: OutageFacts, *, key: KeyAccountInfo | None) -> str:
        """A reply in the conversation to a confirmation ("acked") or a problem report ("problem_reported"),
        in plain text like the dialogue's other replies."""
        return self.renderer.render(
            f"notices/{template}", language, outage=facts.context(language), key_account=key_account_context(key)
        )

    def _text(self, name: str, language: str, **context: Any) -> str:
        return " ".join(self.renderer.render(name, language, **context).split())
