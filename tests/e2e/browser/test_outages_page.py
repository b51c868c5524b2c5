"""The public outage page (/outages) in headless Chromium against the real api process on the demo data: no
sign-in, the schematic map coloured by status, the lists, in Chinese, in English and at a phone's width; and
an outage published while the page is open appears without a reload."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Page, expect

from core.clock import SystemClock
from tests.support.browser import PHONE, LiveApi, screenshot

pytestmark = pytest.mark.rasa  # the api process is started with the real Rasa server


@pytest.mark.parametrize(
    ("lang", "title", "fault", "ok"),
    [("zh", "停电信息", "故障停电", "正常供电"), ("en", "Power outages", "Fault outage", "Power on")],
)
async def test_the_page_in_both_languages_and_at_a_phones_width(
    page: Page, live_api: LiveApi, lang: str, title: str, fault: str, ok: str
) -> None:
    await page.goto(f"{live_api.url}/outages?lang={lang}")
    await expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    await expect(page.locator("svg .district")).to_have_count(5)  # every demo district, by its own data
    await expect(page.locator("svg .district.fault")).to_have_count(2)  # the demo storm: 滨江区 and 上城区
    await expect(page.locator("svg .district.ok").first).to_be_visible()
    await expect(page.locator("article.outage.unplanned h3")).to_have_count(2)
    await expect(page.locator("article.outage.unplanned h3").first).to_contain_text(fault)
    await expect(page.locator(".legend")).to_contain_text(ok)
    await screenshot(page, f"outages_{lang}")
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing overflows
    await screenshot(page, f"outages_{lang}_phone")


async def test_an_outage_published_while_the_page_is_open_appears_without_a_reload(
    page: Page, live_api: LiveApi
) -> None:
    await page.goto(f"{live_api.url}/outages?lang=en")
    await expect(page.locator("svg .district.ok")).to_have_count(1)  # Yuhang: its fault was restored
    async with httpx.AsyncClient(base_url=live_api.url) as http:
        token = await http.post("/api/v1/auth/token", data={"username": "admin", "password": "gridtalk-demo"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        starts = SystemClock().now() + timedelta(days=3)
        created = await http.post(
            "/api/v1/outages?publish=true",
            headers=headers,
            json={
                "areas": ["YH"],
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=3)).isoformat(),
                "reason": "transformer maintenance",
                "contact": "95598",
            },
        )
        assert created.status_code == 201, created.text
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # what the minute timer does
    await expect(page.locator("svg .district.planned[data-area='YH']")).to_have_count(1)
    await expect(page.locator(f"#outage-{created.json()['id']}")).to_contain_text("transformer maintenance")
    await expect(page.locator("svg .district.ok")).to_have_count(0)
