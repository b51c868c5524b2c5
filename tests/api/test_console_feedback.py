"""The console's satisfaction pages and KPI dashboard over HTTP, signed in with the console's cookie: the report
(/console/feedback) in zh and en for each role's scope, its period fields, its charts and the CSV export link
(only for those who may export); the follow-ups (/console/followups) per role with their views, overdue ones
flagged, and the close form (CSRF, audited, refused input answered with the form and the note kept); the KPI
dashboard as the home page of supervisors and account managers (scoped) and not of agents. Data: the feedback
data set of tests/core/feedback and the KPI data set of tests/core/kpis. SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.console.charts import percent1
from core.clock import FrozenClock
from core.config import Settings
from tests.core.feedback.feedback_world import PHONE, RESIDENT, FeedbackWorld, load_feedback_world
from tests.core.kpis.kpi_world import load_kpi_world
from tests.support.staff import Console, api_client, audit_rows, bearer, console_login

CJK = re.compile(r"[\u4e00-\u9fff]")
CARD = re.compile(r'<article class="card followup( overdue)?" id="followup-(\d+)"')
EXPORT = re.compile(r'<a class="button" href="([^"]+)" download>')
SVG = re.compile(r'<svg [^>]*role="img" aria-labelledby="([^"]+)-title \1-desc"')

SignIn = Callable[[str], Awaitable[Console]]


@pytest.fixture
async def sign_in(clock: FrozenClock, settings: Settings) -> AsyncIterator[SignIn]:
    """A console session (its own client and cookie) per staff user asked for."""
    async with AsyncExitStack() as stack:

        async def open_as(username: str) -> Console:
            http = await stack.enter_async_context(api_client(settings, clock))
            return await console_login(http, username)

        yield open_as


@pytest.fixture
async def feedback_world(sessionmaker: async_sessionmaker[AsyncSession]) -> FeedbackWorld:
    return await load_feedback_world(sessionmaker)


async def page(console: Console, path: str, **params: str | int) -> str:
    """The page (`status`: the status expected, 200 by default; the other arguments: the query)."""
    status = params.pop("status", 200)
    response = await console.http.get(path, params=params or None)
    assert response.status_code == status, (path, response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("text/html")
    return html.unescape(response.text)


def cards(text: str, world: FeedbackWorld) -> list[tuple[str, bool]]:
    """The follow-ups a page lists, in order: (name in the data set, flagged overdue)."""
    names = {str(v): k for k, v in world.followups.items()}
    return [(names[number], bool(overdue)) for overdue, number in CARD.findall(text)]


# -- the satisfaction report --------------------------------------------------------------------------------


async def test_the_report_shows_the_figures_tables_charts_and_comments_in_chinese(
    feedback_world: FeedbackWorld, sign_in: SignIn
) -> None:
    supervisor = await sign_in("super.fb")
    text = await page(supervisor, "/console/feedback")
    assert '<html lang="zh-CN">' in text and "<h1>满意度报告</h1>" in text
    assert 'value="2026-10-05"' in text and 'value="2026-11-23"' in text  # the default period: 8 weeks to now
    # CSAT 2 of 5 answers, average 3.00, 5 of 7 surveys answered
    for figure in ("40.0%", "3.00", "71.4%", "已回复 5 份 / 发出 7 份问卷"):
        assert figure in text, figure
    for heading in ("按渠道", "按客户类型", "按客服", "按问题类型", "每周趋势", "评论情感", "低分评论（2 星及以下）"):
        assert heading in text, heading
    assert "机器人（无人工）" in text and '<th scope="row">电费金额</th>' in text  # s2 had no agent; an intent's name
    assert SVG.findall(text) == ["fb-csat", "fb-responses"]
    assert "W46 —, W47 67%, W48 0%" in text  # the CSAT chart describes every week's value
    # low scores' comments, numbers masked; comments by sentiment
    assert "停电太久，打138********没人接" in text and "户号33******03账单不对" in text
    assert PHONE not in text and RESIDENT not in text
    assert re.search(r"负面</span> <strong>2</strong>", text) and re.search(r"合计</span> <strong>5</strong>", text)
    assert 'href="/console/feedback" aria-current="page"' in text


async def test_the_report_in_english(feedback_world: FeedbackWorld, sign_in: SignIn) -> None:
    admin = await sign_in("admin.fb")
    text = await page(admin, "/console/feedback", lang="en")
    assert '<html lang="en">' in text and "<h1>Satisfaction report</h1>" in text
    for words in ("CSAT", "Response rate", "5 of 7 surveys answered", "By channel", "web chat", "Answers per week"):
        assert words in text, words
    # no Chinese but the language switch's own name and the customers' words, kept as written
    kept = ("中文", "停电太久，打138********没人接", "户号33******03账单不对")
    assert all(w in text for w in kept)
    for w in kept:
        text = text.replace(w, "")
    assert not CJK.findall(text)


async def test_each_role_sees_its_own_surveys_and_only_exporters_get_the_csv_link(
    feedback_world: FeedbackWorld, sign_in: SignIn
) -> None:
    answered = {
        "admin.fb": "已回复 5 份 / 发出 7 份问卷",
        "alice": "已回复 3 份 / 发出 4 份问卷",  # the surveys of the conversations she handled
        "wang": "已回复 1 份 / 发出 1 份问卷",  # his key account's
        "zhao": "已回复 0 份 / 发出 1 份问卷",
    }
    for user, words in answered.items():
        console = await sign_in(user)
        text = await page(console, "/console/feedback")
        assert words in text, user
        links = EXPORT.findall(text)
        if user == "admin.fb":
            [link] = links
            assert link.startswith("/api/v1/feedback/report.csv?from=2026-10-04T16%3A00%3A00%2B00%3A00&to=")
            csv = await console.http.get(link)
            assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
            assert "feedback-2026-10-05-2026-11-23.csv" in csv.headers["content-disposition"]
        else:
            assert links == [], user
            refused = await console.http.get("/api/v1/feedback/report.csv")
            assert refused.status_code == 403, user


async def test_the_period_comes_from_the_date_fields_and_bad_dates_keep_what_was_typed(
    feedback_world: FeedbackWorld, sign_in: SignIn
) -> None:
    supervisor = await sign_in("super.fb")
    week = await page(supervisor, "/console/feedback", **{"from": "2026-11-16", "to": "2026-11-22"})
    assert "已回复 3 份 / 发出 4 份问卷" in week and "2026-11-16 至 2026-11-22（Asia/Shanghai）" in week
    assert 'value="2026-11-16"' in week and 'value="2026-11-22"' in week
    assert SVG.findall(week) and "W47" in week and "W48" not in week
    link = EXPORT.findall(week)[0]
    assert "from=2026-11-15T16%3A00%3A00%2B00%3A00&to=2026-11-22T16%3A00%3A00%2B00%3A00" in link

    bad = await page(supervisor, "/console/feedback", status=422, **{"from": "2026-13-01", "to": "2026-11-22"})
    assert "请输入有效的日期（年-月-日）。" in bad and 'value="2026-13-01"' in bad and 'aria-invalid="true"' in bad
    assert "按渠道" not in bad and not EXPORT.findall(bad)
    backwards = await page(supervisor, "/console/feedback", status=422, **{"from": "2026-11-22", "to": "2026-11-01"})
    assert "开始日期不能晚于结束日期" in backwards and 'value="2026-11-22"' in backwards
    too_long = await page(supervisor, "/console/feedback", status=422, lang="en", **{"from": "2020-01-01"})
    assert "a period covers at most 371 days" in too_long


async def test_anonymous_visitors_are_sent_to_sign_in(clock: FrozenClock, settings: Settings) -> None:
    async with api_client(settings, clock) as http:
        for path in ("/console/feedback", "/console/followups"):
            response = await http.get(path)
            assert response.status_code == 303 and response.headers["location"] == f"/console/login?next={path}"
        post = await http.post("/console/followups/1/close", data={"note": "x"})
        assert post.status_code == 303 and post.headers["location"].startswith("/console/login")


# -- follow-ups ---------------------------------------------------------------------------------------------


async def test_followups_per_role_and_view_overdue_ones_flagged(feedback_world: FeedbackWorld, sign_in: SignIn) -> None:
    supervisor = await sign_in("super.fb")
    text = await page(supervisor, "/console/followups")
    assert "<h1>回访</h1>" in text
    assert cards(text, feedback_world) == [("fu4", True), ("fu1", True), ("fu2", False)]  # open ones, due first
    assert text.count('<strong class="tag bad">已逾期</strong>') == 2
    fu1 = text[text.index(f'id="followup-{feedback_world.followups["fu1"]}"') :]
    fu1 = fu1[: fu1.index("</article>")]
    for words in ("wang", "Telegram", "大客户", "1 星", "停电太久，打138********没人接", "负面", "2026-11-19 10:00"):
        assert words in fu1, words
    assert f'<textarea id="note-{feedback_world.followups["fu1"]}" name="note"' in fu1
    assert PHONE not in text
    closed = await page(supervisor, "/console/followups", view="closed")
    assert cards(closed, feedback_world) == [("fu3", False)]
    assert "主管队列（未分配）" in closed and "super.fb 于 2026-09-02 09:00" in closed and "回访：已解释" in closed
    assert "<textarea" not in closed
    assert [n for n, _ in cards(await page(supervisor, "/console/followups", view="all"), feedback_world)] == [
        "fu3",
        "fu4",
        "fu1",
        "fu2",
    ]
    assert cards(await page(supervisor, "/console/followups", view="overdue"), feedback_world) == [
        ("fu4", True),
        ("fu1", True),
    ]
    seen = {}
    for user in ("bob", "wang", "zhao", "alice"):
        seen[user] = [n for n, _ in cards(await page(await sign_in(user), "/console/followups"), feedback_world)]
    assert seen == {"bob": ["fu2"], "wang": ["fu1"], "zhao": ["fu4"], "alice": []}
    english = await page(supervisor, "/console/followups", lang="en")
    assert "<h1>Follow-ups</h1>" in english and "overdue" in english and "Note it and close" in english


async def test_closing_a_followup_from_its_form(
    feedback_world: FeedbackWorld, sign_in: SignIn, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    bob = await sign_in("bob")
    fu2 = feedback_world.followups["fu2"]
    form = {"note": "已回访：账单已重新核对", "view": "open"}
    no_token = await bob.http.post(f"/console/followups/{fu2}/close", data=form)
    assert no_token.status_code == 403 and not await audit_rows(sessionmaker, action="followup.close")

    done = await bob.http.post(f"/console/followups/{fu2}/close", data={**form, "csrf_token": bob.csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/console/followups?view=open&done={fu2}"
    after = await page(bob, done.headers["location"])
    assert f"回访 #{fu2} 已关闭。" in after and cards(after, feedback_world) == []
    closed = await page(bob, "/console/followups", view="closed")
    assert cards(closed, feedback_world) == [("fu2", False)] and "已回访：账单已重新核对" in closed
    [row] = await audit_rows(sessionmaker, action="followup.close")
    assert (row.staff_id, row.target_id) == (feedback_world.staff["bob"], str(fu2))

    again = await bob.http.post(f"/console/followups/{fu2}/close", data={**form, "csrf_token": bob.csrf})
    assert again.status_code == 409 and "该回访已被关闭。" in html.unescape(again.text)


async def test_a_refused_close_answers_the_list_with_the_error_and_the_note_kept(
    feedback_world: FeedbackWorld, sign_in: SignIn, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    wang = await sign_in("wang")
    fu1 = feedback_world.followups["fu1"]
    empty = await wang.http.post(f"/console/followups/{fu1}/close", data={"note": "   ", "csrf_token": wang.csrf})
    text = html.unescape(empty.text)
    assert empty.status_code == 422 and "请填写回访结果（最多 2000 字）。" in text
    assert f'aria-invalid="true" aria-describedby="note-{fu1}-error"' in text
    long_note = "客户说明了情况。" * 300  # 2400 characters: over the limit
    too_long = await wang.http.post(
        f"/console/followups/{fu1}/close", data={"note": long_note, "csrf_token": wang.csrf, "view": "all"}
    )
    text = html.unescape(too_long.text)
    assert too_long.status_code == 422 and f">{long_note}</textarea>" in text  # nothing typed is lost
    assert '<option value="all" selected>' in text and cards(text, feedback_world)[0][0] == "fu1"
    # another's follow-up is not found (its existence is not told); nothing was closed
    fu2 = feedback_world.followups["fu2"]
    other = await wang.http.post(f"/console/followups/{fu2}/close", data={"note": "看看", "csrf_token": wang.csrf})
    assert other.status_code == 404 and "找不到该回访，或您无权处理。" in html.unescape(other.text)
    assert not await audit_rows(sessionmaker, action="followup.close")


# -- the KPI dashboard --------------------------------------------------------------------------------------


def kpi_value(text: str, key: str) -> str:
    found = re.search(rf'id="kpi-{key}".*?<p class="kpi-value"><strong>(.*?)</strong>', text, re.S)
    assert found, key
    return found.group(1)


async def test_the_dashboard_is_the_home_of_supervisors_with_every_kpi_and_the_notice_rates(
    sessionmaker: async_sessionmaker[AsyncSession], sign_in: SignIn
) -> None:
    await load_kpi_world(sessionmaker)
    supervisor = await sign_in("super.fb")
    period = {"from": "2026-11-09", "to": "2026-11-23"}
    text = await page(supervisor, "/console", **period)
    board = (await supervisor.http.get("/api/v1/kpis", params={"from": "2026-11-08T16:00:00Z"})).json()
    assert "<h1>运营指标</h1>" in text and "2026-11-09 至 2026-11-23（Asia/Shanghai）" in text
    names = ("机器人独立解决率", "转人工会话", "人工首次响应时间", "首次响应达标率", "满意度（CSAT）", "未理解率")
    kpis = {k["key"]: k for k in board["kpis"]}
    assert list(kpis) == ["containment", "escalations", "first_response", "first_response_met", "csat", "nlu_fallback"]
    for key, name in zip(kpis, names, strict=True):
        assert f'<h3 id="kpi-{key}-name">{name}</h3>' in text
        assert f'id="chart-{key}"' in text
    for key in ("containment", "first_response_met", "csat", "nlu_fallback"):
        assert kpi_value(text, key) == percent1(kpis[key]["value"]), key
    assert kpi_value(text, "escalations") == f"{kpis['escalations']['value']:.0f}"
    assert kpis["first_response"]["target"] == 300 and "≤ 5.0 分钟" in text and "目标 5.0 分钟" in text
    assert text.count("未设目标") == 5
    # the notices: per stage, key accounts and residents, each with its weekly chart
    notices = text[text.index('id="notices-title"') :]
    for stage in ("提前 15 天", "提前 30 分钟（需确认）", "恢复送电通知"):
        assert stage in notices, stage
    assert notices.index("大客户") < notices.index("居民")
    assert 'id="chart-notices-30m"' in notices and "大客户: W46" in notices
    # the links to the other pages stay
    assert 'href="/console/followups"' in text and "其他页面" in text
    english = await page(supervisor, "/console", lang="en", **period)
    for words in ("Key figures", "Bot containment", "First response time", "Delivered", "Other pages"):
        assert words in english, words


async def test_an_account_manager_sees_the_dashboard_of_their_key_accounts_and_an_agent_keeps_the_links(
    sessionmaker: async_sessionmaker[AsyncSession], sign_in: SignIn
) -> None:
    await load_kpi_world(sessionmaker)
    wang = await sign_in("wang")
    text = await page(wang, "/console", **{"from": "2026-11-09", "to": "2026-11-23"})
    assert "<h1>运营指标</h1>" in text and "仅统计您负责的大客户" in text
    token = await bearer(wang.http, "wang")
    own = (await wang.http.get("/api/v1/kpis", params={"from": "2026-11-08T16:00:00Z"}, headers=token)).json()
    containment = next(k for k in own["kpis"] if k["key"] == "containment")
    assert kpi_value(text, "containment") == ("—" if containment["value"] is None else percent1(containment["value"]))
    assert '<th scope="row">大客户</th>' in text and '<th scope="row">居民</th>' not in text  # no resident is his
    alice = await sign_in("alice")
    home = await page(alice, "/console")
    assert "运营指标" not in home and "<h1>您好，alice</h1>" in home
    assert 'href="/console/feedback"' in home and 'href="/console/followups"' in home
    bad = await page(await sign_in("super.fb"), "/console", status=422, **{"from": "2026-11-30", "to": "2026-11-01"})
    assert "开始日期不能晚于结束日期" in bad and 'value="2026-11-30"' in bad and "其他页面" in bad


async def test_the_dashboard_with_nothing_recorded(feedback_world: FeedbackWorld, sign_in: SignIn) -> None:
    text = await page(await sign_in("admin.fb"), "/console", **{"from": "2025-01-06", "to": "2025-01-19"})
    assert "本时段没有到期的停电通知。" in text and text.count("暂无数据") >= 4
    assert len(SVG.findall(text)) == 6
