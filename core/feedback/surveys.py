"""Satisfaction surveys (CSAT, 1-5 stars as buttons) after a conversation ends well, and the follow-up (回访) a
low score starts.

When: staff resolved the conversation (core.escalation.service.resolve), the customer thanked the bot or said
goodbye right after it answered a billing, outage or FAQ question (the dialogue's survey skill), or went quiet
for `survey_quiet_minutes` after such an answer (the worker's `offer_quiet`). One survey per conversation, a
few a day per customer (`survey_per_day`; the customer is the bound account, else the chat), never while a
person is on the line; in the customer's channel and language. An unanswered survey expires after
`survey_expiry_hours` (a late press is thanked, not counted); a score counts once (a second press is told so).

A score at or under `survey_low_score` asks what went wrong (free text, optional: the skill takes the next
message as the comment unless it is a new question) and creates the follow-up: owned by the key account's
manager (first-contact ownership, 首问负责制), else by the agent who handled the conversation, else by nobody
(the supervisors' queue); due in `followup_due_hours`. A key account is also asked which mattered most:
supply reliability, service quality or complaint handling. Listing and closing follow-ups is
core.feedback.followups; the reports core.feedback.reports.

Built once per process (core.services.CoreServices); a session per call; never commits. The rules themselves
are small pure functions: core.feedback.survey_rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.conversations.outbound import CustomerMessenger
from core.customers.repository import BindingRepository
from core.feedback.sentiment import sentiment_of
from core.feedback.survey_repository import SurveyRepository
from core.feedback.survey_rules import (
    ANSWERED_INTENTS,
    ASPECT,
    FAQ_PREFIX,
    STARS,
    SurveyRules,
    aspect_payload,
    awaits_answer,
    followup_owner,
    is_expired,
    is_low,
    may_offer,
    payload,
)
from core.models import Conversation, Feedback, FollowUp, Identity, Survey
from core.models.enums import FeedbackAspect, FollowUpState, Language, SurveyTrigger, values
from core.ports import Button, OutgoingMessage
from core.templating import Renderer

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger("gridtalk.feedback")

QUIET_BATCH = 100  # quiet conversations read at a time by the worker
QUIET_PAGES = 5  # batches a tick
MAX_COMMENT = 2000


# -------------------------------------------------------------------------------------------- the results


class Outcome(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # a second press: nothing changed
    EXPIRED = "expired"  # too late: not counted


@dataclass(frozen=True, slots=True)
class Offered:
    survey: Survey
    message: OutgoingMessage  # the question and its five stars


@dataclass(frozen=True, slots=True)
class Answered:
    outcome: Outcome
    survey: Survey
    replies: tuple[OutgoingMessage, ...]
    asks_comment: bool = False  # a low score: the next message may be the comment
    followup: FollowUp | None = None


class SurveyService:
    def __init__(
        self, clock: Clock, rules: SurveyRules, renderer: Renderer, messenger: CustomerMessenger, *, hotline: str
    ) -> None:
        self.clock = clock
        self.rules = rules
        self.renderer = renderer
        self.messenger = messenger
        self.hotline = hotline

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Clock, renderer: Renderer, messenger: CustomerMessenger
    ) -> SurveyService:
        return cls(clock, SurveyRules.from_settings(settings), renderer, messenger, hotline=settings.service_hotline)

    # ------------------------------------------------------------------------------------- sending one

    async def offer(
        self,
        session: AsyncSession,
        conversation: Conversation,
        identity: Identity,
        trigger: SurveyTrigger,
        *,
        intent: str | None,
        agent_id: int | None = None,
    ) -> Offered | None:
        """A survey for this conversation and the message that asks it; None when the rules say no (one in
        this conversation already, the customer's daily limit reached, a person on the line, a chat that
        blocked the bot). `agent_id`: who handled it (None: the conversation's latest escalation's assignee).
        The caller sends the message (in the turn's replies, or through `send`)."""
        repo = SurveyRepository(session)
        if identity.blocked_at is not None:
            return None
        await repo.lock_conversation(conversation.id)
        now = self.clock.now()
        account_id = await self._account_id(session, identity)
        allowed = may_offer(
            in_conversation=await repo.of_conversation(conversation.id) is not None,
            sent_recently=await repo.sent_since(identity.id, account_id, now - timedelta(days=1)),
            per_day=self.rules.per_day,
            person_on_line=await repo.person_on_line(conversation.id),
        )
        if not allowed:
            return None
        survey = repo.add(
            Survey(
                conversation_id=conversation.id,
                identity_id=identity.id,
                account_id=account_id,
                channel=identity.channel,
                language=self._language(identity),
                segment=await repo.segment_of(account_id) if account_id is not None else None,
                agent_id=agent_id if agent_id is not None else await repo.handler_of(conversation.id),
                intent=intent,
                trigger=trigger,
                sent_at=now,
                expires_at=now + self.rules.expiry,
                created_at=now,
            )
        )
        await session.flush()
        log.info("survey %s offered in conversation %s (%s)", survey.id, conversation.id, trigger)
        return Offered(survey, self.question(survey, self._language(identity)))

    async def send(
        self,
        session: AsyncSession,
        conversation: Conversation,
        identity: Identity,
        trigger: SurveyTrigger,
        *,
        intent: str | None,
        agent_id: int | None = None,
    ) -> Survey | None:
        """Offer a survey out of turn: its message goes into the transcript (the web chat reads it) and, for
        Telegram, through the outbox after the commit (core.conversations.outbound)."""
        offered = await self.offer(session, conversation, identity, trigger, intent=intent, agent_id=agent_id)
        if offered is None:
            return None
        message = offered.message
        await self.messenger.send(session, identity, message.text, buttons=message.buttons, conversation=conversation)
        return offered.survey

    def question(self, survey: Survey, language: str) -> OutgoingMessage:
        buttons = tuple(
            Button(self._render("survey_button", language, key="star", score=score), payload(survey.id, score))
            for score in reversed(STARS)
        )
        text = self._render("survey_question", language, trigger=str(survey.trigger))
        return OutgoingMessage(text, buttons)

    async def offer_quiet(self, session: AsyncSession, batch: int = QUIET_BATCH, pages: int = QUIET_PAGES) -> int:
        """Worker job: conversations quiet for `survey_quiet_minutes` after the bot answered a billing, outage
        or FAQ question get their survey, until twice that time has passed (later is too late to ask). Read a
        batch at a time, a few batches a tick (those the rules refuse are passed over). Idempotent: one survey
        per conversation. Returns how many were sent."""
        until = self.clock.now() - self.rules.quiet
        repo = SurveyRepository(session)
        sent, after = 0, 0
        for _ in range(pages):
            rows = await repo.quiet_conversations(
                since=until - self.rules.quiet,
                until=until,
                answered=ANSWERED_INTENTS,
                faq_prefix=FAQ_PREFIX,
                limit=batch,
                after=after,
            )
            for row in rows:
                if awaits_answer(row.answer.buttons):
                    continue
                offered = await self.send(
                    session, row.conversation, row.identity, SurveyTrigger.QUIET, intent=row.answer.intent
                )
                sent += offered is not None
            if len(rows) < batch:
                break
            after = rows[-1].answer.id
        return sent

    # ----------------------------------------------------------------------------------- answering one

    async def answer(self, session: AsyncSession, identity: Identity, survey_id: int, score: int) -> Answered | None:
        """A star pressed. Recorded once; a second press changes nothing (and says so); a late one is thanked
        and not counted. A low score asks what went wrong and creates the follow-up (a key account is also
        asked which aspect mattered). None: no such survey of this customer, or no such score."""
        repo = SurveyRepository(session)
        survey = await repo.get(survey_id)
        if survey is None or survey.identity_id != identity.id or score not in STARS:
            return None
        language = self._language(identity)
        now = self.clock.now()
        if survey.answered_at is not None:
            return Answered(Outcome.ALREADY, survey, (self._say("survey_already", language, score=survey.score),))
        if is_expired(survey.expires_at, now):
            return Answered(Outcome.EXPIRED, survey, (self._say("survey_expired", language),))
        if not await repo.record_score(survey, score, now):  # another press won meanwhile
            await session.refresh(survey)
            return Answered(Outcome.ALREADY, survey, (self._say("survey_already", language, score=survey.score),))
        session.add(
            Feedback(
                conversation_id=survey.conversation_id,
                identity_id=identity.id,
                score=score,
                survey_id=survey.id,
                created_at=now,
            )
        )
        if not is_low(score, self.rules.low_score):
            await session.flush()
            return Answered(Outcome.RECORDED, survey, (self._say("survey_thanks", language, score=score),))
        manager_id = await repo.manager_of(survey.account_id) if survey.account_id is not None else None
        active = await repo.active((manager_id, survey.agent_id))
        owner = followup_owner(
            manager_id=manager_id if manager_id in active else None,
            agent_id=survey.agent_id if survey.agent_id in active else None,
        )
        followup = FollowUp(
            survey_id=survey.id,
            owner_id=owner,
            due_at=now + self.rules.followup_due,
            state=FollowUpState.OPEN,
            created_at=now,
        )
        session.add(followup)
        await session.flush()
        log.info("survey %s scored %s: follow-up %s (owner %s)", survey.id, score, followup.id, owner)
        replies = [self._say("survey_ask_comment", language, score=score)]
        if manager_id is not None:  # a key account: which mattered most
            replies.append(self._aspect_question(survey, language))
        return Answered(Outcome.RECORDED, survey, tuple(replies), asks_comment=True, followup=followup)

    async def aspect(
        self, session: AsyncSession, identity: Identity, survey_id: int, aspect: str
    ) -> OutgoingMessage | None:
        """A key account's answer to "which mattered most" after a low score; once. None: not asked of them."""
        repo = SurveyRepository(session)
        survey = await repo.get(survey_id)
        if (
            survey is None
            or survey.identity_id != identity.id
            or aspect not in values(FeedbackAspect)
            or survey.score is None
            or not is_low(survey.score, self.rules.low_score)
            or survey.account_id is None
            or await repo.manager_of(survey.account_id) is None  # asked of key accounts only
        ):
            return None
        language = self._language(identity)
        if not await repo.record_aspect(survey, FeedbackAspect(aspect)):
            return self._say("survey_already", language, score=survey.score)
        await session.flush()
        return self._say("survey_aspect_thanks", language, aspect=aspect)

    async def comment(
        self, session: AsyncSession, identity: Identity, survey_id: int, text: str
    ) -> OutgoingMessage | None:
        """What went wrong, in the customer's words, kept with the score (and the sentiment of its words).
        None: no answered survey of this customer."""
        repo = SurveyRepository(session)
        survey = await repo.get(survey_id)
        if survey is None or survey.identity_id != identity.id or survey.answered_at is None:
            return None
        text = text.strip()[:MAX_COMMENT]
        feedback = await repo.answer_of(survey.id)
        if feedback is None:  # (an answer always has its row; a comment still finds a place)
            feedback = Feedback(
                conversation_id=survey.conversation_id,
                identity_id=identity.id,
                score=survey.score,
                survey_id=survey.id,
                created_at=self.clock.now(),
            )
            session.add(feedback)
        feedback.comment = f"{feedback.comment}\n{text}" if feedback.comment else text
        feedback.sentiment = sentiment_of(feedback.comment)
        await session.flush()
        return self._say("survey_comment_thanks", self._language(identity), skipped=False)

    def comment_skipped(self, identity: Identity) -> OutgoingMessage:
        """The customer has nothing to add ("没有"): thanked all the same."""
        return self._say("survey_comment_thanks", self._language(identity), skipped=True)

    async def last_bot_intent(self, session: AsyncSession, conversation: Conversation) -> str | None:
        """The intent the bot's latest message in the conversation answered (None: staff wrote last, the message
        was sent out of turn, or it is a form's question). A thanks right after a billing, outage or FAQ answer
        thanks for it."""
        message = await SurveyRepository(session).last_bot_answer(conversation.id)
        if message is None or awaits_answer(message.buttons):
            return None  # a form's question ("bind your account first") answered nothing yet
        return message.intent

    # -------------------------------------------------------------------------------------- helpers

    async def _account_id(self, session: AsyncSession, identity: Identity) -> int | None:
        """The account bound to this chat that answers are about (the current one, else the first bound)."""
        bound = await BindingRepository(session).bound(identity.id)
        chosen = next((b for b, _ in bound if b.is_current), bound[0][0] if bound else None)
        return chosen.account_id if chosen is not None else None

    def _aspect_question(self, survey: Survey, language: str) -> OutgoingMessage:
        buttons = tuple(
            Button(self._render("survey_button", language, key=ASPECT, aspect=a.value), aspect_payload(survey.id, a))
            for a in FeedbackAspect
        )
        return OutgoingMessage(self._render("survey_aspect", language), buttons)

    @staticmethod
    def _language(identity: Identity) -> str:
        return identity.language if identity.language in values(Language) else Language.ZH

    def _render(self, template: str, language: str, **context: object) -> str:
        context.setdefault("hotline", self.hotline)
        return self.renderer.render(f"dialogue/{template}", language, html=False, **context)

    def _say(self, template: str, language: str, **context: object) -> OutgoingMessage:
        return OutgoingMessage(self._render(template, language, **context))
