"""A few weeks of the past for the demo, so that the console's dashboard and reports have something to show on
`make run`: conversations (answered by the bot, or handed to a person who answered and resolved them), the
satisfaction surveys they ended with and their answers, the follow-ups (回访) of the low scores — most closed,
the newest open, one overdue —, free-text feedback, and the notices of planned outages already over, by stage
and segment, delivered or not, confirmed or not.

Pure and deterministic (its own seed; dates relative to `now`): build_history() plans it from the people the
demo has; load_history() writes it through the demo repository. Customer texts are data (what customers
wrote), in the customer's language."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.demo.data import SEED
from core.demo.repository import DemoRepository, HistoryContact, HistoryParty
from core.feedback.sentiment import sentiment_of
from core.models import (
    Conversation,
    Escalation,
    Feedback,
    FollowUp,
    Identity,
    IdentityAccount,
    Message,
    NoticeDelivery,
    Outage,
    OutageArea,
    Survey,
)
from core.models.enums import (
    ChatChannel,
    ConversationState,
    DeliveryChannel,
    DeliveryStatus,
    Direction,
    EscalationReason,
    EscalationState,
    FeedbackAspect,
    FollowUpState,
    OutageKind,
    OutageStatus,
    Segment,
    Stage,
    SubjectKind,
    SurveyTrigger,
    Tier,
)

HISTORY_SEED = SEED + 7
HISTORY_WEEKS = 6
HISTORY_AGENT = "agent.li"  # who answered the residents handed to a person
DAILY_CONVERSATIONS = (12, 26)  # a weekday's range; weekends have half
WEB_VISITORS = 40  # web chat sessions of people who never bound an account
LOW_SCORE = 2
FOLLOWUP_HOURS = 24
SURVEY_HOURS = 24

# what customers asked, by intent: (zh, en) — and what the bot answered
ASKED: dict[str, tuple[str, str]] = {
    "bill_amount": ("这个月电费多少", "How much is my bill this month?"),
    "bill_explain": ("电费怎么比上个月多了", "Why is my bill higher than last month?"),
    "usage_query": ("上个月用了多少度电", "How much power did I use last month?"),
    "outage_status": ("现在停电了吗", "Is there a power cut now?"),
    "planned_outage_query": ("最近有计划停电吗", "Any planned outages coming up?"),
    "payment_methods": ("怎么交电费", "How can I pay my bill?"),
    "tariff_query": ("峰谷电价是多少", "What are the peak and valley prices?"),
    "faq_ev_charger": ("充电桩怎么装", "How do I get an EV charger installed?"),
    "faq_capacity_change": ("增容怎么办理", "How do I apply for more capacity?"),
}
INTENT_WEIGHTS = (30, 10, 10, 18, 8, 8, 5, 6, 5)
ANSWERED: dict[str, tuple[str, str]] = {
    "bill_amount": (
        "已为您查到本期账单：电量、阶梯和峰谷电费如上。",
        "Here is this period's bill: usage, tiers and peak/valley.",
    ),
    "bill_explain": (
        "电费变化的原因：用电量增加，部分电量进入第二阶梯。",
        "Why it changed: more usage, some of it in tier 2.",
    ),
    "usage_query": ("已为您查到上月用电量。", "Here is last month's usage."),
    "outage_status": ("您所在区域目前供电正常。", "Power is on in your area."),
    "planned_outage_query": ("近期您所在区域没有计划停电。", "No planned outage in your area soon."),
    "payment_methods": ("可通过网上国网、银行代扣或营业厅缴费。", "Pay online, by bank debit or at a service hall."),
    "tariff_query": ("峰时电价与谷时电价如下。", "Peak and valley prices are as follows."),
    "faq_ev_charger": ("安装充电桩：带上房产证明和车位证明申请。", "EV charger: apply with proof of home and parking."),
    "faq_capacity_change": ("增容请提交申请，客户经理会联系您。", "Capacity change: apply and your manager will call."),
}
NOT_UNDERSTOOD = (("那个啥呃", "hmm that thing"), ("喂喂", "hello??"))
HANDOFF = (("转人工", "I want to talk to a person"), ("我要投诉，抢修太慢了", "I want to complain, repairs are slow"))
STAFF_SAYS = ("您好，我是人工客服，正在为您处理。", "Hello, a person here: I am looking into it.")
LOW_COMMENTS = (
    ("等了很久才有人回复，太慢了", "I waited far too long for an answer"),
    ("问题没有解决，很失望", "My problem was not solved, very disappointing"),
    ("停电通知太晚了", "The outage notice came too late"),
    ("电费算得不清楚，解释看不懂", "The bill explanation was confusing"),
)
FREE_FEEDBACK = (
    ("服务很好，回复很快", "Great service, quick answers"),
    ("通知很及时，谢谢", "The notice came in good time, thanks"),
    ("客服态度不错", "The agent was friendly"),
    ("抢修太慢了", "Repairs were too slow"),
    ("还行吧", "It was OK"),
)
CLOSING_NOTES = ("已回访，客户表示理解。", "已回访并解释账单，客户满意。", "已致电说明原因，客户接受。")
FIRST_REPLY_MINUTES = (1, 2, 2, 3, 3, 4, 4, 6, 9, 15)  # a few past the 5-minute target
SCORES_AFTER_PERSON = (5, 5, 5, 5, 4, 4, 4, 3, 3, 2, 1)
SCORES_AFTER_BOT = (5, 5, 5, 5, 5, 4, 4, 4, 3, 2, 1)
NOTICE_LEAD = {Stage.FIRST: timedelta(days=15), Stage.SECOND: timedelta(days=7), Stage.FINAL: timedelta(minutes=30)}


@dataclass(slots=True)
class Plan:
    """What load_history writes, as model rows whose foreign keys are filled in when written."""

    visitors: list[Identity] = field(default_factory=list)
    conversations: list[tuple[Conversation, HistoryParty | int]] = field(default_factory=list)  # int: visitor
    messages: list[tuple[int, Message]] = field(default_factory=list)  # by conversation index
    escalations: list[tuple[int, Escalation]] = field(default_factory=list)
    surveys: list[tuple[int, Survey]] = field(default_factory=list)
    feedback: list[tuple[int, Feedback, int | None]] = field(default_factory=list)  # conv., row, survey index
    followups: list[tuple[int, FollowUp]] = field(default_factory=list)  # by survey index
    outages: list[tuple[Outage, list[str]]] = field(default_factory=list)  # with their areas
    deliveries: list[tuple[int, NoticeDelivery]] = field(default_factory=list)  # by outage index


class _Planner:
    def __init__(self, now: datetime, tz: ZoneInfo, agent_id: int, creator_id: int) -> None:
        self.now = now
        self.tz = tz
        self.agent_id = agent_id
        self.creator_id = creator_id
        self.rng = random.Random(HISTORY_SEED)
        self.plan = Plan()
        self.overdue_left = 1  # one open follow-up already past its due time
        # the conversation being planned
        self.index = 0
        self.channel = ChatChannel.TELEGRAM
        self.language = "zh"
        self.clock = now

    def conversation(self, who: HistoryParty | int, language: str, channel: ChatChannel, at: datetime) -> None:
        """One conversation begun at `at`: a question answered (now and then after one not understood), then
        maybe a hand-off to a person or a free-text opinion, then maybe the survey and its answer."""
        rng = self.rng
        self.index, self.channel, self.language, self.clock = len(self.plan.conversations), channel, language, at
        conversation = Conversation(channel=channel, state=ConversationState.CLOSED, created_at=at)
        self.plan.conversations.append((conversation, who))
        party = who if isinstance(who, HistoryParty) else None
        if rng.random() < 0.07:
            self._say(Direction.IN, rng.choice(NOT_UNDERSTOOD), "nlu_fallback")
            self._say(Direction.OUT, ("抱歉，我没有理解。", "Sorry, I did not understand."))
        intent = rng.choices(list(ASKED), INTENT_WEIGHTS)[0]
        self._say(Direction.IN, ASKED[intent], intent)
        self._say(Direction.OUT, ANSWERED[intent])
        agent_id: int | None = None
        if rng.random() < 0.16:
            agent_id, intent = self._handed_off(party)
        elif rng.random() < 0.05:
            comment = self._say(Direction.IN, rng.choice(FREE_FEEDBACK), "feedback")
            feedback = Feedback(comment=comment, sentiment=sentiment_of(comment), created_at=self.clock)
            self.plan.feedback.append((self.index, feedback, None))
        conversation.last_message_at = self.clock
        if agent_id is not None:
            self._survey(party, SurveyTrigger.RESOLVED, agent_id, intent)
        elif rng.random() < 0.5:
            self._survey(party, rng.choice((SurveyTrigger.THANKED, SurveyTrigger.QUIET)), None, intent)

    def _say(
        self, direction: Direction, text: tuple[str, str], intent: str | None = None, staff_id: int | None = None
    ) -> str:
        """A message of the current conversation, a little after the one before; its text."""
        self.clock += timedelta(seconds=self.rng.randint(2, 90))
        said = text[1] if self.language == "en" else text[0]
        message = Message(
            channel=self.channel,
            direction=direction,
            text=said,
            intent=intent,
            confidence=None if intent is None else round(self.rng.uniform(0.72, 0.99), 2),
            staff_id=staff_id,
            created_at=self.clock,
        )
        self.plan.messages.append((self.index, message))
        return said

    def _handed_off(self, party: HistoryParty | None) -> tuple[int, str]:
        """The customer asks for a person (or complains); the key account's manager or the agent answers within
        minutes (now and then later than the target) and resolves it. Who answered, and the intent."""
        rng = self.rng
        asked = rng.choice(HANDOFF)
        reason = EscalationReason.HUMAN_HANDOFF if asked is HANDOFF[0] else EscalationReason.COMPLAINT
        intent = "human_handoff" if reason == EscalationReason.HUMAN_HANDOFF else "complaint"
        self._say(Direction.IN, asked, intent)
        created = self.clock
        agent_id = party.manager_id if party is not None and party.manager_id is not None else self.agent_id
        self.clock += timedelta(minutes=rng.choice(FIRST_REPLY_MINUTES), seconds=rng.randint(0, 59))
        first = self.clock
        self._say(Direction.OUT, STAFF_SAYS, staff_id=agent_id)
        self.clock += timedelta(minutes=rng.randint(4, 40))
        escalation = Escalation(
            account_id=party.account_id if party is not None else None,
            reason=reason,
            state=EscalationState.RESOLVED,
            assigned_to_id=agent_id,
            claimed_at=created + timedelta(seconds=rng.randint(20, 50)),
            first_response_at=first,
            resolved_at=self.clock,
            created_at=created,
        )
        self.plan.escalations.append((self.index, escalation))
        return agent_id, intent

    def _survey(self, party: HistoryParty | None, trigger: SurveyTrigger, agent_id: int | None, intent: str) -> None:
        """The survey of the current conversation (unless it would be sent after now), answered or not; a low
        score with its comment (most of the time) and its follow-up."""
        rng, index, language = self.rng, self.index, self.language
        sent = self.clock + (
            timedelta(minutes=rng.randint(10, 30)) if trigger == SurveyTrigger.QUIET else timedelta(seconds=5)
        )
        if sent >= self.now:
            return
        survey = Survey(
            account_id=party.account_id if party is not None else None,
            channel=self.channel,
            language=language,
            segment=party.segment if party is not None else None,
            agent_id=agent_id,
            intent=intent,
            trigger=trigger,
            sent_at=sent,
            expires_at=sent + timedelta(hours=SURVEY_HOURS),
            created_at=sent,
        )
        survey_index = len(self.plan.surveys)
        self.plan.surveys.append((index, survey))
        answered = sent + timedelta(seconds=rng.randint(10, 600))
        if rng.random() > 0.62 or answered >= self.now:
            return
        score = rng.choice(SCORES_AFTER_PERSON if agent_id is not None else SCORES_AFTER_BOT)
        survey.score, survey.answered_at = score, answered
        comment = None
        if score <= LOW_SCORE:
            if party is not None and party.segment == Segment.KEY_ACCOUNT:
                survey.aspect = rng.choice(list(FeedbackAspect))
            if rng.random() < 0.75:
                said = rng.choice(LOW_COMMENTS)
                comment = said[1] if language == "en" else said[0]
            self._followup(survey_index, party, agent_id, answered)
        feedback = Feedback(
            score=score,
            comment=comment,
            sentiment=sentiment_of(comment) if comment else None,
            created_at=answered,
        )
        self.plan.feedback.append((index, feedback, survey_index))

    def _followup(self, survey_index: int, party: HistoryParty | None, agent_id: int | None, at: datetime) -> None:
        owner = party.manager_id if party is not None and party.manager_id is not None else agent_id
        due = at + timedelta(hours=FOLLOWUP_HOURS)
        followup = FollowUp(owner_id=owner, due_at=due, state=FollowUpState.OPEN, created_at=at)
        if due < self.now and self.overdue_left and self.now - due < timedelta(days=3):
            self.overdue_left -= 1  # left open past its due time
        elif due < self.now:
            followup.state = FollowUpState.CLOSED
            followup.closed_at = at + timedelta(hours=self.rng.randint(2, FOLLOWUP_HOURS))
            followup.closed_by_id = owner or self.agent_id
            followup.note = self.rng.choice(CLOSING_NOTES)
        self.plan.followups.append((survey_index, followup))

    def past_outage(self, area: str, starts: datetime, recipients: list[HistoryContact]) -> None:
        """A planned outage over `area` that happened: its notices of the three stages, delivered (a few not),
        and the final notice's confirmations (most key accounts; some residents)."""
        rng = self.rng
        outage = Outage(
            kind=OutageKind.PLANNED,
            status=OutageStatus.COMPLETED,
            starts_at=starts,
            ends_at=starts + timedelta(hours=4),
            reason="线路检修",
            contact="95598",
            created_by_id=self.creator_id,
            published_at=starts - timedelta(days=20),
            completed_at=starts + timedelta(hours=4),
            created_at=starts - timedelta(days=20),
        )
        index = len(self.plan.outages)
        self.plan.outages.append((outage, [area]))
        for stage, lead in NOTICE_LEAD.items():
            for person in recipients:
                due = starts - lead
                key = person.segment == Segment.KEY_ACCOUNT
                roll = rng.random()
                status = (
                    DeliveryStatus.SENT if roll > 0.04 else rng.choice((DeliveryStatus.FAILED, DeliveryStatus.BLOCKED))
                )
                sent_at = due - timedelta(minutes=rng.randint(1, 20)) if status == DeliveryStatus.SENT else None
                acked_at = None
                if stage == Stage.FINAL and sent_at is not None and rng.random() < (0.9 if key else 0.45):
                    status, acked_at = DeliveryStatus.ACKED, sent_at + timedelta(minutes=rng.randint(1, 25))
                delivery = NoticeDelivery(
                    subject_kind=SubjectKind.OUTAGE,
                    tier=Tier.KEY_ACCOUNT if key else Tier.EVERYONE,
                    contact_key=person.contact_key,
                    identity_id=person.identity_id,
                    key_contact_id=person.key_contact_id,
                    account_id=person.account_id,
                    segment=Segment.KEY_ACCOUNT if key else Segment.RESIDENTIAL,
                    stage=stage,
                    channel=DeliveryChannel.TELEGRAM if person.telegram_chat_id else DeliveryChannel.EMAIL,
                    address=str(person.telegram_chat_id or person.email or ""),
                    telegram_chat_id=person.telegram_chat_id,
                    language=person.language,
                    due_at=due,
                    status=status,
                    attempts=1 if status != DeliveryStatus.FAILED else 3,
                    sent_at=sent_at,
                    acked_at=acked_at,
                    unconfirmed_alerted_at=(
                        sent_at + timedelta(minutes=15)
                        if key and stage == Stage.FINAL and sent_at is not None and acked_at is None
                        else None
                    ),
                    created_at=starts - timedelta(days=20),
                )
                self.plan.deliveries.append((index, delivery))


def _days(now: datetime, tz: ZoneInfo) -> list[datetime]:
    """Local midnights of the history's days, oldest first, up to yesterday."""
    today = now.astimezone(tz).date()
    first = today - timedelta(weeks=HISTORY_WEEKS)
    return [
        datetime.combine(first + timedelta(days=n), time(0, 0), tz).astimezone(UTC) for n in range((today - first).days)
    ]


def build_history(
    now: datetime,
    tz: ZoneInfo,
    parties: list[HistoryParty],
    contacts: list[HistoryContact],
    agent_id: int,
    creator_id: int,
) -> Plan:
    """The demo's past for `now`: deterministic for the same people and the same `now`."""
    planner = _Planner(now.astimezone(UTC), tz, agent_id, creator_id)
    rng = planner.rng
    planner.plan.visitors = [
        Identity(
            channel=ChatChannel.WEB,
            external_id=f"demo-visitor-{n:03d}",
            language="en" if n % 4 == 0 else "zh",
            created_at=now - timedelta(weeks=HISTORY_WEEKS),
        )
        for n in range(WEB_VISITORS)
    ]
    days = _days(now, tz)
    for day in days:
        low, high = DAILY_CONVERSATIONS
        count = rng.randint(low, high) // (2 if day.astimezone(tz).weekday() >= 5 else 1)
        for _ in range(count):
            at = day + timedelta(hours=rng.choice((8, 9, 10, 11, 14, 15, 16, 19, 20)), minutes=rng.randint(0, 59))
            if rng.random() < 0.3:
                visitor = rng.randrange(WEB_VISITORS)
                language = planner.plan.visitors[visitor].language
                planner.conversation(visitor, language, ChatChannel.WEB, at)
            elif parties:
                party = rng.choice(parties)
                planner.conversation(party, party.language, ChatChannel.TELEGRAM, at)
    by_area: dict[str, list[HistoryContact]] = {}
    for contact in contacts:
        by_area.setdefault(contact.area_code, []).append(contact)
    areas = sorted(by_area, key=lambda a: -len(by_area[a]))[:3]
    for weeks_ago, area in zip((5, 3, 1), areas, strict=False):
        starts = days[-7 * weeks_ago] + timedelta(hours=9) if len(days) >= 7 * weeks_ago else days[0]
        planner.past_outage(area, starts, by_area[area])
    return planner.plan


async def load_history(repo: DemoRepository, now: datetime, tz: ZoneInfo, creator_id: int, agent_id: int) -> int:
    """Write the demo's past (after the rest of the demo is written); the number of conversations. The key
    accounts' contacts on Telegram have talked to the bot before: they become identities bound to their
    account."""
    contacts = await repo.contacts_on_telegram()
    identities = [
        Identity(
            channel=ChatChannel.TELEGRAM,
            external_id=str(chat),
            telegram_chat_id=chat,
            language=language,
            created_at=since,
        )
        for chat, _, language, since in contacts
    ]
    await repo.add_all(identities)
    await repo.add_all(
        [
            IdentityAccount(identity_id=identity.id, account_id=account, verified_at=identity.created_at)
            for identity, (_, account, _, _) in zip(identities, contacts, strict=True)
        ]
    )
    plan = build_history(now, tz, await repo.history_parties(), await repo.history_contacts(), agent_id, creator_id)
    await repo.add_all(plan.visitors)
    for conversation, who in plan.conversations:
        if isinstance(who, HistoryParty):
            conversation.identity_id = who.identity_id
        else:
            conversation.identity_id = plan.visitors[who].id
    await repo.add_all([c for c, _ in plan.conversations])
    conversations = [c for c, _ in plan.conversations]
    for index, row in plan.messages:
        row.conversation_id = conversations[index].id
    for index, escalation in plan.escalations:
        escalation.conversation_id = conversations[index].id
        escalation.identity_id = conversations[index].identity_id
    for index, survey in plan.surveys:
        survey.conversation_id = conversations[index].id
        survey.identity_id = conversations[index].identity_id
    await repo.add_all([m for _, m in plan.messages] + [e for _, e in plan.escalations] + [s for _, s in plan.surveys])
    surveys = [s for _, s in plan.surveys]
    for index, feedback, survey_index in plan.feedback:
        feedback.conversation_id = conversations[index].id
        feedback.identity_id = conversations[index].identity_id
        feedback.survey_id = surveys[survey_index].id if survey_index is not None else None
    for survey_index, followup in plan.followups:
        followup.survey_id = surveys[survey_index].id
    await repo.add_all([f for _, f, _ in plan.feedback] + [f for _, f in plan.followups])
    await repo.add_all([o for o, _ in plan.outages])
    await repo.add_all([OutageArea(outage_id=o.id, area_code=a) for o, areas in plan.outages for a in areas])
    outages = [o for o, _ in plan.outages]
    for index, delivery in plan.deliveries:
        delivery.outage_id = delivery.subject_id = outages[index].id
    await repo.add_all([d for _, d in plan.deliveries])
    return len(conversations)
