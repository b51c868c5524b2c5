"""The console's outages board and the fault-outage form in headless Chromium, against the real api process on the
demo data (its storm: fault outages under repair now): a supervisor signs in, sees the faults going on, enters a
new fault outage through the form (from the keyboard-reachable, labelled controls), checks its preview — who it
reaches and the notice in Chinese and in English — and publishes it; the board then shows it with the others.
Screenshots of the board in both languages (reports/screenshots/console_outages_{zh,en}.png), of the preview,
and of the board at a phone's width, where nothing may overflow."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from core.clock import SystemClock
from core.models import NoticeDelivery, Outage
from tests.support.browser import PHONE, LiveApi, fits, screenshot, sign_in
from tests.support.notices import SHANGHAI

pytestmark = pytest.mark.rasa  # the api process is started with the real Rasa server


async def test_a_supervisor_sees_the_faults_enters_one_previews_it_in_both_languages_and_publishes_it(
    page: Page, live_api: LiveApi
) -> None:
    url = live_api.url
    async with live_api.sessionmaker() as session:
        faults_now = list(
            await session.scalars(
                select(Outage.id).where(Outage.kind == "unplanned", Outage.status == "published").order_by(Outage.id)
            )
        )
    assert faults_now, "the demo's storm has fault outages going on"

    # The board: the faults going on first, each with its estimate, customers, reports, notices and tickets.
    await sign_in(page, url, "supervisor.zhou")
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="停电", exact=True).click()
    await expect(page.get_by_role("heading", name="停电", exact=True)).to_be_visible()
    faults = page.locator("section.faults").first
    await expect(faults.get_by_role("heading", name="正在发生的故障停电")).to_be_visible()
    for outage_id in faults_now:
        card = faults.locator(f"#outage-{outage_id}")
        await expect(card).to_contain_text("故障停电")
        await expect(card).to_contain_text("预计恢复")
        await expect(card).to_contain_text("受影响客户（户）")
        await expect(card.get_by_role("link", name="调整预计恢复时间")).to_be_visible()
        await expect(card.get_by_role("link", name="恢复送电")).to_be_visible()
    await expect(page.locator("#all-outages")).to_be_visible()

    # A new fault outage through the form: the labelled controls, the start filled in with now.
    await page.get_by_role("link", name="新建故障停电").click()
    await expect(page).to_have_url(f"{url}/console/outages/new")
    await expect(page.get_by_role("heading", name="新建故障停电")).to_be_visible()
    await expect(page.get_by_label("停电开始时间")).not_to_have_value("")
    await page.get_by_label("XH-F02 · 古荡线").check()
    back = SystemClock().now() + timedelta(hours=3)
    await page.get_by_label("预计恢复时间").fill(back.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("停电原因").fill("古荡线电缆故障，抢修中")
    await page.get_by_role("button", name="保存草稿并预览").click()

    # The preview: nothing sent yet; who it reaches; the notice exactly as it goes out, in zh and in en.
    await expect(page).to_have_url(re.compile(r"/console/outages/\d+/preview$"))
    outage_id = int(page.url.rsplit("/", 2)[-2])
    await expect(page.get_by_role("heading", name=f"故障停电 #{outage_id} 预览")).to_be_visible()
    await expect(page.get_by_role("note").first).to_contain_text("尚未发送任何通知")
    audience = page.locator("section.audience")
    await expect(audience.locator("dd.key-contacts")).to_contain_text("1 个重点客户")
    await expect(audience).to_contain_text("城西自来水厂")  # named to a supervisor
    expected = back.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    zh = page.locator('article[data-language="zh"][data-audience="residential"] .notice-text')
    en = page.locator('article[data-language="en"][data-audience="residential"] .notice-text')
    await expect(zh).to_contain_text("【故障停电】")
    await expect(zh).to_contain_text(f"预计 {expected} 前恢复供电")
    await expect(en).to_contain_text("Power outage at your address")
    await expect(en).to_contain_text(f"We expect power back by {expected}")
    await expect(page.locator('article[data-audience="key_account"]')).to_have_count(2)  # its own version, zh and en
    async with live_api.sessionmaker() as session:
        draft = await session.get(Outage, outage_id)
        assert draft is not None and draft.status == "draft"
    await screenshot(page, "console_outages_preview_zh")

    # Published: the board says so and shows it with the faults going on.
    await page.get_by_role("button", name="发布并发送通知").click()
    await expect(page).to_have_url(re.compile(rf"/console/outages\?done=published&outage={outage_id}"))
    await expect(page.get_by_role("status")).to_contain_text(f"故障停电 #{outage_id} 已发布")
    card = page.locator("section.faults").first.locator(f"#outage-{outage_id}")
    await expect(card).to_contain_text("古荡线电缆故障，抢修中")
    await expect(card.locator("dd.estimate")).to_contain_text(expected)
    async with live_api.sessionmaker() as session:
        published = await session.get(Outage, outage_id)
        assert published is not None and published.status == "published"
        sent = await session.scalars(select(NoticeDelivery.id).where(NoticeDelivery.outage_id == outage_id))
        assert list(sent), "publishing planned its notices"
    await screenshot(page, "console_outages_zh")

    # English, and a phone's width.
    await page.goto(f"{url}/console/outages?lang=en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Fault outages going on")).to_be_visible()
    await expect(page.locator(f"#outage-{outage_id}")).to_contain_text("Fault outage")
    await expect(page.get_by_role("link", name="New fault outage")).to_be_visible()
    await screenshot(page, "console_outages_en")
    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(page.locator(f"#outage-{outage_id}")).to_be_visible()
    await fits(page)
    await screenshot(page, "console_outages_en_phone")
