"""The console's applications over HTTP (cookie session + CSRF) on the demo data: the list (overdue ones in red,
the filters), a new one, one with its history, the stage change forms (advance, reopen with a note, a refusal
shown with what was typed kept), in zh and en, and who may see them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.models import Application, ApplicationEvent
from tests.support.applications import DATA_CENTRE, FACTORY, WATERWORKS, demo_key_account
from tests.support.dialogue import load_demo_data
from tests.support.staff import Console, api_client, audit_rows, console_login

Maker = async_sessionmaker[AsyncSession]
PASSWORD = "gridtalk-demo"


@pytest.fixture
async def http(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await load_demo_data(sessionmaker, clock)
    async with api_client(settings, clock) as client:
        yield client


async def sign_in(http: httpx.AsyncClient, username: str) -> Console:
    await http.post("/console/logout")
    http.cookies.clear()
    return await console_login(http, username, PASSWORD)


def row_of(page: str, application_id: int) -> str:
    found = re.search(
        rf'<tr class="application[^"]*">\s*<th scope="row"><a href="/console/applications/{application_id}"'
        r".*?</tr>",
        page,
        re.S,
    )
    assert found, f"no row of application {application_id}"
    return found.group(0)


async def ids_of(sessionmaker: Maker, name: str) -> list[int]:
    key = await demo_key_account(sessionmaker, name)
    async with sessionmaker() as session:
        return list(await session.scalars(select(Application.id).where(Application.account_id == key.account_id)))


async def test_the_list_shows_the_overdue_one_in_red_and_filters(http: httpx.AsyncClient, sessionmaker: Maker) -> None:
    await sign_in(http, "supervisor.zhou")
    page = await http.get("/console/applications")
    assert page.status_code == 200 and "业扩申请" in page.text and 'aria-current="page"' in page.text
    [overdue] = await ids_of(sessionmaker, DATA_CENTRE)
    [factory] = await ids_of(sessionmaker, FACTORY)
    row = row_of(page.text, overdue)
    assert 'class="application overdue"' in row and 'class="bad"' in row and "已超期" in row and "设计审查" in row
    assert "overdue" not in row_of(page.text, factory).split(">")[0]
    assert page.text.index(f"/console/applications/{overdue}") < page.text.index(f"/console/applications/{factory}")
    # a stage form on each row, with the CSRF field and the next stage chosen; an EV charger's without design review
    assert 'name="csrf_token"' in row and '<option value="connected"' in row
    only = await http.get("/console/applications", params={"overdue": "true"})
    assert f'/console/applications/{overdue}"' in only.text and f'/console/applications/{factory}"' not in only.text
    ev = await http.get("/console/applications", params={"kind": "ev_charger"})
    assert ev.text.count('<tr class="application') == 2 and 'design_review"' not in ev.text.split("<tbody>")[1]
    english = await http.get("/console/applications", params={"lang": "en"})
    assert (
        "Applications" in english.text
        and "overdue" in row_of(english.text, overdue)
        and "design review" in english.text
    )
    assert (await http.get("/console/applications", params={"account": "abc"})).status_code == 422


async def test_record_move_on_and_back_from_the_console(http: httpx.AsyncClient, sessionmaker: Maker) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    console = await sign_in(http, "manager.wang")
    form = {
        "csrf_token": console.csrf,
        "account_number": key.number,
        "kind": "capacity_increase",
        "description": "新增水泵",
    }
    created = await http.post("/console/applications", data=form)
    assert created.status_code == 303
    url = created.headers["location"]
    app_id = int(url.rsplit("/", 1)[1])
    page = await http.get(url)
    assert (
        page.status_code == 200
        and "新增水泵" in page.text
        and "受理" in page.text
        and 'aria-current="step"' in page.text
    )

    advance = f"/console/applications/{app_id}/advance"
    moved = await http.post(advance, data={"csrf_token": console.csrf, "stage": "site_survey", "back": "list"})
    assert moved.status_code == 303 and moved.headers["location"] == "/console/applications"
    refused = await http.post(advance, data={"csrf_token": console.csrf, "stage": "accepted", "note": " "})
    assert refused.status_code == 422 and "退回到前面的环节需要填写原因" in refused.text
    assert 'role="alert"' in refused.text and '<option value="accepted" selected>' in refused.text
    back = await http.post(advance, data={"csrf_token": console.csrf, "stage": "accepted", "note": "资料不全"})
    assert back.status_code == 303 and back.headers["location"] == url
    history = (await http.get(url)).text
    assert "资料不全" in history and "退回" in history and "推进" in history and "登记" in history
    async with sessionmaker() as session:
        kinds = list(
            await session.scalars(select(ApplicationEvent.kind).where(ApplicationEvent.application_id == app_id))
        )
    assert kinds == ["created", "advanced", "reopened"]
    assert [r.action for r in await audit_rows(sessionmaker, target_type="application")] == [
        "application.create",
        "application.advance",
        "application.reopen",
    ]

    # refusals keep what was typed; no CSRF token: refused
    other = await demo_key_account(sessionmaker, FACTORY)  # not manager.wang's
    wrong = await http.post(
        "/console/applications", data={**form, "account_number": other.number, "description": "留着"}
    )
    assert wrong.status_code == 422 and "没有这个户号" in wrong.text and 'value="留着"' in wrong.text
    skipped = await http.post("/console/applications", data={**form, "kind": "wind"})
    assert skipped.status_code == 422 and "请选择申请类型" in skipped.text
    no_csrf = await http.post(advance, data={"stage": "site_survey"})
    assert no_csrf.status_code == 403


async def test_who_sees_which(http: httpx.AsyncClient, sessionmaker: Maker) -> None:
    await sign_in(http, "agent.li")
    assert (await http.get("/console/applications")).status_code == 403
    assert "/console/applications" not in (await http.get("/console")).text
    await sign_in(http, "manager.wang")
    home = await http.get("/console")
    assert 'href="/console/applications"' in home.text
    page = (await http.get("/console/applications")).text
    assert "市第一人民医院" in page and "华东精密机械厂" not in page
    [factory] = await ids_of(sessionmaker, FACTORY)
    assert (await http.get(f"/console/applications/{factory}")).status_code == 404
    await sign_in(http, "manager.chen")
    detail = await http.get(f"/console/applications/{factory}", params={"lang": "en"})
    assert detail.status_code == 200 and "completion inspection" in detail.text and "History" in detail.text
