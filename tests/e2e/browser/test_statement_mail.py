"""Bill statements in the mail catcher, in headless Chromium, against the real processes: `gridtalk demo load`
(its key accounts' latest statements queued), the mail catcher (`gridtalk mailcatcher`), the api showing it at
/console/mail, `gridtalk worker --once` sending what is due. The demo's statements arrive at the first tick; then
`gridtalk import bills` of a key account's next month queues one statement per contact (zh and en), the next tick
mails them, and an admin reads both on the mail page, with the CSV attached. Screenshots of the page in both
languages (reports/screenshots/statement-mail-{zh,en}.png)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_sessionmaker
from core.notices.mailcatcher import CaughtMail, MailFolder
from nlu.project import free_port, port_in_use
from tests.conftest import empty_tables
from tests.support.applications import FACTORY, demo_key_account
from tests.support.browser import ROOT, LiveApi, screenshot, sign_in
from tests.support.dialogue import bills_of
from tests.support.processes import Service, api_process, clean_env, wait_until, worker_tick
from tests.support.statements import bills_csv, next_period

GRIDTALK = str(ROOT / ".venv" / "bin" / "gridtalk")


async def gridtalk(env: dict[str, str], *args: str) -> str:
    """One CLI command as a process; its standard output (a failure fails the test)."""
    proc = await asyncio.create_subprocess_exec(
        GRIDTALK, *args, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture(scope="module")
async def mail(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[MailFolder, int]]:
    """`gridtalk mailcatcher` on a free port, keeping its messages in a folder of the test's own."""
    folder, port = MailFolder(tmp_path_factory.mktemp("mail") / "caught"), free_port()
    catcher = Service(["mailcatcher", "--port", str(port), "--dir", str(folder.path)], clean_env())
    try:
        wait_until(lambda: not catcher.alive or port_in_use("127.0.0.1", port), 30, what="the mail catcher")
        assert catcher.alive, catcher.output()
        yield folder, port
    finally:
        catcher.stop()


@pytest.fixture(scope="module")
async def env(database_url: str, mail: tuple[MailFolder, int]) -> dict[str, str]:
    """The settings of every process: the test database, email to the catcher, the mail page on; no NLU server
    (nothing here chats: the api starts without one)."""
    folder, port = mail
    return clean_env(
        GRIDTALK_DATABASE_URL=database_url,
        GRIDTALK_RASA_URL=f"http://127.0.0.1:{free_port()}",
        GRIDTALK_API_PORT=str(free_port()),
        GRIDTALK_SMTP_HOST="127.0.0.1",
        GRIDTALK_SMTP_PORT=str(port),
        GRIDTALK_SMTP_SECURITY="none",
        GRIDTALK_SMTP_FROM="billing@grid.test",
        GRIDTALK_MAIL_CATCHER_DIR=str(folder.path),
    )


@pytest.fixture(scope="module")
async def mail_api(env: dict[str, str], engine: AsyncEngine) -> AsyncIterator[LiveApi]:
    """The demo data loaded, then `gridtalk api` with the mail page on; stopped, and the tables emptied, after."""
    try:
        await gridtalk(env, "demo", "load")
        with api_process(env) as url:
            yield LiveApi(url, make_sessionmaker(engine))
    finally:
        await empty_tables(engine)


async def test_a_bills_import_mails_statements_shown_in_the_mail_catcher_in_zh_and_en(
    page: Page, mail_api: LiveApi, env: dict[str, str], mail: tuple[MailFolder, int], tmp_path: Path
) -> None:
    folder, _ = mail

    def statements(number: str) -> dict[str, CaughtMail]:
        return {
            m.to: m for m in folder.latest(200) if f"户号 {number}" in m.subject or f"account {number}" in m.subject
        }

    # the demo load queued every key account's latest statement: the first tick mails them (with other notices)
    await worker_tick(env)
    caught = [m for m in folder.latest(200) if m.subject.startswith(("【电费账单】", "Electricity bill"))]
    assert len(caught) >= 4 and all(m.attachments for m in caught)
    shutil.rmtree(folder.path)  # start the page afresh

    factory = await demo_key_account(mail_api.sessionmaker, FACTORY)
    period = next_period((await bills_of(mail_api.sessionmaker, factory.account_id))[0].period)
    path = tmp_path / "bills.csv"
    path.write_bytes(bills_csv(factory.number, period))
    out = await gridtalk(env, "import", "bills", str(path))
    assert "  bills: 1 created, 0 updated, 0 unchanged" in out and "statements queued: 2" in out
    await worker_tick(env)
    wait_until(lambda: len(statements(factory.number)) == 2, 30, what="the two statements caught")
    mine = statements(factory.number)
    assert mine["huang.zhiqiang@example.com"].attachments == (f"statement-{factory.number}-{period}.csv",)
    assert "Peak energy" in mine["david.miller@example.com"].text

    await sign_in(page, mail_api.url, "admin")
    await page.goto(f"{mail_api.url}/console/mail")
    zh = page.locator("tr", has_text="huang.zhiqiang@example.com").filter(has_text="【电费账单】")
    await expect(zh).to_contain_text(f"【电费账单】户号 {factory.number}")
    await expect(zh).to_contain_text("峰时电量")
    await expect(zh).to_contain_text(f"客户经理 {factory.manager_name}，24 小时电话 {factory.manager_phone}")
    await expect(zh).to_contain_text(f"statement-{factory.number}-{period}.csv")
    await screenshot(page, "statement-mail-zh")

    await page.goto(f"{mail_api.url}/console/mail?lang=en")
    en = page.locator("tr", has_text="david.miller@example.com").filter(has_text="Electricity bill")
    await expect(en).to_contain_text("Electricity bill for ")
    await expect(en).to_contain_text("Compared with the previous bill")
    await expect(en).to_contain_text(f"account manager {factory.manager_name}, 24 hours a day")
    await expect(en).to_contain_text(f"statement-{factory.number}-{period}.csv")
    await screenshot(page, "statement-mail-en")
