"""The KPI dashboard, the satisfaction report and the follow-ups in headless Chromium, against the real api process
on the demo data plus eight weeks of activity this test writes (conversations with the NLU's intents, hand-offs
answered sooner or later, satisfaction surveys with comments, low scores' follow-ups, one overdue, and the
notices of a past planned outage): a supervisor signs in and lands on the dashboard (every KPI with its chart,
the notices' delivery and confirmation rates), opens the report from the navigation and the follow-ups, and closes
one from its form. Screenshots at 1280 px (reports/screenshots/console-dashboard-{zh,en}.png,
console-feedback-{zh,en}.png, console-followups-zh.png); at a phone's width nothing may overflow."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Page, ViewportSize, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import SystemClock
from core.models import (
    Conversation,
    Escalation,
    Feedback,
    FollowUp,
    Identity,
    KeyAccountProfile,
    Message,
    NoticeDelivery,
    Outage,
    OutageArea,
    StaffUser,
    Survey,
    UtilityAccount,
)
from core.models.enums import (
    ChatChannel,
    DeliveryChannel,
    DeliveryStatus,
    Direction,
    EscalationReason,
    EscalationState,
    FollowUpState,
    OutageKind,
    OutageStatus,
    Segment,
    Sentiment,
    Stage,
    SubjectKind,
    SurveyTrigger,
    Tier,
)
from tests.support.browser import PHONE, LiveApi, fits, screenshot, sign_in

pytestmark = pytest.mark.rasa  # the api process is started with the real Rasa server

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
WEEKS = 8
STAGES = ((Stage.FIRST, timedelta(days=15)), (Stage.SECOND, timedelta(days=7)), (Stage.FINAL, timedelta(minutes=30)))
COMMENTS = (  # (score, comment, sentiment)
    (5, "客服很耐心，问题很快解决了", Sentiment.POSITIVE),
    (4, "", None),
    (4, "还可以", Sentiment.NEUTRAL),
    (5, "", None),
    (2, "停电通知太晚了，冰箱里的东西都坏了", Sentiment.NEGATIVE),
    (1, "电话 13912345678 打了三次都没人接", Sentiment.NEGATIVE),
    (3, "", None),
)


# The surveys (by the order they are written) answered with a low score, and their follow-ups.
LOW = {0: COMMENTS[4], 4: COMMENTS[5], 8: COMMENTS[4]}
FOLLOWUPS = {
    0: ("open", timedelta(hours=20), FollowUpState.OPEN),
    4: ("overdue", -timedelta(days=2), FollowUpState.OPEN),
    8: ("closed", -timedelta(days=9), FollowUpState.CLOSED),
}


@dataclass
class Activity:
    """What the test wrote: the follow-ups by name, the agent owning them."""

    agent_id: int
    followups: dict[str, int] = field(default_factory=dict)


async def write_activity(session: AsyncSession, now: datetime) -> Activity:
    """Eight weeks of conversations, hand-offs, surveys and notices, ending now (deterministic but for `now`)."""
    rng = random.Random(14)
    agent = await session.scalar(select(StaffUser).where(StaffUser.username == "agent.li"))
    key_account = await session.scalar(select(KeyAccountProfile.account_id).order_by(KeyAccountProfile.account_id))
    resident = await session.scalar(select(UtilityAccount.id).order_by(UtilityAccount.id))
    area = await session.scalar(select(UtilityAccount.area_code).where(UtilityAccount.id == resident))
    assert agent is not None and key_account is not None and resident is not None and area is not None
    activity = Activity(agent.id)
    surveys: list[Survey] = []
    for week in range(WEEKS):
        for n in range(3 + week % 3):
            at = now - timedelta(days=7 * week + n % 3, hours=2 + n)
            low = LOW.get(len(surveys))
            surveys.append(await _conversation(session, rng, agent.id, at, n, resident, low))
    for index, (name, due, state) in FOLLOWUPS.items():
        followup = FollowUp(survey_id=surveys[index].id, owner_id=agent.id, due_at=now + due, state=state)
        followup.created_at = surveys[index].sent_at
        if state == FollowUpState.CLOSED:
            followup.note, followup.closed_at, followup.closed_by_id = "已回访，客户表示理解", now + due, agent.id
        session.add(followup)
        await session.flush()
        activity.followups[name] = followup.id
    await _notices(session, rng, now, area, key_account)
    return activity


async def _conversation(
    session: AsyncSession,
    rng: random.Random,
    agent_id: int,
    at: datetime,
    n: int,
    account_id: int,
    low: tuple[int, str, Sentiment | None] | None,
) -> Survey:
    """A conversation of two customer messages, handed to the agent every other time, and its survey: answered
    (`low`: with that low score and comment) but every third."""
    identity = Identity(channel=ChatChannel.WEB, external_id=f"browser-kpi-{at.timestamp()}-{n}", created_at=at)
    session.add(identity)
    await session.flush()
    conversation = Conversation(identity_id=identity.id, channel=ChatChannel.WEB, created_at=at)
    session.add(conversation)
    await session.flush()
    for i, intent in enumerate(("bill_amount", rng.choice(("nlu_fallback", "outage_status", "greet")))):
        session.add(
            Message(
                conversation_id=conversation.id,
                channel=ChatChannel.WEB,
                direction=Direction.IN,
                text="…",
                intent=intent,
                confidence=0.3 if intent == "nlu_fallback" else 0.9,
                created_at=at + timedelta(minutes=i),
            )
        )
    handed = n % 2 == 0
    if handed:
        session.add(
            Escalation(
                conversation_id=conversation.id,
                identity_id=identity.id,
                reason=EscalationReason.HUMAN_HANDOFF,
                state=EscalationState.RESOLVED,
                first_response_at=at + timedelta(minutes=3, seconds=rng.randint(0, 420)),
                created_at=at + timedelta(minutes=2),
            )
        )
    score, comment, sentiment = low or COMMENTS[rng.randrange(len(COMMENTS))]
    answered = low is not None or n != 2
    survey = Survey(
        conversation_id=conversation.id,
        identity_id=identity.id,
        account_id=account_id,
        channel=ChatChannel.WEB,
        language="zh",
        segment=Segment.RESIDENTIAL,
        agent_id=agent_id if handed else None,
        intent="bill_amount",
        trigger=SurveyTrigger.RESOLVED,
        sent_at=at + timedelta(minutes=30),
        expires_at=at + timedelta(hours=24),
        answered_at=at + timedelta(minutes=35) if answered else None,
        score=score if answered else None,
        created_at=at + timedelta(minutes=30),
    )
    session.add(survey)
    await session.flush()
    if answered:
        session.add(
            Feedback(
                conversation_id=conversation.id,
                identity_id=identity.id,
                score=score,
                comment=comment or None,
                sentiment=sentiment,
                survey_id=survey.id,
                created_at=at + timedelta(minutes=35),
            )
        )
    return survey


async def _notices(session: AsyncSession, rng: random.Random, now: datetime, area: str, key_account: int) -> None:
    """A planned outage of each of the last weeks with its three notices to key accounts and residents: most
    sent, some failed, most of the 30-minute ones confirmed."""
    for week in range(WEEKS):
        starts = now - timedelta(days=7 * week + 1)
        outage = Outage(
            kind=OutageKind.PLANNED,
            status=OutageStatus.COMPLETED,
            starts_at=starts,
            ends_at=starts + timedelta(hours=4),
            reason="10kV线路检修",
            contact="95598",
            published_at=starts - timedelta(days=20),
            created_at=starts - timedelta(days=20),
            areas=[OutageArea(area_code=area)],
        )
        session.add(outage)
        await session.flush()
        for stage, before in STAGES:
            for i, segment in enumerate([Segment.KEY_ACCOUNT] * 3 + [Segment.RESIDENTIAL] * 8):
                session.add(_delivery(outage.id, stage, starts - before, f"{i}", segment, key_account, rng))


def _delivery(
    outage_id: int, stage: Stage, due: datetime, key: str, segment: Segment, key_account: int, rng: random.Random
) -> NoticeDelivery:
    status = _status(rng, stage, segment)
    return NoticeDelivery(
        subject_kind=SubjectKind.OUTAGE,
        subject_id=outage_id,
        tier=Tier.KEY_ACCOUNT if segment == Segment.KEY_ACCOUNT else Tier.EVERYONE,
        outage_id=outage_id,
        contact_key=f"browser:{outage_id}:{key}",
        account_id=key_account if segment == Segment.KEY_ACCOUNT else None,
        segment=segment,
        stage=stage,
        channel=DeliveryChannel.TELEGRAM,
        address="100",
        due_at=due,
        status=status,
        sent_at=due if status in (DeliveryStatus.SENT, DeliveryStatus.ACKED) else None,
        acked_at=due + timedelta(minutes=3) if status == DeliveryStatus.ACKED else None,
        created_at=due - timedelta(days=1),
    )


def _status(rng: random.Random, stage: Stage, segment: Segment) -> DeliveryStatus:
    if rng.random() < (0.04 if segment == Segment.KEY_ACCOUNT else 0.12):
        return DeliveryStatus.FAILED
    if stage == Stage.FINAL and rng.random() < (0.9 if segment == Segment.KEY_ACCOUNT else 0.6):
        return DeliveryStatus.ACKED
    return DeliveryStatus.SENT


async def at_phone_width(page: Page, url: str) -> None:
    await page.set_viewport_size(PHONE)
    await page.goto(url)
    await fits(page)
    await page.set_viewport_size(DESKTOP)


async def test_a_supervisor_reads_the_dashboard_the_report_and_closes_a_followup(page: Page, live_api: LiveApi) -> None:
    url = live_api.url
    async with live_api.sessionmaker() as session:
        activity = await write_activity(session, SystemClock().now())
        await session.commit()
    await page.set_viewport_size(DESKTOP)

    # The home page of a supervisor: the KPI dashboard.
    await sign_in(page, url, "supervisor.zhou")
    await expect(page.get_by_role("heading", name="运营指标", level=1)).to_be_visible()
    for name in ("机器人独立解决率", "转人工会话", "人工首次响应时间", "首次响应达标率", "满意度（CSAT）", "未理解率"):
        card = page.locator("article.kpi", has=page.get_by_role("heading", name=name, exact=True))
        await expect(card.locator("svg.chart")).to_be_visible()
        await expect(card.locator(".kpi-value strong")).not_to_have_text("—")
    await expect(page.locator("#kpi-first_response")).to_contain_text("≤ 5.0 分钟")
    await expect(page.get_by_role("img", name="满意度（CSAT）（每周）")).to_be_visible()
    notices = page.locator("#notices-30m")
    await expect(notices.get_by_role("heading", name="提前 30 分钟（需确认）")).to_be_visible()
    await expect(notices.get_by_role("rowheader", name="大客户")).to_be_visible()
    await expect(notices.get_by_role("rowheader", name="居民")).to_be_visible()
    await expect(notices.get_by_role("img", name="提前 30 分钟（需确认）：每周送达率")).to_be_visible()
    await fits(page)
    await screenshot(page, "console-dashboard-zh")
    await page.goto(f"{url}/console?lang=en")
    await expect(page.get_by_role("heading", name="Key figures", level=1)).to_be_visible()
    await expect(page.get_by_role("heading", name="First responses on time")).to_be_visible()
    await screenshot(page, "console-dashboard-en")
    await at_phone_width(page, f"{url}/console")

    # The satisfaction report, from the navigation.
    await page.goto(f"{url}/console?lang=zh")
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="满意度", exact=True).click()
    await expect(page.get_by_role("heading", name="满意度报告", level=1)).to_be_visible()
    await expect(page.locator(".tile").first).to_contain_text("%")
    await expect(page.get_by_role("img", name="每周满意度")).to_be_visible()
    await expect(page.get_by_role("img", name="每周回复数")).to_be_visible()
    await expect(page.get_by_role("heading", name="按渠道")).to_be_visible()
    low = page.locator("section[aria-labelledby=fb-low]")
    await expect(low.get_by_role("heading", name="低分评论（2 星及以下）")).to_be_visible()
    await expect(low.locator("li .badge.score").first).to_contain_text("星")
    await expect(page.get_by_role("link", name="导出 CSV")).to_be_visible()
    await fits(page)
    await screenshot(page, "console-feedback-zh")
    await page.goto(f"{url}/console/feedback?lang=en")
    await expect(page.get_by_role("heading", name="Satisfaction report", level=1)).to_be_visible()
    await expect(page.get_by_role("img", name="CSAT per week")).to_be_visible()
    await screenshot(page, "console-feedback-en")
    await at_phone_width(page, f"{url}/console/feedback")

    # The follow-ups: the overdue one in red; one closed from its form.
    await page.goto(f"{url}/console/followups?lang=zh")
    overdue = page.locator(f"#followup-{activity.followups['overdue']}")
    await expect(overdue).to_have_class("card followup overdue")
    await expect(overdue.locator(".tag.bad")).to_have_text("已逾期")
    await expect(overdue).to_contain_text("电话 139******** 打了三次都没人接")  # the phone masked
    await expect(page.locator(f"#followup-{activity.followups['closed']}")).to_have_count(0)  # the open ones
    card = page.locator(f"#followup-{activity.followups['open']}")
    await expect(card).to_contain_text("agent.li")
    await card.get_by_label("回访结果").fill("已电话回访，客户接受解释")
    await card.get_by_role("button", name="记录并关闭").click()
    await expect(page.get_by_role("status")).to_contain_text(f"回访 #{activity.followups['open']} 已关闭。")
    await expect(page.locator(f"#followup-{activity.followups['open']}")).to_have_count(0)
    async with live_api.sessionmaker() as session:
        closed = await session.get(FollowUp, activity.followups["open"])
        assert closed is not None and closed.state == FollowUpState.CLOSED and closed.note == "已电话回访，客户接受解释"
    await fits(page)
    await screenshot(page, "console-followups-zh")
    await at_phone_width(page, f"{url}/console/followups")
