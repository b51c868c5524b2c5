"""The one call a transport makes for a customer's message: understand it, answer it, keep the transcript.

    result = await conversations.handle(session, identity, Incoming(text="我家这个月电费多少"), store)

The NLU is asked first; when it is unreachable the keyword rules stand in and the customer is told once
(until it answers again). Every message in and out is stored (core.models.Message) with the channel, the
intent and the NLU's confidence. The caller owns the transaction (nothing here commits) and the state store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.service import BillingService
from core.clock import Clock
from core.config import Settings
from core.conversations.memo import turn_memo
from core.conversations.repository import ConversationRepository, MessageRepository
from core.customers.account_binding import AccountBinding
from core.customers.service import IdentityService
from core.dialogue.context import AfterCommit, DialogueConfig, DialogueServices, Turn
from core.dialogue.engine import DialogueEngine
from core.dialogue.keywords import match_intent, second_opinion
from core.dialogue.notices import NoticeResponder
from core.dialogue.state import DialogueState, KeyValueStateStore, StateBackend, StateStore
from core.errors import DomainError, InvalidInput
from core.faults.attachments import Attachment, Location
from core.faults.reports import OutageReports
from core.faults.service import FaultService
from core.feedback.service import FeedbackService
from core.models import Conversation, Identity, Message
from core.models.enums import Language, values
from core.observability.metrics import Metrics
from core.ports import NluClient, NluResult, NluUnavailable, OutgoingMessage
from core.security import mask_customer_text, mask_digits
from core.templating import Renderer

if TYPE_CHECKING:
    from core.services import CoreServices

log = logging.getLogger("gridtalk.dialogue")

MAX_TEXT = 4096  # Telegram's limit for one message
SEEN_EVERY = timedelta(minutes=1)  # an identity's last_seen_at is written at most this often (as a staff session's)
MAX_PAYLOAD = 64


@dataclass(frozen=True, slots=True)
class Incoming:
    """What the customer sent: text they typed, or the payload of a button they pressed, or a photo or a
    location (Telegram; the text is then its caption, if any: core.faults.attachments)."""

    text: str | None = None
    payload: str | None = None
    attachment: Attachment | None = None

    def __post_init__(self) -> None:
        has_text = bool(self.text and self.text.strip())
        if self.attachment is not None:
            if self.payload is not None:
                raise InvalidInput("a photo or a location comes with no button payload", field="payload")
        elif has_text == bool(self.payload):
            raise InvalidInput("send either a non-empty text or a button payload", field="text")
        if self.text is not None and len(self.text) > MAX_TEXT:
            raise InvalidInput(f"a message has at most {MAX_TEXT} characters", field="text")
        if self.payload is not None and len(self.payload) > MAX_PAYLOAD:
            raise InvalidInput(f"a payload has at most {MAX_PAYLOAD} characters", field="payload")


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a transport read with the identity, for the turn not to read it again."""

    conversation: Conversation | None  # the identity's latest conversation (None: it has none yet)


@dataclass(frozen=True, slots=True)
class TurnResult:
    replies: tuple[OutgoingMessage, ...]
    intent: str | None
    confidence: float | None
    language: str
    nlu_available: bool
    after_commit: tuple[AfterCommit, ...] = ()  # for the transport to run once the turn is committed


class ConversationService:
    def __init__(
        self,
        engine: DialogueEngine,
        nlu: NluClient,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        turns_in_flight: int = 8,
    ) -> None:
        self.engine = engine
        self.nlu = nlu
        self.clock = clock
        self.metrics = metrics
        # At most this many turns at once (GRIDTALK_CHAT_TURNS_IN_FLIGHT), taken by the transport before its first
        # query (the web chat's post, the Telegram webhook): the others wait their turn, in order, holding no
        # database connection, so a storm queues instead of overrunning Rasa and the connection pool.
        self.admission = asyncio.Semaphore(turns_in_flight)

    @property
    def idle_seconds(self) -> int:
        return int(self.engine.config.idle.total_seconds())

    def start_parse(self, incoming: Incoming) -> asyncio.Task[NluResult] | None:
        """The NLU's parse of a typed message, started now (a task) so that the turn's reads that do not depend
        on it go on meanwhile; None when there is nothing to parse (a button, a photo or a location alone)."""
        text = (incoming.text or "").strip()
        if incoming.payload is not None or not text:
            return None
        return asyncio.ensure_future(self.nlu.parse(text))

    async def handle(
        self,
        session: AsyncSession,
        identity: Identity,
        incoming: Incoming,
        store: StateStore,
        *,
        parsing: Awaitable[NluResult] | None = None,
        loaded: Loaded | None = None,
    ) -> TurnResult:
        """One turn. `parsing`: the NLU's parse already started (start_parse); `loaded`: what the transport
        already read with the identity (its latest conversation). While the NLU parses, the turn reads what
        does not depend on it: the state, the conversation, the bound accounts, the outages at the account.
        A transport takes its place among the turns in flight (`admission`) before it opens the database."""
        task = parsing if parsing is not None else self.start_parse(incoming)
        try:
            with turn_memo(session):
                return await self._handle(session, identity, incoming, store, task, loaded)
        finally:
            if isinstance(task, asyncio.Future):
                settle(task)

    async def _prefetch(self, session: AsyncSession, identity: Identity, now: datetime) -> None:
        """What a turn of a bound customer reads whatever the NLU says, read while it parses (kept in the turn's
        memo): the bound accounts, and the outages going on now at the current one (told first)."""
        services = self.engine.services
        account = await services.binding.current(session, identity)
        if account is not None:
            await services.outages.current(session, now, account)

    async def _handle(
        self,
        session: AsyncSession,
        identity: Identity,
        incoming: Incoming,
        store: StateStore,
        parsing: Awaitable[NluResult] | None,
        loaded: Loaded | None,
    ) -> TurnResult:
        now = self.clock.now()
        state = await store.load()
        if state.is_idle(now, self.idle_seconds):
            state = DialogueState()
        conversation = await self._conversation(session, identity, now, loaded)
        if parsing is not None:
            await self._prefetch(session, identity, now)
        messages = MessageRepository(session)
        text = (incoming.text or "").strip()
        nlu_up = True
        source = "nlu"
        if incoming.payload is not None:
            source = "button"
            kind, _, arg = incoming.payload.partition(":")
            understood = NluResult(text="", intent=arg if kind == "intent" else "", confidence=1.0)
            text_in = await self._button_title(messages, conversation.id, incoming.payload)
        elif not text:  # a photo or a location alone: nothing for the NLU
            source = "attachment"
            understood = NluResult(text="", intent="", confidence=1.0)
            text_in = ""
        else:
            text_in = text
            try:
                understood = await (parsing if parsing is not None else self.nlu.parse(text))
            except NluUnavailable as exc:
                log.warning("NLU unavailable, using keyword rules: %s", exc)
                nlu_up = False
                source = "keywords"
                understood = NluResult(text=text, intent=match_intent(text), confidence=0.0)
        # the transcript keeps what the NLU understood (or, without it, what the keyword rules found)
        intent = understood.intent or None
        confidence = understood.confidence if source == "nlu" else None
        if source == "nlu" and (second := second_opinion(understood.intent, text)) != understood.intent:
            understood = dataclasses.replace(understood, intent=second)
        if incoming.attachment is not None:  # the transcript says what came with the message
            text_in = self._attachment_note(identity, incoming.attachment, text_in)
        messages.add(
            Message(
                conversation_id=conversation.id,
                channel=identity.channel,
                direction="in",
                text=text_in,
                payload=incoming.payload,
                buttons=[],
                intent=intent,
                confidence=confidence,
                truncated=understood.truncated,
                created_at=now,
            )
        )
        log.info("turn identity=%s intent=%s source=%s", identity.id, intent, source)
        log.debug("turn identity=%s text=%s", identity.id, mask_customer_text(text)[:80])  # customer text: DEBUG only
        turn = Turn(
            session=session,
            identity=identity,
            conversation=conversation,
            state=state,
            text=text,
            payload=incoming.payload,
            nlu=understood,
            now=now,
        )
        # The message in waits in the session until the turn's writes go together at the end (or a skill's own
        # flush): on SQLite the write lock is then held for the end of the turn only, not through all its reads.
        with session.no_autoflush:
            replies = await self.engine.respond(turn) if text or incoming.attachment is None else []
            if incoming.attachment is not None:  # the fault skill takes photos and locations (after the caption)
                replies += await self._attachment(turn, incoming.attachment, answered=bool(text))
        if not nlu_up and not state.nlu_down_notified:
            replies.insert(0, self.engine.replies.say(turn, "nlu_down"))
            state.nlu_down_notified = True
        elif nlu_up and source == "nlu":
            state.nlu_down_notified = False
        for reply in replies:
            messages.add(
                Message(
                    conversation_id=conversation.id,
                    channel=identity.channel,
                    direction="out",
                    text=reply.text,
                    payload=None,
                    buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons],
                    intent=understood.intent or None,  # the intent answered
                    confidence=None,
                    truncated=False,
                    created_at=now,
                )
            )
        conversation.last_message_at = now
        if identity.last_seen_at is None or now - identity.last_seen_at >= SEEN_EVERY:
            identity.last_seen_at = now  # one UPDATE fewer in most turns: a customer's turns come seconds apart
        await session.flush()
        state.updated_at = now
        await store.save(state)
        if self.metrics is not None:
            self.metrics.turn(identity.channel, understood.intent or None, source)
        return TurnResult(
            tuple(replies), understood.intent or None, confidence, turn.language, nlu_up, tuple(turn.after_commit)
        )

    async def _conversation(
        self, session: AsyncSession, identity: Identity, now: datetime, loaded: Loaded | None = None
    ) -> Conversation:
        """The identity's conversation; a new one after the idle time (or the first time)."""
        repo = ConversationRepository(session)
        conversation = loaded.conversation if loaded is not None else await repo.latest(identity.id)
        last = (conversation.last_message_at or conversation.created_at) if conversation is not None else None
        if conversation is None or last is None or (now - last).total_seconds() > self.idle_seconds:
            conversation = repo.add(
                Conversation(identity_id=identity.id, channel=identity.channel, created_at=now, last_message_at=now)
            )
            await session.flush()
        return conversation

    async def _attachment(self, turn: Turn, attachment: Attachment, *, answered: bool) -> list[OutgoingMessage]:
        try:
            return await self.engine.faults.on_attachment(turn, attachment, answered=answered)
        except DomainError as exc:  # as the engine answers one: politely, with its code
            log.info("domain error taking an attachment: %s", mask_digits(exc.message))
            return [self.engine.replies.say(turn, "error", code=exc.code)]

    def _attachment_note(self, identity: Identity, attachment: Attachment, caption: str) -> str:
        """The transcript's line for a photo or a location (and its caption), in the customer's language."""
        place = attachment.place if isinstance(attachment, Location) else ""
        language = identity.language if identity.language in values(Language) else Language.ZH
        return self.engine.replies.renderer.render(
            "dialogue/attachment_note", language, kind=str(attachment.kind), place=place, caption=caption
        )[:MAX_TEXT]

    @staticmethod
    async def _button_title(messages: MessageRepository, conversation_id: int, payload: str) -> str:
        """What the pressed button said, from the latest messages that offered it ("" if none did)."""
        for buttons in await messages.recent_buttons(conversation_id):
            for button in buttons:
                if button.get("payload") == payload:
                    return str(button.get("title", ""))
        return ""


def settle(task: asyncio.Future[NluResult]) -> None:
    """A parse the turn no longer waits for (it failed before): cancelled if still running, its outcome taken
    if it ended (no "exception never retrieved" in the log)."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


async def run_after_commit(actions: Sequence[AfterCommit]) -> None:
    """A committed turn's actions, in order; a failure is logged and the rest still run (the turn stands)."""
    for what, action in actions:
        try:
            await action()
        except Exception as exc:
            log.warning("after commit: %s failed: %s: %s", what, type(exc).__name__, mask_digits(str(exc)))
            log.debug("after commit: %s failed", what, exc_info=True)


class WebChat:
    """The web chat's two calls: post a message to a session, read what the session received after an id."""

    def __init__(self, conversations: ConversationService, states: StateBackend, identities: IdentityService) -> None:
        self.conversations = conversations
        self.states = states
        self.identities = identities

    async def post(self, session: AsyncSession, session_id: str, incoming: Incoming) -> TurnResult:
        """One turn of a session: the NLU starts parsing first, while the session's identity, conversation and
        bound accounts are read (one query). It waits first for a place among the turns in flight."""
        async with self.conversations.admission:
            parsing = self.conversations.start_parse(incoming)
            try:
                with turn_memo(session):
                    identity, latest = await self.identities.web_turn(session, session_id)
                    store = KeyValueStateStore(self.states, f"web:{identity.id}", self.conversations.idle_seconds)
                    return await self.conversations.handle(
                        session, identity, incoming, store, parsing=parsing, loaded=Loaded(latest)
                    )
            finally:
                if parsing is not None:
                    settle(parsing)

    async def history(self, session: AsyncSession, session_id: str, after: int, limit: int = 100) -> list[Message]:
        if after < 0:
            raise InvalidInput("after must not be negative", field="after")
        identity = await self.identities.web_identity(session, session_id)
        return await MessageRepository(session).after(identity.id, after, limit)


def build_conversations(
    settings: Settings,
    clock: Clock,
    nlu: NluClient,
    *,
    renderer: Renderer | None = None,
    notices: NoticeResponder | None = None,
    metrics: Metrics | None = None,
    core: CoreServices | None = None,
) -> ConversationService:
    """The conversation service from Settings: the engine, its templates, the domain services its skills call
    (the process's CoreServices, or built here, once) and the notice confirmations (the buttons of a final
    confirmation, and the outage_ack intent in free text)."""
    from core.customers.sms import SmsCodeSender
    from core.notices.email import EmailChannel
    from core.services import CoreServices

    core = core or CoreServices.build(settings, clock, renderer)
    renderer = core.renderer
    config = DialogueConfig.from_settings(settings)
    services = DialogueServices(
        # with an SMS gateway, binding verifies by a code sent to the account's phone (else its last 4 digits)
        binding=AccountBinding(
            clock, config.binding, codes=core.codes, sms=SmsCodeSender(settings) if settings.sms_webhook_url else None
        ),
        billing=BillingService(),
        outages=core.outage_queries,
        faults=FaultService(
            clock, config.timezone, audit=core.audit, reports=OutageReports.from_settings(settings, clock)
        ),
        escalation=core.escalations,
        feedback=FeedbackService(clock),
        surveys=core.surveys,
        notices=notices or core.notice_responder(),
        codes=core.codes,
        email=EmailChannel.from_settings(settings) if settings.smtp_host else None,
        applications=core.applications,
        statements=core.statements,
    )
    engine = DialogueEngine(config, renderer, services)
    return ConversationService(engine, nlu, clock, metrics=metrics, turns_in_flight=settings.chat_turns_in_flight)
