"""The answers that need no account and no form: the FAQ topics, small talk (greetings, thanks, goodbye),
payment methods, a free-text comment on the service, and the menu, help and welcome."""

from __future__ import annotations

from core.dialogue.context import Replies, Turn
from core.dialogue.intents import FAQ_INTENTS, HELP
from core.dialogue.skills.base import Skill, SkillKit


class FaqSkill(Skill):
    """faq_<topic> → templates/faq/<topic>."""

    intents = FAQ_INTENTS

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        return [self.replies.say(turn, f"faq/{intent.removeprefix('faq_')}")]


class SmallTalkSkill(Skill):
    intents = frozenset({"greet", "thanks", "goodbye", "payment_methods", "feedback", HELP})
    payloads = frozenset({"menu", "start", "help", "unsupported"})

    def __init__(self, kit: SkillKit) -> None:
        super().__init__(kit)
        self.feedback = kit.services.feedback

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        match intent:
            case "greet":
                return [await self.replies.menu(turn, "greet")]
            case "help":  # what can you do?: the help text with the menu's buttons
                return [await self.replies.menu(turn, "help")]
            case "payment_methods":
                return [self.replies.say(turn, "payment_methods", methods=self.config.payment_methods)]
            case "feedback":  # a comment without a survey; the survey skill, placed earlier, takes its answers
                await self.feedback.comment(turn.session, turn.conversation, turn.text)
                return [self.replies.say(turn, "feedback_thanks")]
        return [self.replies.say(turn, intent)]  # thanks, goodbye

    async def on_payload(self, turn: Turn, kind: str, arg: str) -> Replies | None:
        if kind == "unsupported":  # a photo, a sticker, a voice message ...
            return [self.replies.say(turn, "unsupported")]
        template = {"start": "welcome", "help": "help"}.get(kind, "menu")
        return [await self.replies.menu(turn, template)]
