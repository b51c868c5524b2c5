"""The satisfaction survey in the chat: its star buttons, the comment after a low score, the aspect a key account
is asked about, and the survey that follows a thanks or a goodbye (core.feedback.survey_rules has the rules).

    survey:<id>:<score>              a star pressed (1-5): recorded once; a late press is thanked, not counted
    survey:<id>:aspect:<a>           a key account's answer: supply, service or complaint (after a low score)

After a low score the next message is taken as the comment (the "survey" form, step "comment", slot "survey":
the survey's id) unless it is clearly something else: a new question the NLU is sure of, or one asked as a
question (吗, ?), a hazard, an account number, a greeting or a thanks (then the form is left and the message
answered as usual), "cancel" (the engine cancels the form) or a language, or a plain "no" (nothing to add:
thanked). `intercept` takes
it before the handoff skill does, so a comment right after staff resolved the conversation does not reopen it.

The "thanked" trigger: a thanks or a goodbye right after the bot answered a billing, outage or FAQ question
gets the survey after the bot's reply, in the same turn (`after_thanks`, called by the engine).
"""

from __future__ import annotations

from core.dialogue import keywords
from core.dialogue.context import Replies, Turn
from core.dialogue.intents import ACCOUNT_INTENTS, FAQ_INTENTS, HELP, INFORM, KEY_ACCOUNT_SERVICE
from core.dialogue.skills.base import CONFIDENT, Skill, SkillKit
from core.faults.hazards import hazards_in
from core.feedback.survey_rules import ASPECT, answers_a_question
from core.feedback.surveys import Outcome
from core.models.enums import SurveyTrigger
from core.security import parse_id

FORM = "survey"
STEP = "comment"
SLOT = "survey"
# Questions that, asked instead of a comment, are answered as usual (a complaint or an opinion is a comment).
NEW_QUESTIONS = (
    ACCOUNT_INTENTS
    | FAQ_INTENTS
    | KEY_ACCOUNT_SERVICE
    | {
        "tariff_query",
        "payment_methods",
        "outage_status",
        "planned_outage_query",
        "report_fault",
        "bind_account",
        "human_handoff",
        "subscribe_notices",
        "unsubscribe_notices",
        "outage_ack",
        HELP,
    }
)
# Not a comment either: a greeting, a thanks or a goodbye (answered as usual, the survey keeps its score).
CLOSING = frozenset({"greet", "thanks", "goodbye"})
THANKS = frozenset({"thanks", "goodbye"})


class SurveySkill(Skill):
    payloads = frozenset({"survey"})
    form = FORM

    def __init__(self, kit: SkillKit) -> None:
        super().__init__(kit)
        self.surveys = kit.services.surveys

    # ------------------------------------------------------------------------------------ the buttons

    async def on_payload(self, turn: Turn, kind: str, arg: str) -> Replies | None:
        survey, _, rest = arg.partition(":")
        survey_id = parse_id(survey)
        if survey_id is None:
            return None
        what, _, aspect = rest.partition(":")
        if what == ASPECT:
            said = await self.surveys.aspect(turn.session, turn.identity, survey_id, aspect)
            return [said] if said is not None else None
        score = parse_id(what)
        if score is None:
            return None
        answered = await self.surveys.answer(turn.session, turn.identity, survey_id, score)
        if answered is None:
            return None
        if answered.outcome == Outcome.RECORDED and answered.asks_comment:
            turn.state.start_form(FORM, STEP, **{SLOT: str(survey_id)})
        return list(answered.replies)

    # ------------------------------------------------------------------------------------ the comment

    async def intercept(self, turn: Turn) -> Replies | None:
        if turn.state.form != FORM or turn.payload is not None:
            return None
        return await self.on_form(turn)

    async def on_form(self, turn: Turn) -> Replies | None:
        state, text = turn.state, turn.text
        survey_id = parse_id(state.slots.get(SLOT, ""))
        if survey_id is None or state.step != STEP:
            state.clear_form()
            return None
        if keywords.is_cancel(text) or keywords.language_asked(text) is not None:
            return None  # the engine cancels (the wait ends, and it says so) or changes the language
        if keywords.yes_or_no(text) is False:  # nothing to add
            state.clear_form()
            return [self.surveys.comment_skipped(turn.identity)]
        if self._not_a_comment(turn):
            state.clear_form()
            return None  # answered as usual
        state.clear_form()
        said = await self.surveys.comment(turn.session, turn.identity, survey_id, text)
        return [said] if said is not None else None

    @staticmethod
    def _not_a_comment(turn: Turn) -> bool:
        """A new question, a danger, an account number, or small talk: clearly not what went wrong."""
        text, intent = turn.text, turn.nlu.intent
        if hazards_in(text) or keywords.account_number_in(text) or keywords.asks_progress(text):
            return True
        confident = turn.nlu.confidence >= CONFIDENT
        if intent in NEW_QUESTIONS and (confident or keywords.asks_whether(text)):
            return True
        return intent in CLOSING and confident

    # ----------------------------------------------------------------------- the "thanked" trigger

    async def after_thanks(self, turn: Turn, replies: Replies) -> Replies:
        """A thanks or a goodbye right after the bot answered a billing, outage or FAQ question: the survey
        follows the reply (when the rules allow one)."""
        if turn.payload is not None or turn.nlu.intent not in THANKS or turn.state.form is not None:
            return replies
        answered = await self.surveys.last_bot_intent(turn.session, turn.conversation)
        if answered == INFORM:  # a follow-up (那8月呢): the topic it continued is the one answered
            answered = turn.state.topic
        if not answers_a_question(answered):
            return replies
        offered = await self.surveys.offer(
            turn.session, turn.conversation, turn.identity, SurveyTrigger.THANKED, intent=answered
        )
        return [*replies, offered.message] if offered is not None else replies
