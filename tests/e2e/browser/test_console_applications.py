"""The console's applications and arrears pages in headless Chromium, against the real api process on the demo data.

Applications: a supervisor finds the demo's overdue application marked in the list, records a new one for a key
account from the form, moves it on a stage from its page, is refused a step back without a reason (what was chosen
kept, the error announced), gives one, and reads both moves in the history. Arrears: a key account's bill of four
months ago left unpaid (older than any the demo leaves unpaid) is listed first with its days overdue, the account
number masked and the key account tagged. Both pages in zh and en (screenshots under reports/screenshots/:
console_application_zh.png, console_applications_{zh,en}.png, console_arrears_{zh,en}.png) and at a phone's
width, where nothing may overflow."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from core.clock import SystemClock
from core.db import session_scope
from core.models import Application, Bill
from core.security import mask_account
from tests.support.applications import DATA_CENTRE, WATERWORKS, demo_key_account
from tests.support.browser import PHONE, LiveApi, fits, screenshot, sign_in
from tests.support.notices import SHANGHAI

pytestmark = pytest.mark.rasa  # the api process is started with the real Rasa server


async def test_a_supervisor_records_an_application_moves_it_and_reads_its_history(
    page: Page, live_api: LiveApi
) -> None:
    url = live_api.url
    waterworks = await demo_key_account(live_api.sessionmaker, WATERWORKS)
    await sign_in(page, url, "supervisor.zhou")
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="业扩申请", exact=True).click()
    await expect(page.get_by_role("heading", name="业扩申请", exact=True)).to_be_visible()
    late = page.locator("tr.application.overdue").filter(has_text=DATA_CENTRE)
    await expect(late).to_have_count(1)
    await expect(late).to_contain_text("已超期")
    await expect(late).to_contain_text("设计审查")

    # A new one from the form: the labelled controls inside "登记新申请".
    await page.get_by_text("登记新申请", exact=True).click()
    new = page.locator("details.card")  # the list's filters have a 类型 too
    await new.get_by_label("户号（10 位）").fill(waterworks.number)
    await new.get_by_label("类型", exact=True).select_option(label="增容")
    await new.get_by_label("说明（选填）").fill("二期泵房增容 800 kVA")
    await new.get_by_role("button", name="登记", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/console/applications/\d+$"))
    application_id = int(page.url.rsplit("/", 1)[-1])
    await expect(page.get_by_role("heading", name=f"申请 {application_id} · 增容")).to_be_visible()
    facts = page.locator("dl.facts")
    await expect(facts).to_contain_text(WATERWORKS)
    await expect(facts).to_contain_text("受理")
    await expect(facts).to_contain_text("二期泵房增容 800 kVA")
    await expect(page.locator('ol.route li[aria-current="step"]')).to_contain_text("受理")

    # On a stage: the next one is chosen already.
    await expect(page.get_by_label("转到环节")).to_have_value("site_survey")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.locator('ol.route li[aria-current="step"]')).to_contain_text("现场勘查")

    # Back a stage without a reason: refused, the choice kept, the error announced; then with one.
    await page.get_by_label("转到环节").select_option("accepted")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("退回到前面的环节需要填写原因。")
    await expect(page.get_by_label("转到环节")).to_have_value("accepted")
    await expect(page.locator('ol.route li[aria-current="step"]')).to_contain_text("现场勘查")
    await page.get_by_label("备注（退回时必填）").fill("图纸缺少负荷清单，退回补充")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.locator('ol.route li[aria-current="step"]')).to_contain_text("受理")
    history = page.locator("table.history")
    await expect(history).to_contain_text("推进: 受理 → 现场勘查")
    await expect(history).to_contain_text("退回: 现场勘查 → 受理")
    await expect(history).to_contain_text("图纸缺少负荷清单，退回补充")
    async with live_api.sessionmaker() as session:
        stored = await session.get(Application, application_id)
        assert stored is not None and (stored.account_id, stored.stage) == (waterworks.account_id, "accepted")
    await screenshot(page, "console_application_zh")

    # The list, in Chinese and in English; a phone's width.
    await page.get_by_role("link", name="返回申请列表").click()
    await expect(page.get_by_role("link", name=f"查看申请 {application_id}")).to_be_visible()
    await screenshot(page, "console_applications_zh")
    await page.goto(f"{url}/console/applications?lang=en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Applications", exact=True)).to_be_visible()
    await expect(page.locator("tr.application.overdue").filter(has_text=DATA_CENTRE)).to_contain_text("overdue")
    await expect(page.get_by_role("link", name=f"Application {application_id}", exact=False).first).to_be_visible()
    await screenshot(page, "console_applications_en")
    await page.set_viewport_size(PHONE)
    await page.reload()
    await fits(page)


async def test_the_arrears_list_the_most_overdue_first_with_the_account_masked(page: Page, live_api: LiveApi) -> None:
    url = live_api.url
    waterworks = await demo_key_account(live_api.sessionmaker, WATERWORKS)
    today = SystemClock().now().astimezone(SHANGHAI).date()
    async with session_scope(live_api.sessionmaker) as session:  # an old bill left unpaid: none of the demo's is
        bill = await session.scalar(
            select(Bill).where(Bill.account_id == waterworks.account_id).order_by(Bill.period.desc()).offset(3)
        )
        assert bill is not None
        bill.paid_at = None
        period, overdue = bill.period, (today - bill.due_date).days
    assert overdue > 60  # the demo leaves at most its newest two months unpaid

    await sign_in(page, url, "supervisor.zhou")
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="欠费", exact=True).click()
    await expect(page.get_by_role("heading", name="欠费", exact=True)).to_be_visible()
    table = page.locator("table.arrears")
    row = table.locator("tr.arrear").first
    await expect(row).to_contain_text(WATERWORKS)  # the most overdue first
    await expect(row.get_by_role("rowheader")).to_have_text(f"{mask_account(waterworks.number)} 大客户")
    await expect(row).to_contain_text(period)
    await expect(row.locator('td[data-label="逾期"]')).to_have_text(f"{overdue} 天")
    await expect(table).not_to_contain_text(waterworks.number)
    days = [int(re.sub(r"\D", "", text)) for text in await table.locator('td[data-label="逾期"]').all_inner_texts()]
    assert days == sorted(days, reverse=True) and days[0] == overdue
    await screenshot(page, "console_arrears_zh")

    await page.goto(f"{url}/console/arrears?lang=en")
    await expect(page.get_by_role("heading", name="Arrears", exact=True)).to_be_visible()
    row = page.locator("tr.arrear").filter(has_text=WATERWORKS)
    await expect(row.locator('td[data-label="Overdue by"]')).to_have_text(f"{overdue} day(s)")
    await expect(row.get_by_role("rowheader")).to_contain_text("key account")
    await screenshot(page, "console_arrears_en")
    await page.set_viewport_size(PHONE)
    await page.reload()
    await fits(page)
