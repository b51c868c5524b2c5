"""NoticeRenderer on facts built by hand (no database): every stage in zh and en, the final confirmation's
buttons, escaping of what staff typed, key-account notices, the managers' alerts, and the button payloads."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.models.enums import OutageKind, OutageStatus
from core.notices.audiences import KeyAccountInfo
from core.notices.render import (
    NoticeRenderer,
    RenderedNotice,
    ack_payload,
    parse_payload,
    plain_text,
    problem_payload,
)
from core.outages.facts import AreaFacts, FeederFacts, OutageFacts
from core.ports import Button, OutgoingMessage
from core.templating import Renderer

STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored")
DETAILED = ("15d", "7d", "30m", "initial", "change")  # the stages announcing an outage to come
LANGUAGES = ("zh", "en")

# 22:00 UTC on the 9th is 06:00 on the 10th in Shanghai: the local date differs from the UTC one.
START = datetime(2026, 12, 9, 22, 0, tzinfo=UTC)
END = datetime(2026, 12, 10, 4, 15, tzinfo=UTC)
FACTS = OutageFacts(
    id=17,
    kind=OutageKind.PLANNED,
    status=OutageStatus.PUBLISHED,
    starts_at=START,
    ends_at=END,
    reason="10kV线路检修",
    contact="95598",
    areas=(AreaFacts("XH", "西湖区", "Xihu District"),),
    feeders=(
        FeederFacts("XH-F01", "文三线", "10kV 文三线（文三路开闭所—学院路环网柜）", "XH"),
        FeederFacts("XH-F02", "古荡线", "10kV 古荡线（古荡变—天目山路环网柜）", "XH"),
    ),
    completed_at=datetime(2026, 12, 10, 3, 40, tzinfo=UTC),  # 11:40 local
)
LOCAL_START, LOCAL_END, LOCAL_DONE = "2026-12-10 06:00", "2026-12-10 12:15", "2026-12-10 11:40"
AREA = {"zh": "西湖区", "en": "Xihu District"}
KEY = KeyAccountInfo(
    account_id=4,
    account_number="3390123456",
    customer_name="城西自来水厂",
    feeder_code="XH-F02",
    manager_id=4,
    manager_name="王建国",
    manager_phone="13800001111",
    manager_email="manager.wang@example.com",
    manager_chat_id=730_000_004,
)
TITLES = {
    "zh": {
        "15d": "【计划停电通知】",
        "7d": "【计划停电提醒】",
        "30m": "【停电最后确认】",
        "initial": "【计划停电通知】",
        "change": "【停电计划变更】",
        "cancel": "【停电取消】",
        "restored": "【恢复供电】",
    },
    "en": {
        "15d": "Planned power outage",
        "7d": "Reminder: planned power outage",
        "30m": "Final confirmation: power outage soon",
        "initial": "Planned power outage",
        "change": "Planned outage changed",
        "cancel": "Planned outage cancelled",
        "restored": "Power restored",
    },
}
OWN_FEEDER = {"zh": "（贵单位供电线路）", "en": "(supplies your site)"}
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


@pytest.fixture(scope="module")
def notices() -> NoticeRenderer:
    return NoticeRenderer(Renderer("Asia/Shanghai"))


def tags(html: str) -> set[str]:
    return set(TAG.findall(html))


# -------------------------------------------------------------------------------------- every stage


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_names_the_areas_feeders_local_times_and_reason(
    stage: str, language: str, notices: NoticeRenderer
) -> None:
    """DOMAIN.md: a notice gives the area / feeder / lines affected, start and end time, reason, contact."""
    notice = notices.notice(stage, language, FACTS)
    text = notice.plain
    assert text.splitlines()[0] == TITLES[language][stage]
    wanted = {
        "area": AREA[language],
        **{f"feeder {f.code}": f.name for f in FACTS.feeders},
        "local start": LOCAL_START,
        "local end": LOCAL_END,
        "reason": FACTS.reason,
        "contact": FACTS.contact,
    }
    missing = [what for what, value in wanted.items() if value not in text]
    assert missing == [], f"the {stage} notice ({language}) does not give its {', '.join(missing)}:\n{text}"
    assert "22:00" not in text and "2026-12-09" not in text  # never UTC


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_its_subject_and_only_the_templates_tags(
    stage: str, language: str, notices: NoticeRenderer
) -> None:
    notice = notices.notice(stage, language, FACTS)
    assert notice.subject.startswith(TITLES[language][stage])
    assert AREA[language] in notice.subject and LOCAL_START in notice.subject
    assert "\n" not in notice.subject and "<" not in notice.subject
    assert tags(notice.html) == {"<b>", "</b>"}
    assert notice.html.startswith(f"<b>{TITLES[language][stage]}</b>")
    assert notice.plain == plain_text(notice.html) and "<b>" not in notice.plain


@pytest.mark.parametrize(
    ("language", "details"),
    [
        (
            "zh",
            ["停电时间：2026-12-10 06:00 至 2026-12-10 12:15（约6小时15分钟）", "停电范围：西湖区（文三线、古荡线）"],
        ),
        (
            "en",
            [
                "When: 2026-12-10 06:00 to 2026-12-10 12:15 (about 6 h 15 min)",
                "Where: Xihu District (lines: 文三线, 古荡线)",
            ],
        ),
    ],
)
def test_the_details_give_the_duration_and_the_lines(
    language: str, details: list[str], notices: NoticeRenderer
) -> None:
    lines = notices.notice("15d", language, FACTS).plain.splitlines()
    for line in details:
        assert line in lines


def test_a_whole_hour_outage_has_no_minutes(notices: NoticeRenderer) -> None:
    facts = replace(FACTS, ends_at=START + timedelta(hours=4))
    assert "（约4小时）" in notices.notice("7d", "zh", facts).plain
    assert "(about 4 h)" in notices.notice("7d", "en", facts).plain


@pytest.mark.parametrize(("language", "when"), [("zh", "2026-12-10 进行"), ("en", "takes place on 2026-12-10")])
def test_the_reminder_names_the_local_day(language: str, when: str, notices: NoticeRenderer) -> None:
    assert when in notices.notice("7d", language, FACTS).plain


@pytest.mark.parametrize(("language", "when"), [("zh", "即将于 06:00 开始"), ("en", "starts at 06:00")])
def test_the_final_confirmation_names_the_local_start_time(language: str, when: str, notices: NoticeRenderer) -> None:
    assert when in notices.notice("30m", language, FACTS).plain


@pytest.mark.parametrize(("language", "when"), [("zh", f"已于 {LOCAL_DONE} 恢复供电"), ("en", f"since {LOCAL_DONE}")])
def test_the_restoration_says_when_power_came_back(language: str, when: str, notices: NoticeRenderer) -> None:
    assert when in notices.notice("restored", language, FACTS).plain
    not_done = notices.notice("restored", language, replace(FACTS, completed_at=None)).plain
    assert LOCAL_DONE not in not_done and AREA[language] in not_done


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unknown_stage_or_language_is_refused(language: str, notices: NoticeRenderer) -> None:
    with pytest.raises(KeyError):
        notices.notice("3d", language, FACTS)
    with pytest.raises(ValueError):
        notices.notice("15d", "fr", FACTS)


# ---------------------------------------------------------------------------------------- buttons


@pytest.mark.parametrize(
    ("language", "confirm", "problem"), [("zh", "确认收到", "有问题"), ("en", "Confirm", "Problem")]
)
def test_the_final_confirmation_on_telegram_has_confirm_and_problem_buttons(
    language: str, confirm: str, problem: str, notices: NoticeRenderer
) -> None:
    notice = notices.notice("30m", language, FACTS, delivery_id=42)
    assert notice.buttons == (Button(confirm, "notice:ack:42"), Button(problem, "notice:problem:42"))
    assert f"“{confirm}”" in notice.plain or f'"{confirm}"' in notice.plain  # the text tells which to press
    assert notice.message() == OutgoingMessage(notice.html, notice.buttons)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_the_final_confirmation_elsewhere_has_no_buttons_and_says_how_to_answer(
    channel: str, language: str, notices: NoticeRenderer
) -> None:
    residential = notices.notice("30m", language, FACTS, delivery_id=42, channel=channel)
    keyed = notices.notice("30m", language, FACTS, key=KEY, delivery_id=42, channel=channel)
    assert residential.buttons == () and keyed.buttons == ()
    assert residential.plain.splitlines()[-1].endswith(("95598。", "95598."))
    assert {"zh": "回复“已收到”", "en": 'replying "received"'}[language] in keyed.plain
    assert "王建国" in keyed.plain and "13800001111" in keyed.plain
    assert {"zh": "确认收到", "en": "Confirm"}[language] not in keyed.plain


def test_no_buttons_without_a_delivery_or_before_the_final_stage(notices: NoticeRenderer) -> None:
    assert notices.notice("30m", "zh", FACTS).buttons == ()
    for stage in STAGES:
        if stage != "30m":
            assert notices.notice(stage, "zh", FACTS, key=KEY, delivery_id=42).buttons == (), stage


def test_for_delivery_swaps_the_payloads_only(notices: NoticeRenderer) -> None:
    rendered = notices.notice("30m", "en", FACTS, key=KEY, delivery_id=1)
    mine = NoticeRenderer.for_delivery(rendered, 9001)
    assert mine.buttons == (Button("Confirm", "notice:ack:9001"), Button("Problem", "notice:problem:9001"))
    assert (mine.html, mine.subject) == (rendered.html, rendered.subject)
    assert rendered.buttons[0].payload == "notice:ack:1"  # the shared rendering is left as it was

    without = notices.notice("7d", "en", FACTS)
    assert NoticeRenderer.for_delivery(without, 9001) is without


# ---------------------------------------------------------------------------------------- escaping


HOSTILE_REASON = "<b>危险</b> & \"quoted\" 'single' <script>alert(1)</script>"
HOSTILE_CONTACT = '<a href="https://evil.example">95598</a>'


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("stage", STAGES)
def test_what_staff_typed_is_escaped_in_html_and_literal_in_plain(
    stage: str, language: str, notices: NoticeRenderer
) -> None:
    facts = replace(FACTS, reason=HOSTILE_REASON, contact=HOSTILE_CONTACT)
    notice = notices.notice(stage, language, facts, delivery_id=5)
    assert tags(notice.html) == {"<b>", "</b>"}  # none of the typed tags came through
    assert notice.html.count("<b>") == 1
    assert "<script>" not in notice.html and "<a href" not in notice.html
    assert "&lt;a href=&#34;https://evil.example&#34;&gt;95598&lt;/a&gt;" in notice.html
    assert HOSTILE_CONTACT in notice.plain
    if stage in DETAILED:
        assert "&lt;b&gt;危险&lt;/b&gt; &amp; &#34;quoted&#34; &#39;single&#39; &lt;script&gt;" in notice.html
        assert HOSTILE_REASON in notice.plain


def test_escaped_entities_in_what_staff_typed_stay_as_typed(notices: NoticeRenderer) -> None:
    facts = replace(FACTS, reason="use &amp; not & — a &lt;tag&gt;")
    notice = notices.notice("15d", "en", facts)
    assert "use &amp;amp; not &amp; — a &amp;lt;tag&amp;gt;" in notice.html
    assert "use &amp; not & — a &lt;tag&gt;" in notice.plain


def test_a_key_accounts_name_is_escaped_too(notices: NoticeRenderer) -> None:
    key = replace(KEY, customer_name="A&B <Works>", manager_name="王<i>建国</i>")
    notice = notices.notice("30m", "en", FACTS, key=key, delivery_id=5)
    assert tags(notice.html) == {"<b>", "</b>"}
    assert "A&amp;B &lt;Works&gt;" in notice.html and "王&lt;i&gt;建国&lt;/i&gt;" in notice.html
    assert "To A&B <Works>:" in notice.plain and "王<i>建国</i>" in notice.plain


# ------------------------------------------------------------------------------------- key accounts


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("stage", DETAILED)
def test_a_key_accounts_notice_names_the_account_its_manager_and_marks_its_feeder(
    stage: str, language: str, notices: NoticeRenderer
) -> None:
    text = notices.notice(stage, language, FACTS, key=KEY, delivery_id=3).plain
    lines = text.splitlines()
    assert lines[1].startswith({"zh": "城西自来水厂：", "en": "To 城西自来水厂:"}[language])
    assert {"zh": "贵单位：城西自来水厂（户号 3390123456）", "en": "Your account: 城西自来水厂 (account 3390123456)"}[
        language
    ] in lines
    manager = {
        "zh": "客户经理：王建国，24小时电话 13800001111",
        "en": "Your account manager: 王建国, 24-hour phone 13800001111",
    }[language]
    assert manager in lines
    own = [line for line in lines if OWN_FEEDER[language] in line]
    assert own == [f"· {FACTS.feeders[1].lines}{'' if language == 'zh' else ' '}{OWN_FEEDER[language]}"]
    assert f"· {FACTS.feeders[0].lines}" in lines  # the other feeder, unmarked
    assert FACTS.reason in text and LOCAL_START in text and LOCAL_END in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("stage", ["cancel", "restored"])
def test_a_key_accounts_closing_notice_names_its_manager(stage: str, language: str, notices: NoticeRenderer) -> None:
    text = notices.notice(stage, language, FACTS, key=KEY).plain
    assert text.splitlines()[1].startswith({"zh": "城西自来水厂：", "en": "To 城西自来水厂:"}[language])
    assert "王建国" in text and "13800001111" in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("stage", STAGES)
def test_a_residential_notice_names_no_account_or_manager(stage: str, language: str, notices: NoticeRenderer) -> None:
    text = notices.notice(stage, language, FACTS, delivery_id=3).plain
    assert text.splitlines()[1].startswith({"zh": "尊敬的客户：", "en": "Dear customer, "}[language])
    for private in ("王建国", "13800001111", "3390123456", OWN_FEEDER[language], "城西自来水厂"):
        assert private not in text


def test_a_manager_without_a_phone_leaves_the_phone_blank(notices: NoticeRenderer) -> None:
    text = notices.notice("15d", "zh", FACTS, key=replace(KEY, manager_phone=None)).plain
    assert "客户经理：王建国，24小时电话 " in text and "None" not in text


# --------------------------------------------------------------------------------- managers' alerts


@pytest.mark.parametrize(
    ("language", "subject", "contacts", "waited"),
    [
        ("zh", "【停电确认未回复】城西自来水厂", "联系人：郑国华、冯涛", "已于 05:30 发出，10 分钟内无人回复"),
        (
            "en",
            "Outage not confirmed: 城西自来水厂",
            "Contacts: 郑国华, 冯涛",
            "sent at 05:30 has had no answer for 10 minutes",
        ),
    ],
)
def test_the_unconfirmed_alert_names_the_contacts_and_the_wait(
    language: str, subject: str, contacts: str, waited: str, notices: NoticeRenderer
) -> None:
    sent_at = START - timedelta(minutes=30)
    alert = notices.manager_alert(
        "unconfirmed", language, FACTS, KEY, contacts=["郑国华", "冯涛"], sent_at=sent_at, minutes=10
    )
    text = alert.plain
    assert alert.subject == subject and text.splitlines()[0] == subject
    assert contacts in text.splitlines() and waited in text
    assert LOCAL_START in text and "3390123456" in text
    assert alert.buttons == ()

    unsent = notices.manager_alert("unconfirmed", language, FACTS, KEY, contacts=["郑国华"], sent_at=None, minutes=10)
    assert "05:30" not in unsent.plain and "郑国华" in unsent.plain


@pytest.mark.parametrize(
    ("language", "subject", "said"),
    [
        ("zh", "【停电问题反馈】城西自来水厂", f"冯涛、郑国华 对 {LOCAL_START} 开始的计划停电反馈“有问题”"),
        (
            "en",
            "Problem reported: 城西自来水厂",
            f'冯涛, 郑国华 pressed "Problem" on the planned outage starting {LOCAL_START}',
        ),
    ],
)
def test_the_problem_alert_names_who_pressed_problem(
    language: str, subject: str, said: str, notices: NoticeRenderer
) -> None:
    alert = notices.manager_alert("problem", language, FACTS, KEY, contacts=("冯涛", "郑国华"), sent_at=None, minutes=0)
    assert alert.subject == subject
    assert said in alert.plain and "3390123456" in alert.plain
    assert alert.buttons == ()


def test_an_alert_escapes_the_contact_names(notices: NoticeRenderer) -> None:
    alert = notices.manager_alert("problem", "en", FACTS, KEY, contacts=["<b>Eve</b> & co"], sent_at=None, minutes=0)
    assert tags(alert.html) == {"<b>", "</b>"} and alert.html.count("<b>") == 1
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in alert.html and "<b>Eve</b> & co" in alert.plain


def test_an_unknown_alert_is_refused(notices: NoticeRenderer) -> None:
    with pytest.raises(KeyError):
        notices.manager_alert("late", "zh", FACTS, KEY, contacts=[], sent_at=None, minutes=0)


# ---------------------------------------------------------------------------------------- payloads


@pytest.mark.parametrize("delivery_id", [0, 1, 42, 2**31 - 1])
def test_payloads_round_trip_and_fit_telegrams_64_bytes(delivery_id: int) -> None:
    assert parse_payload(ack_payload(delivery_id)) == ("ack", delivery_id)
    assert parse_payload(problem_payload(delivery_id)) == ("problem", delivery_id)
    assert len(problem_payload(delivery_id).encode()) <= 64


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "notice:ack:",
        "notice:problem:",
        "notice:ack:abc",
        "notice:ack:-1",
        "notice:ack:+1",
        "notice:ack:1.5",
        "notice:ack: 1",
        "notice:ack:1 ",
        "notice:ack:1:2",
        "notice:maybe:1",
        "notice:1",
        "ack:1",
        "NOTICE:ACK:1",
        "intent:outage_status",
        "xnotice:ack:1",
        "notice:ack:²",  # a superscript two: str.isdigit() says yes, int() says no
        "notice:ack:１２",  # full-width digits
        "notice:problem:٣",  # an Arabic-Indic three
        "notice:ack:2147483648",  # beyond the id columns (INTEGER)
        "notice:ack:9223372036854775807",
    ],
)
def test_parse_payload_rejects_anything_else(payload: str) -> None:
    assert parse_payload(payload) is None


def test_a_rendered_notice_is_its_html_and_buttons() -> None:
    notice = RenderedNotice("<b>T</b>\nA &amp; B", "T", (Button("Confirm", "notice:ack:1"),))
    assert notice.plain == "T\nA & B"
    assert notice.message() == OutgoingMessage("<b>T</b>\nA &amp; B", (Button("Confirm", "notice:ack:1"),))


# ------------------------------------------------------------------------------- too long for Telegram


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("stage", ("15d", "30m", "initial", "change"))
@pytest.mark.parametrize("key", (None, KEY))
def test_a_notice_too_long_for_telegram_is_shortened_keeping_the_essentials(
    stage: str, language: str, key: KeyAccountInfo | None, notices: NoticeRenderer
) -> None:
    facts = replace(FACTS, reason="线路<改造>&检修。" * 600)
    notice = notices.notice(stage, language, facts, key=key, delivery_id=9)
    assert len(plain_text(notice.html)) <= 4096 < len(notice.html)  # as Telegram counts: after the entities
    assert TITLES[language][stage] in notice.html
    assert LOCAL_START in notice.html and AREA[language] in notice.html
    assert "95598" in notice.html  # the contact, and the note that the details are there
    note = {"zh": "以上为节选", "en": "This notice was shortened"}[language]
    assert note in notice.html and notice.html.rstrip().endswith("</i>")
    assert "线路&lt;改造&gt;&amp;检修" in notice.html and "…" in notice.html  # escaped, cut short
    assert TAG.sub("", notice.html).count("<") == 0  # no tag cut in half
    if key is not None:
        assert "王建国" in notice.html
    if stage == "30m":
        assert [b.payload for b in notice.buttons] == ["notice:ack:9", "notice:problem:9"]
    by_email = notices.notice(stage, language, facts, key=key, delivery_id=9, channel="email")
    assert len(plain_text(by_email.html)) > 4096 and note not in by_email.html  # email carries it whole


def test_a_notice_that_fits_is_not_touched(notices: NoticeRenderer) -> None:
    facts = replace(FACTS, reason="检" * 3000)
    notice = notices.notice("15d", "zh", facts)
    assert "检" * 3000 in notice.html and "以上为节选" not in notice.html
