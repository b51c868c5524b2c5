"""The /chat page in headless Chromium against the real api process (its own port, the test database with the
demo data, the real Rasa server): a conversation typed and clicked as a customer would, then a message
that arrives later (as a staff reply does) shown without a reload, in Chinese and in English."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from core.models import Conversation, Identity, Message
from core.models.enums import ChatChannel, Direction
from core.templating import money
from tests.support.browser import TIMEOUT_MS, LiveApi, screenshot
from tests.support.dialogue import bills_of, demo_account

pytestmark = pytest.mark.rasa

SAY = {
    "zh": {
        "greet": "你好",
        "bind": "绑定户号 {number}",
        "phone": "手机尾号{last4}",
        "bill": "我家这个月电费多少",
    },
    "en": {
        "greet": "hello",
        "bind": "link my account {number}",
        "phone": "the phone number ends with {last4}",
        "bill": "how much is my electricity bill this month",
    },
}
SEE = {
    "zh": {
        "label": "您的消息",
        "pay_button": "缴费方式",
        "pay_answer": "微信",
        "bound": "验证通过",
        "staff": "您好，我是客服小李，已经看到您的留言，稍后为您处理。",
        "menu_button": "看看还能做什么",
    },
    "en": {
        "label": "Your message",
        "pay_button": "How to pay",
        "pay_answer": "WeChat",
        "bound": "Verified",
        "staff": "Hello, this is Li from customer service: I have read your message and will get back to you.",
        "menu_button": "What else can you do",
    },
}
# Every message the page shows from the server carries its id; none is shown twice, none is pending.
SHOWN_IDS = "[...document.querySelectorAll('#log .msg[data-id]')].map(e => Number(e.dataset.id))"
LAST_ID = f"Math.max(0, ...{SHOWN_IDS})"
ANSWERED = """(before) => !document.querySelector('#log .msg.pending')
  && [...document.querySelectorAll('#log .msg.out[data-id]')].some(e => Number(e.dataset.id) > before)"""


async def answer_after(page: Page, before: int) -> str:
    """Wait for the bot's answer to what was sent after message `before`; its text (every reply)."""
    await page.wait_for_function(ANSWERED, arg=before, timeout=TIMEOUT_MS)
    rows = page.locator("#log .msg.out[data-id]")
    texts = []
    for i in range(await rows.count()):
        row = rows.nth(i)
        if int(await row.get_attribute("data-id") or 0) > before:
            texts.append(await row.inner_text())
    return "\n".join(texts)


async def say(page: Page, language: str, text: str) -> str:
    """Type `text` into the labelled input, press Enter, and return the answer."""
    before = await page.evaluate(LAST_ID)
    box = page.get_by_label(SEE[language]["label"])
    await box.fill(text)
    await box.press("Enter")
    await expect(page.locator("#log .msg.in .bubble", has_text=text).last).to_be_visible()
    return await answer_after(page, before)


async def press(page: Page, title: str) -> str:
    """Press the latest button with this title from the keyboard (focus, Enter) and return the answer."""
    before = await page.evaluate(LAST_ID)
    button = page.locator("#log .buttons button", has_text=title).last
    await button.focus()
    await page.keyboard.press("Enter")
    return await answer_after(page, before)


async def history_ids(live: LiveApi, page: Page, language: str) -> list[int]:
    """The ids of the messages of the page's session that have something to show (text or buttons)."""
    session_id = await page.evaluate(f"sessionStorage.getItem('gridtalk.chat.{language}')")
    async with live.sessionmaker() as session:
        rows = await session.scalars(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(Identity.channel == ChatChannel.WEB, Identity.external_id == session_id)
            .order_by(Message.id)
        )
        return [m.id for m in rows if m.text or m.buttons]


async def write_from_outside(live: LiveApi, page: Page, language: str, text: str) -> None:
    """A message into the session's conversation, committed by another process (as a staff reply arrives)."""
    session_id = await page.evaluate(f"sessionStorage.getItem('gridtalk.chat.{language}')")
    async with live.sessionmaker() as session:
        conversation = await session.scalar(
            select(Conversation)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(Identity.channel == ChatChannel.WEB, Identity.external_id == session_id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        assert conversation is not None
        session.add(
            Message(
                conversation_id=conversation.id,
                channel=ChatChannel.WEB,
                direction=Direction.OUT,
                text=text,
                buttons=[{"title": SEE[language]["menu_button"], "payload": "menu"}],
                staff_id=None,
                created_at=datetime.now(UTC),
            )
        )
        await session.commit()


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_conversation_and_a_later_message_without_reload(live_api: LiveApi, page: Page, language: str) -> None:
    say_, see = SAY[language], SEE[language]
    account = await demo_account(live_api.sessionmaker, feeder="BJ-F01", skip=0 if language == "zh" else 1)
    latest_bill = (await bills_of(live_api.sessionmaker, account.id))[0]

    await page.goto(f"{live_api.url}/chat?lang={language}")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if language == "zh" else "en")
    await expect(page.locator("#log .msg.out[data-id]").first).to_be_visible()  # the welcome

    greeting = await say(page, language, say_["greet"])
    assert greeting.strip()
    assert see["pay_answer"] in await press(page, see["pay_button"])
    assert account.number in await say(page, language, say_["bind"].format(number=account.number))
    assert see["bound"] in await say(page, language, say_["phone"].format(last4=account.last4))
    assert money(latest_bill.amount) in await say(page, language, say_["bill"])
    shown = await page.evaluate(SHOWN_IDS)
    assert shown == await history_ids(live_api, page, language)  # each once, in order, none missing
    await expect(page.locator("#log .msg:not([data-id])")).to_have_count(0)  # nothing pending, no error

    # A message written into the conversation from outside appears within a poll or two, without a reload.
    await page.evaluate("window.notReloaded = true")
    before = await page.evaluate(LAST_ID)
    await write_from_outside(live_api, page, language, see["staff"])
    await expect(page.locator("#log .msg.out .bubble", has_text=see["staff"])).to_have_count(1, timeout=10_000)
    assert await page.evaluate("window.notReloaded === true")
    assert await page.locator("#log .msg.out", has_text=see["staff"]).get_attribute("data-id") != str(before)
    await expect(page.locator("#log .msg.out", has_text=see["staff"]).locator("button")).to_have_text(
        see["menu_button"]
    )
    assert see["pay_button"] in await press(page, see["menu_button"])  # its button works: the menu
    await page.wait_for_timeout(2500)  # a poll or more later, still nothing shown twice
    shown = await page.evaluate(SHOWN_IDS)
    assert len(shown) == len(set(shown)) and shown == await history_ids(live_api, page, language)
    await expect(page.locator("#log .msg:not([data-id])")).to_have_count(0)
    await expect(page.locator("#log")).to_have_attribute("aria-live", "polite")
    await screenshot(page, f"chat-{language}")

    # The same conversation after a reload; the language without ?lang= is the one chosen last.
    await page.goto(f"{live_api.url}/chat")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if language == "zh" else "en")
    await expect(page.locator("#log .msg.out .bubble", has_text=see["staff"])).to_have_count(1)
    await page.wait_for_function(f"{SHOWN_IDS}.length >= {len(shown)}", timeout=TIMEOUT_MS)
    assert await page.evaluate(SHOWN_IDS) == shown
    assert money(latest_bill.amount) in await say(page, language, say_["bill"])  # still bound: same session
