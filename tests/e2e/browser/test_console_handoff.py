"""A handoff from the customer's /chat page to an agent in the staff console and back, in two headless Chromium
contexts against the real api process (the test database with the demo data, the real Rasa server).

The agent's queue is open before the customer asks for a person, so the escalation must arrive by the queue's
own polling; the agent's reply and the resolution must arrive on the customer's page by its polling. Neither
page is reloaded for it. The claim, the canned reply and the send are done from the keyboard; the console is
screenshotted in Chinese, in English, and at phone width (reports/screenshots/console-*.png)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import select

from core.models import Escalation, Identity
from core.models.enums import ChatChannel
from tests.support.browser import TIMEOUT_MS, LiveApi, fits, new_context, screenshot, sign_in

pytestmark = pytest.mark.rasa

AGENT = ("agent.li", "李娜")
POLLED = 10_000  # a few polls of the queue (3 s), the transcript (3 s) or the chat page (~2 s)
CANNED = "您好，我是人工客服，请问有什么可以帮您？"  # the first canned reply (canned.greeting.zh)

# The chat page: every message from the server carries its id.
LAST_ID = "Math.max(0, ...[...document.querySelectorAll('#log .msg[data-id]')].map(e => Number(e.dataset.id)))"
ANSWERED = """(before) => !document.querySelector('#log .msg.pending')
  && [...document.querySelectorAll('#log .msg.out[data-id]')].some(e => Number(e.dataset.id) > before)"""


# ----------------------------------------------------------------------------------- the customer


async def say(page: Page, text: str) -> str:
    """Type into the labelled box, press Enter; the bot's answer (every reply after the message)."""
    before = await page.evaluate(LAST_ID)
    box = page.get_by_label("您的消息")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.locator("#log .msg.in .bubble", has_text=text).last).to_be_visible()
    await page.wait_for_function(ANSWERED, arg=before, timeout=TIMEOUT_MS)
    rows = page.locator("#log .msg.out[data-id]")
    texts = []
    for i in range(await rows.count()):
        if int(await rows.nth(i).get_attribute("data-id") or 0) > before:
            texts.append(await rows.nth(i).inner_text())
    return "\n".join(texts)


async def escalation_of(live: LiveApi, page: Page) -> Escalation:
    """The escalation of the chat page's session (its id is in sessionStorage)."""
    session_id = await page.evaluate("sessionStorage.getItem('gridtalk.chat.zh')")
    async with live.sessionmaker() as session:
        escalation = await session.scalar(
            select(Escalation)
            .join(Identity, Identity.id == Escalation.identity_id)
            .where(Identity.channel == ChatChannel.WEB, Identity.external_id == session_id)
        )
    assert escalation is not None, "no escalation for the chat session"
    return escalation


# -------------------------------------------------------------------------------------- the agent


async def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until `target` has the focus: it is reachable from the keyboard, in at most `limit` steps."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("e => e === document.activeElement"):
            return
    focused = await page.evaluate("document.activeElement && document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{target} not reached with {limit} Tabs (the focus is on {focused})")


# --------------------------------------------------------------------------------------- the test


async def test_an_agent_takes_a_web_chat_from_the_queue_and_hands_it_back(browser: Browser, live_api: LiveApi) -> None:
    url = live_api.url
    async with new_context(browser) as customer_context, new_context(browser) as agent_context:
        customer, agent = await customer_context.new_page(), await agent_context.new_page()

        # The agent signs in and opens the queue first: nothing is waiting yet.
        await sign_in(agent, url, AGENT[0])
        await agent.goto(f"{url}/console/queue")
        await expect(agent.get_by_role("heading", name="人工会话队列")).to_be_visible()
        await expect(agent.get_by_label("显示")).to_have_value("open")  # the filters are labelled
        await expect(agent.get_by_label("只看分配给我的")).not_to_be_checked()
        await expect(agent.locator("#queue-rows")).to_contain_text("队列中没有会话。")
        await agent.evaluate("window.notReloaded = true")

        # The customer asks for a person and is told their place in the queue.
        await customer.goto(f"{url}/chat?lang=zh")
        await expect(customer.locator("#log .msg.out[data-id]").first).to_be_visible()  # the welcome
        await customer.evaluate("window.notReloaded = true")
        queued = await say(customer, "转人工")
        assert "已为您转接人工客服" in queued and "您排在第 1 位" in queued, queued
        escalation = await escalation_of(live_api, customer)
        assert escalation.state == "pending" and escalation.reason == "human_handoff"

        # It appears in the agent's open queue by itself, within a poll or two.
        row = agent.locator("#queue-rows tr", has=agent.get_by_role("link", name=f"#{escalation.id}"))
        await expect(row).to_be_visible(timeout=POLLED)
        await expect(row).to_contain_text("网页聊天")
        await expect(row).to_contain_text("客户要求转人工")
        await expect(row).to_contain_text("未分配")
        assert await agent.evaluate("window.notReloaded === true")
        await screenshot(agent, "console-queue-zh")

        # From the keyboard: Tab to the row's link; it keeps the focus through a poll of the rows; Enter opens it.
        link = row.get_by_role("link", name=f"#{escalation.id}")
        await tab_to(agent, link)
        await agent.wait_for_timeout(3500)  # a poll replaces the rows
        await expect(agent.locator(f"#queue-rows a[href='/console/escalations/{escalation.id}']")).to_be_focused()
        await agent.keyboard.press("Enter")
        await expect(agent).to_have_url(f"{url}/console/escalations/{escalation.id}")
        await expect(agent.get_by_role("heading", level=1)).to_contain_text("会话")
        transcript = agent.locator("#transcript")
        asked = transcript.locator("li.in", has_text="转人工")
        await expect(asked).to_contain_text("客户")
        await expect(asked.locator(".tag")).to_contain_text("human_handoff")  # what the bot understood
        await expect(transcript.locator("li.out").first).to_contain_text("智能客服")

        # What the customer writes while waiting reaches the open transcript by its polling.
        await agent.evaluate("window.notReloaded = true")
        waiting = await say(customer, "我家电费好像算错了")
        assert "您的消息已转给人工客服" in waiting, waiting
        await expect(transcript.locator("li.in", has_text="我家电费好像算错了")).to_be_visible(timeout=POLLED)
        assert await agent.evaluate("window.notReloaded === true")

        # Claim from the keyboard.
        claim = agent.get_by_role("button", name="认领")
        await tab_to(agent, claim)
        await agent.keyboard.press("Enter")
        await expect(claim).to_have_count(0)
        facts = agent.locator("section", has=agent.get_by_role("heading", name="概况"))
        await expect(facts).to_contain_text("已分配")
        await expect(facts).to_contain_text(AGENT[1])

        # A canned reply chosen and sent from the keyboard: every control is labelled.
        canned, box = agent.get_by_label("常用回复"), agent.get_by_label(re.compile("^回复内容"))
        await expect(box).to_have_value("")
        await tab_to(agent, canned)
        await agent.keyboard.press("ArrowDown")  # the first canned reply fills the box (and focuses it)
        await expect(box).to_have_value(CANNED)
        send = agent.get_by_role("button", name="发送")
        await tab_to(agent, send, limit=5)
        await agent.keyboard.press("Enter")
        sent = transcript.locator("li.staff", has_text=CANNED)
        await expect(sent).to_be_visible()
        await expect(sent).to_contain_text(AGENT[1])
        await expect(box).to_have_value("")
        await screenshot(agent, "console-conversation-zh")

        # The customer's page shows the reply by itself.
        await expect(customer.locator("#log .msg.out .bubble", has_text=CANNED)).to_have_count(1, timeout=POLLED)
        assert await customer.evaluate("window.notReloaded === true")

        # The conversation at phone width: nothing cut off or pushed sideways.
        await agent.set_viewport_size({"width": 390, "height": 844})
        await agent.reload()
        await expect(transcript.locator("li.staff", has_text=CANNED)).to_be_visible()
        await fits(agent)
        await screenshot(agent, "console-conversation-phone")
        await agent.goto(f"{url}/console/queue")
        await expect(row).to_be_visible()
        await fits(agent)
        await agent.set_viewport_size({"width": 900, "height": 900})

        # English, chosen once with ?lang=en and remembered by the next page.
        await agent.goto(f"{url}/console/queue?lang=en")
        await expect(agent.locator("html")).to_have_attribute("lang", "en")
        await expect(agent.get_by_role("heading", name="Escalation queue")).to_be_visible()
        await expect(row).to_contain_text("asked for a person")
        await expect(row).to_contain_text(AGENT[1])
        await expect(agent.get_by_label("Show")).to_be_visible()
        await screenshot(agent, "console-queue-en")
        await row.get_by_role("link", name=f"#{escalation.id}").click()
        await expect(agent).to_have_url(f"{url}/console/escalations/{escalation.id}")
        await expect(agent.locator("html")).to_have_attribute("lang", "en")
        await expect(agent.get_by_role("heading", name=f"Conversation #{escalation.id}")).to_be_visible()
        await expect(agent.get_by_label("Canned replies")).to_be_visible()
        await expect(agent.get_by_label(re.compile("^Your reply"))).to_be_visible()
        await screenshot(agent, "console-conversation-en")

        # A supervisor also sees whom to assign it to (labelled), and that form fits a phone too.
        async with new_context(browser) as supervisor_context:
            supervisor = await supervisor_context.new_page()
            await sign_in(supervisor, url, "supervisor.zhou")
            await supervisor.set_viewport_size({"width": 390, "height": 844})
            await supervisor.goto(f"{url}/console/escalations/{escalation.id}")
            await expect(supervisor.get_by_label("分配给").locator("option:checked")).to_contain_text(AGENT[1])
            await expect(supervisor.get_by_role("button", name="认领")).to_be_visible()  # not theirs yet
            await fits(supervisor)

        # Resolved: off the open queue, and the customer is back with the assistant.
        await agent.get_by_role("button", name="Resolve (back to the assistant)").click()
        await expect(agent).to_have_url(f"{url}/console/queue")
        await expect(agent.locator("#queue-rows")).to_contain_text("Nothing in the queue.")
        back = customer.locator("#log .msg.out .bubble", has_text="接下来由智能客服继续为您服务")
        await expect(back).to_have_count(1, timeout=POLLED)
        assert await customer.evaluate("window.notReloaded === true")
        greeting = await say(customer, "你好")
        assert "您好" in greeting and "人工客服" not in greeting and "排在" not in greeting, greeting
        assert (await escalation_of(live_api, customer)).state == "resolved"  # a greeting does not reopen it
